"""An outside-style fuzz of sampler's inputs, beyond the cases the test suite generates.

Seven families of random inputs, each bad by construction, drawn from one seed (``--seed``):

* ``cli``: a tiny valid ``sampler train`` command with one or two of its flags given a random
  bad value for that flag's kind (letters, blanks, NaN/inf spellings, overflowing numbers,
  signs, separators, control and non-ASCII characters, ``--flag=`` forms);
* ``config``: ``--config`` TOML files holding a random setting with a value of a random wrong
  TOML type (array, table, date, string of garbage, huge or negative number), or random bytes;
* ``api``: ``sampler.train`` with one random argument (a run setting or a method option) set
  to a random object of a wrong kind (bytes, sets, Decimal NaN, fractions, arrays, tensors,
  generators, dates, ...);
* ``rundir``: ``sampler train --resume`` of a copy of a finished run whose ``checkpoint.pt`` or
  ``config.json`` is damaged at random (several flipped bits, a random byte run, a cut, junk
  appended, a key deleted or its value replaced);
* ``disk``, ``memory``, ``listing`` (``scripts/fuzz_resources.py``): compare, flatness and
  export on a full disk at one of the files they write; sizes no machine holds, and
  allocations that fail during the run; ``sampler methods``/``models`` after an optional
  package (evotorch, TensorFlow, Keras) came or went.

Verdicts: **clean** (refused: non-zero exit with one line naming the input, no traceback),
**traceback**, **hang** (over ``--bound`` seconds), **silent accept** (exit 0 on an input that
cannot be valid), **unclear** (refused, but not with one line naming the input), and for a
resume that is accepted, **lost data** if its final parameters differ from those of the same
run never interrupted (a resume that is accepted and bit-identical is clean). Cases run in this
process (``sampler.cli.main.main``); the API family calls ``sampler.train``.

    python scripts/fuzz_inputs.py --cases 1100 --seed 0 --report /tmp/fuzz.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

import torch

from sampler.cli.main import main

sys.path.insert(0, str(Path(__file__).parent))  # run as a script: its sibling module
import fuzz_resources as resources  # noqa: E402

TINY = ["--data", "gaussian-mixture", "--gm-dim", "4", "--gm-train", "40", "--gm-test", "20"]
RUN = [*TINY, "--steps", "3", "--batch-size", "10", "--quiet", "--samples", "20"]
# fmt: off
INT_FLAGS = ["--steps", "--batch-size", "--seed", "--eval-every", "--checkpoint-every",
    "--threads", "--data-seed", "--samples", "--block-size", "--signal-every"]
# fmt: on
FLOAT_FLAGS = ["--tau", "--beta", "--lr", "--momentum", "--gm-delta"]
CHOICE_FLAGS = ["--estimator", "--model", "--data", "--optimizer", "--proposal", "--device"]
# fmt: off
BAD_TEXT = ["", " ", "\t", "nan", "NaN", "-nan", "inf", "+inf", "-Infinity", "1e999", "-1e999",
    "0x10", "1,5", "1;2", "--", "-", "½", "1e", "e1", "..", "1..2", "∞", "\x00", "\x1b[31m",
    "a" * 5000, "9" * 5000, "-" + "9" * 30, "None", "null", "true", "[]", "{}", "$(echo hi)",
    "../../etc/passwd", "\u202e1", "1 2", "0.0.1"]
# fmt: on
NEGATIVE_FOR_INT = ["-1", "-0.5", "-99999999999999999999", "2.5", "1e3", "3.0", "0b11"]


class Hang(BaseException):
    pass


def _alarm(signum, frame):
    raise Hang()


def run_cli(argv: list[str], bound: float) -> tuple[object, str]:
    err = io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, bound)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    except SystemExit as stop:
        code = stop.code
    except Hang:
        code = "hang"
    except BaseException:  # noqa: BLE001 - an escaped exception is a finding
        code = "exception"
        err.write(traceback.format_exc())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return code, err.getvalue()


def verdict(code: object, stderr: str, names: tuple[str, ...]) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    if code == "hang":
        return "hang"
    if code == "exception" or "Traceback" in stderr:
        return "traceback"
    if code == 0:
        return "silent accept"
    if len(lines) != 1 or not any(name in lines[0] for name in names):
        return "unclear"
    return "clean"


def cli_case(rng: random.Random) -> tuple[list[str], tuple[str, ...]]:
    argv, names = list(RUN), []
    for _ in range(rng.choice([1, 1, 2])):
        kind = rng.choice(["int", "float", "choice"])
        flag = rng.choice({"int": INT_FLAGS, "float": FLOAT_FLAGS, "choice": CHOICE_FLAGS}[kind])
        pool = BAD_TEXT + (NEGATIVE_FOR_INT if kind == "int" else [])
        value = rng.choice(pool)
        if kind == "choice" and value in ("",):
            value = "no-such"
        argv += [f"{flag}={value}"] if rng.random() < 0.3 else [flag, value]
        names.append(flag)
        if flag == "--gm-delta":  # an alias: the line names the data set's option
            names.append("option delta")
    return ["train", *argv], tuple(names)


# fmt: off
TOML_VALUES = ["[1, 2]", "{a = 1}", "1979-05-27", '"\\u0000"', "9" * 400, "-9" * 1, "nan", "inf",
    "-inf", "[[1], [2]]", '""', '" "', "true", "0.0", "-1", "1e400"]
# fmt: on
# not steps, batch-size, samples, data, quiet: RUN's flags override the file
TOML_KEYS = ["seed", "tau", "estimator", "model", "out", "threads", "eval-every", "lr", "beta"]
TOML_KEYS += ["checkpoint-every", "device", "block-size", "momentum", "data-seed"]
HUGE_IS_VALID = {"seed", "data_seed", "eval_every", "checkpoint_every", "signal_every"}


def config_case(rng: random.Random, directory: Path) -> tuple[list[str], tuple[str, ...]]:
    path = directory / f"c{rng.randrange(10**9)}.toml"
    if rng.random() < 0.15:
        path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
    else:
        key, value = rng.choice(TOML_KEYS), rng.choice(TOML_VALUES)
        while (key.replace("-", "_") in HUGE_IS_VALID and value.startswith("9")) or (
            key == "momentum" and value == "0.0"  # the default: valid
        ):
            value = rng.choice(TOML_VALUES)  # a huge seed or period is a valid one
        if key in ("estimator", "model", "device", "out") and value.startswith('"'):
            value = '""'
        path.write_text(f"{key} = {value}\n")
    key = path.read_bytes().split(b" = ")[0].decode("utf-8", "replace")
    return ["train", *RUN, "--config", str(path)], ("--config", path.name, f"--{key}")


def api_case(rng: random.Random):
    import decimal
    import fractions

    import numpy as np

    # fmt: off
    values = [b"10", {1, 2}, frozenset(), decimal.Decimal("nan"), fractions.Fraction(1, 3),
        np.array([1, 2]), torch.tensor([1.0, 2.0]), (i for i in range(3)), time, range(3),
        bytearray(b"x"), Ellipsis, NotImplemented, type, np.float64("nan"), np.complex64(1j),
        float("nan"), -float("inf"), 10**400, -(10**30)]
    # fmt: on
    # fmt: off
    names = ["steps", "batch_size", "seed", "eval_every", "checkpoint_every", "threads", "quiet",
        "out", "device", "estimator", "tau", "samples", "beta", "lr", "block_size", "data_seed",
        "signal_every", "momentum"]
    # fmt: on
    name, value = rng.choice(names), rng.choice(values)
    while name in HUGE_IS_VALID and isinstance(value, int) and value > 0:
        value = rng.choice(values)  # a huge seed or period is a valid one
    return name, value


def run_api(name: str, value, bound: float) -> str:
    import sampler

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, bound)
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            kwargs = {"data": "gaussian-mixture", "steps": 2, "batch_size": 10, "quiet": True}
            kwargs["data_options"] = {"dim": 4, "train_size": 40, "test_size": 20}
            sampler.train("linear", **{**kwargs, name: value})
    except Hang:
        return "hang"
    except ValueError as error:
        text = str(error).strip()
        return "clean" if "\n" not in text and f"{name}=" in text else "unclear"
    except BaseException:  # noqa: BLE001
        return "traceback"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return "silent accept"


def damage(rng: random.Random, run: Path) -> str:
    if rng.random() < 0.6:
        path = run / "checkpoint.pt"
        data = bytearray(path.read_bytes())
        how = rng.choice(["bits", "run", "cut", "append"])
        if how == "bits":
            for _ in range(rng.randrange(1, 6)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif how == "run":
            start = rng.randrange(len(data))
            data[start : start + rng.randrange(1, 64)] = bytes(rng.randrange(256) for _ in range(8))
        elif how == "cut":
            del data[rng.randrange(len(data)) :]
        else:
            data += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        path.write_bytes(bytes(data))
        return "checkpoint.pt"
    path = run / "config.json"
    config = json.loads(path.read_text())
    key = rng.choice(sorted(config))
    if rng.random() < 0.4:
        del config[key]
    else:
        config[key] = rng.choice([None, [], {}, "x", -1, 1e308, True, "9" * 50, [1, [2]]])
    path.write_text(json.dumps(config))
    return "config.json"


def rundir_case(rng, base: Path, whole: torch.Tensor, directory: Path, bound: float) -> str:
    run = directory / f"r{rng.randrange(10**9)}"
    shutil.copytree(base, run)
    file = damage(rng, run)
    code, stderr = run_cli(["train", "--resume", str(run), "--steps", "5", "--quiet"], bound)
    shutil.rmtree(run / "tensorboard", ignore_errors=True)
    if code == 0:
        params = torch.load(run / "checkpoint.pt", weights_only=True)["params"]
        result = "clean" if torch.equal(params, whole) else "lost data"
    else:
        result = verdict(code, stderr, (file, "--resume", "--steps", str(run)))
    shutil.rmtree(run, ignore_errors=True)
    return result


FAMILIES = ("cli", "config", "api", "rundir", "disk", "memory", "listing")


def fuzz(cases: int, seed: int, bound: float) -> dict:
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="sampler-fuzz-"))
    base, whole_dir = work / "base", work / "whole"
    assert main(["train", *RUN, "--checkpoint-every", "1", "--out", str(base)]) == 0
    assert main(["train", *RUN, "--steps", "5", "--out", str(whole_dir)]) == 0
    whole = torch.load(whole_dir / "checkpoint.pt", weights_only=True)["params"]
    disk_run = resources.disk_setup(run_cli, work)
    counts = {family: Counter() for family in FAMILIES}
    findings, start = [], time.perf_counter()
    for index in range(cases):
        family = FAMILIES[index % len(FAMILIES)]
        if family == "disk":
            result, what = resources.disk_case(rng, run_cli, verdict, disk_run, work, bound)
        elif family == "memory":
            result, what = resources.memory_case(rng, run_cli, verdict, work, bound)
        elif family == "listing":
            result, what = resources.listing_case(rng, work)
        elif family == "cli":
            argv, names = cli_case(rng)
            result, what = verdict(*run_cli(argv, bound), names), str(argv[len(RUN) + 1 :])[:120]
        elif family == "config":
            argv, names = config_case(rng, work)
            result, what = verdict(*run_cli(argv, bound), names), Path(argv[-1]).read_bytes()[:80]
        elif family == "api":
            name, value = api_case(rng)
            result, what = run_api(name, value, bound), f"{name}={value!r}"[:80]
        else:
            result, what = rundir_case(rng, base, whole, work, bound), "damaged run"
        counts[family][result] += 1
        if result != "clean":
            findings.append(f"{family}: {result}: {what!r}")
    shutil.rmtree(work, ignore_errors=True)
    total = sum((c for c in counts.values()), Counter())
    return {
        "cases": cases,
        "seed": seed,
        "seconds": round(time.perf_counter() - start, 1),
        "by_family": {k: dict(v) for k, v in counts.items()},
        "total": dict(total),
        "findings": findings,
    }


def main_fuzz(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1100, help="inputs tried (default: 1100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws (default: 0)")
    parser.add_argument("--bound", type=float, default=30.0, help="seconds a case may take")
    parser.add_argument("--report", metavar="FILE", help="also write the report as JSON")
    args = parser.parse_args(argv)
    report = fuzz(args.cases, args.seed, args.bound)
    print(json.dumps({k: v for k, v in report.items() if k != "findings"}, indent=1))
    for finding in report["findings"][:60]:
        print("  ", finding)
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=1) + "\n")
    return 0 if not report["findings"] else 1


if __name__ == "__main__":
    sys.exit(main_fuzz())
