"""Help that is true: no stray %% in any --help, one default shown per flag of sampler train,
and sampler --version."""

from __future__ import annotations

import re

import pytest

import sampler
from sampler.cli.main import main


def help_text(capsys, *command) -> str:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize(
    "command", [(), ("train",), ("compare",), ("flatness",), ("export",), ("models",), ("methods",)]
)
def test_no_percent_escapes_in_help(capsys, command):
    assert "%%" not in help_text(capsys, *command)


def test_every_flag_of_train_shows_one_default(capsys):
    text = help_text(capsys, "train").split("\noptions:\n", 1)[1]
    blocks = re.split(r"\n(?=  -)", text)
    flags = {}
    for block in blocks:
        name = block.split()[0].rstrip(",")
        if name in ("-h",) or not name.startswith("--"):
            continue
        flags[name] = " ".join(block.split()).count("(default:")
    assert len(flags) > 50 and "--out" in flags and "--lr" in flags
    assert {name: count for name, count in flags.items() if count != 1} == {}
    flat = " ".join(text.split())
    assert "(default: runs/<time>-<method>-<model>)" in flat
    # argparse may wrap at a hyphen ("rm-" / "stein"): compared without the whitespace
    packed = "".join(text.split())
    assert "(default:annealfor--estimatoris/sgld/rm/rm-stein,0.01for--baselinesgd" in packed


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"sampler {sampler.__version__}"
