"""What a generated bad invocation of ``sampler train`` is (``Case``: its argv, what its one error
line must name, the files it needs first), the tiny run every case trains on, and the setups
that write a case's files into its own directory (``{dir}`` in its argv)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sampler.config.run_config import flag

HUGE = "99999999999999999999"
# the tiny data every method case trains on (a silent accept would finish in a second)
MIXTURE = ["--data", "gaussian-mixture", "--gm-dim", "4", "--gm-train", "40", "--gm-test", "20"]
RUN = ["--steps", "2", "--batch-size", "10", "--quiet", "--out", "{dir}/out"]


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    names: str  # what the error line must contain
    setup: Callable[[Path], None] | None = None
    label: str = ""

    @property
    def id(self) -> str:
        return self.label or " ".join(self.argv)


def without_flag(flags: list[str], name: str) -> list[str]:
    text = flag(name)
    out, skip = [], False
    for item in flags:
        if skip:
            skip = False
            continue
        if item == text:
            skip = True
            continue
        out.append(item)
    return out


def touch_file(tmp: Path) -> None:
    (tmp / "a-file").write_text("not a directory\n")


def chain(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        for each in setups:
            each(tmp)

    return setup


def write_file(name: str, content: bytes | str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        path = tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)

    return setup
