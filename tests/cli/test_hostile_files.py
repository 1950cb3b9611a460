"""The reliability suite's file family: every file that ``sampler train --config/--resume/
--init-from``, ``compare``, ``flatness`` and ``export`` read or write, replaced in turn by a
FIFO, a device, a folder, a socket, a file too large, too deep, not UTF-8, ... (``tests.
helpers.bad_file_kinds``), is refused with one line naming it, never a hang or a traceback,
and leaves every other file of the run as it was (nothing overwritten, nothing lost)."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from pathlib import Path

import pytest

from tests.cli.test_reliability import run_in_process
from tests.helpers import bad_file_kinds, bad_files

pytestmark = pytest.mark.reliability


def _digests(run: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run.iterdir())
        if p.is_file() and not p.is_symlink()
    }


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return bad_files.base_run(tmp_path_factory.mktemp("hostile-base") / "run")


def test_every_hostile_file_is_refused_with_one_line(base, tmp_path):
    cases = bad_file_kinds.file_kind_cases()
    assert len(cases) >= 130
    verdicts, failures = Counter(), []
    for index, case in enumerate(cases):
        directory = tmp_path / f"c{index}"
        directory.mkdir()
        shutil.copytree(base, directory / "run")
        case.setup(directory)
        before = _digests(directory / "run")  # the spoiled file as spoiled
        argv = [a.replace("{dir}", str(directory)) for a in case.argv]
        verdict = run_in_process(argv).verdict(case.names)
        after = _digests(directory / "run")
        changed = [n for n in before if n in after and after[n] != before[n]]
        if changed and verdict == "clean":
            verdict = f"changed {changed}"
        verdicts[verdict] += 1
        if verdict != "clean":
            failures.append(f"{verdict}: {case.label}")
        shutil.rmtree(directory, ignore_errors=True)
    print(f"\n{len(cases)} hostile-file cases: {dict(verdicts)}")
    assert not failures, "\n".join(failures[:60])
