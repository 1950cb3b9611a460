"""sampler --version, --help, models, methods and sampler alone: answered without torch, in a
fraction of a second, with the same commands and help texts as the full parser."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from sampler.cli import listing_cache
from sampler.cli.main import main
from sampler.cli.parser import build_parser
from sampler.cli.quick import COMMANDS, DESCRIPTION

NO_TORCH = (
    "import sys; from sampler.cli.main import main\n"
    "try:\n    main(sys.argv[1:])\n"
    "except SystemExit as stop:\n"
    "    assert 'torch' not in sys.modules, 'torch imported'\n"
    "    raise\n"
)


def test_quick_commands_are_the_parsers():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")  # noqa: SLF001
    assert {c.dest: c.help for c in commands._choices_actions} == COMMANDS  # noqa: SLF001
    assert parser.description == DESCRIPTION


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["-h"], []])
def test_answered_without_torch_and_quickly(argv):
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", NO_TORCH, *argv], capture_output=True, text=True, timeout=60
    )
    seconds = time.perf_counter() - start
    assert "torch imported" not in done.stderr
    assert done.returncode == (2 if not argv else 0), done.stderr
    assert seconds < 5  # an interpreter start; under 0.1 s on an idle core
    if argv in (["--help"], []):
        text = done.stdout + done.stderr
        assert "usage: sampler" in text and all(name in text for name in COMMANDS)


def test_alone_prints_usage_and_commands(capsys):
    with pytest.raises(SystemExit) as stop:
        main([])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: sampler") and "train a network" in err
    assert err.rstrip().splitlines()[-1].startswith("sampler: error: name a command")


@pytest.mark.parametrize("command", ["models", "methods"])
def test_listings_from_the_cache(tmp_path, monkeypatch, capsys, command):
    cache = tmp_path / "cache"  # not a folder named sampler in the working directory
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    fresh = listing_cache.compute_listing(command)
    assert listing_cache.listing(command) == fresh  # computed, then kept
    assert len(list((tmp_path / "sampler").glob(f"{command}-*.txt"))) == 0
    assert len(list((cache / "sampler").glob(f"{command}-*.txt"))) == 1

    def no_compute(name):
        raise AssertionError("computed again")

    monkeypatch.setattr(listing_cache, "compute_listing", no_compute)
    assert main([command]) == 0 and capsys.readouterr().out == fresh + "\n"
    done = subprocess.run(
        [sys.executable, "-c", NO_TORCH, command],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_CACHE_HOME": str(cache)},
    )
    assert done.returncode == 0 and done.stdout == fresh + "\n", done.stderr


def test_unwritable_cache_still_lists(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))  # a file: no folder there
    assert listing_cache.listing("methods") == listing_cache.compute_listing("methods")


def test_key_follows_the_sources(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text("x = 1\n")

    class Spec:
        submodule_search_locations = [str(package)]

    monkeypatch.setattr(listing_cache.importlib.util, "find_spec", lambda name: Spec)
    before = listing_cache.sources_key()
    (package / "a.py").write_text("x = 22\n")
    assert listing_cache.sources_key() != before


@pytest.mark.parametrize("package", listing_cache.OPTIONAL)
def test_key_follows_the_optional_packages(tmp_path, monkeypatch, package):
    """Installing, removing or upgrading evotorch (or TensorFlow) is a new key: the cached
    listing is never the one of the other installation."""
    real = listing_cache.importlib.util.find_spec
    origin = tmp_path / package / "__init__.py"
    origin.parent.mkdir()
    origin.write_text("")

    class Installed:
        submodule_search_locations = [str(origin.parent)]

    Installed.origin = str(origin)
    present = {"now": False}

    def finder(name):
        if name == package:
            return Installed if present["now"] else None
        return real(name)

    monkeypatch.setattr(listing_cache.importlib.util, "find_spec", finder)
    absent_key = listing_cache.sources_key()
    present["now"] = True
    installed_key = listing_cache.sources_key()
    assert installed_key != absent_key
    os.utime(origin, ns=(1, 1))  # upgraded in place
    assert listing_cache.sources_key() not in (absent_key, installed_key)
    present["now"] = False
    assert listing_cache.sources_key() == absent_key  # removed again: the first key


def test_evotorch_installed_after_the_listing_is_cached(tmp_path, monkeypatch):
    """The cached ``sampler methods`` of an installation without evotorch is not the answer
    once evotorch is importable (the listing is computed again)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    real = listing_cache.importlib.util.find_spec
    state = {"evotorch": None}

    def finder(name):
        return state["evotorch"] if name == "evotorch" else real(name)

    monkeypatch.setattr(listing_cache.importlib.util, "find_spec", finder)
    monkeypatch.setattr(listing_cache, "compute_listing", lambda name: "without evotorch")
    assert listing_cache.listing("methods") == "without evotorch"
    state["evotorch"] = real("json")  # any importable package stands for evotorch
    monkeypatch.setattr(listing_cache, "compute_listing", lambda name: "with evotorch")
    assert listing_cache.listing("methods") == "with evotorch"
    assert len(list((tmp_path / "sampler").glob("methods-*.txt"))) == 2
