"""The resource families of ``scripts/fuzz_inputs.py``: a full disk under the commands that
write files, sizes no machine holds, and listings after an optional package came or went.

* ``disk``: ``sampler compare``, ``flatness`` or ``export`` (to its default or to ``--out``)
  run once to write good files, then again with the disk full at one of the files it writes,
  chosen at random (half of the file's bytes reach the disk, or none). Any ``open`` for writing
  whose name holds that file's name fills up (so the injection needs nothing of the writers).
  Clean: a non-zero exit with one line naming the file and ``No space left on device``, the
  good file left byte for byte and nothing else left beside it; **lost data** otherwise.
* ``memory``: ``sampler train`` with a size no machine holds (``--samples`` under two-pass,
  ``--block-size`` on a wide model, model widths, data-set sizes, chains, replicas,
  perturbations), each refused before any allocation naming its flag; or an allocation failure
  injected during the run (torch's allocator message, an empty ``MemoryError``) that must be one
  line saying ``out of memory``. The process's address space is capped (``ulimit -v``) during
  these cases, so a run that would allocate cannot take the shared machine's memory.
* ``listing``: ``sampler methods`` / ``models`` from a fresh cache while evotorch, TensorFlow
  and Keras are made importable or not at random (``importlib.util.find_spec``); the listing
  must be the one of the packages present now (a stale one counts as **lost data**: a silently
  wrong answer).
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import random
import resource
import shutil
from pathlib import Path

NO_SPACE = os.strerror(errno.ENOSPC)
TINY = ["--data", "gaussian-mixture", "--gm-dim", "4", "--gm-train", "40", "--gm-test", "20"]
PROBES = ["--examples", "20", "--noise-samples", "2", "--samples", "10", "--eigenvalues", "1"]
PROBES += ["--sigma", "0.1", "--taus", "0.01"]


class FullDisk:
    """A file opened for writing that takes ``room`` bytes (or characters), then ENOSPC."""

    def __init__(self, handle, room: int) -> None:
        self.handle, self.room = handle, room

    def write(self, data):
        if len(data) <= self.room:
            self.room -= len(data)
            return self.handle.write(data)
        self.handle.write(data[: self.room])
        self.room = 0
        raise OSError(errno.ENOSPC, NO_SPACE)

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __iter__(self):
        return iter(self.handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.handle.close()


class DiskFillsAt:
    """While active, every ``open`` for writing of a name holding ``target`` fills up."""

    def __init__(self, target: str, room: int) -> None:
        self.target, self.room, self.real = target, room, builtins.open

    def opened(self, file, mode="r", *args, **kwargs):
        handle = self.real(file, mode, *args, **kwargs)
        writing = any(c in mode for c in "wax+")
        if writing and isinstance(file, (str, os.PathLike)) and self.target in Path(file).name:
            return FullDisk(handle, self.room)
        return handle

    def __enter__(self):
        builtins.open = io.open = self.opened
        return self

    def __exit__(self, *exc) -> None:
        builtins.open = io.open = self.real


def disk_setup(run_cli, work: Path) -> Path:
    """A finished tiny run with a flatness report (so compare draws every kind of plot)."""
    run = work / "disk-run"
    argv = ["train", *TINY, "--steps", "3", "--batch-size", "10", "--samples", "10", "--quiet"]
    assert run_cli([*argv, "--out", str(run)], 120)[0] == 0
    assert run_cli(["flatness", str(run), *PROBES], 120)[0] == 0
    return run


def disk_case(rng: random.Random, run_cli, verdict, run: Path, work: Path, bound: float):
    folder = work / f"d{rng.randrange(10**9)}"
    command = rng.choice(["compare", "flatness", "export", "export-out"])
    if command == "compare":
        argv = ["compare", str(run), "--out", str(folder)]
    elif command == "flatness":
        argv = ["flatness", str(run), *PROBES, "--out", str(folder)]
    elif command == "export":
        folder = work / f"e{rng.randrange(10**9)}"
        shutil.copytree(run, folder)
        argv = ["export", str(folder)]
    else:
        folder.mkdir()
        argv = ["export", str(run), "--out", str(folder / "weights.pt")]
    code, err = run_cli(argv, bound)
    if code != 0:
        return "traceback" if "Traceback" in err else "unclear", f"{command}: first run {err!r}"
    good = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    if command == "export":
        target = "state_dict.pt"
    else:
        target = rng.choice(sorted(name for name in good if name != "config.json"))
    room = rng.choice([0, len(good[target]) // 2])
    with DiskFillsAt(target, room):
        code, err = run_cli(argv, bound)
    now = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    what = f"{command}: {target} (room {room})"
    shutil.rmtree(folder, ignore_errors=True)
    result = verdict(code, err, (target,))
    if result == "clean" and NO_SPACE not in err:
        result = "unclear"
    if result in ("clean", "unclear", "silent accept") and (
        now.get(target) != good[target] or set(now) != set(good)
    ):
        result = "lost data"
    return result, what


# (flags, the setting the refusal must name; NAME|OTHER: either)
HUGE = [
    (["--samples", "100000000000", "--beta-search", "two-pass"], "--samples"),
    (["--model", "mlp", "--model-opt", "widths={big}"], "--model mlp"),
    (["--model", "mlp", "--model-opt", "widths={mid}", "--samples", "100"], "--block-size|--model"),
    (["--model", "mlp", "--model-opt", "widths={mid},{mid}"], "--model mlp"),
    (["--data-opt", "train_size={big}"], "--data gaussian-mixture"),
    (["--data-opt", "dim={big}"], "--data gaussian-mixture"),
    (["--estimator", "sgld", "--chains", "{big}"], "--chains"),
    (["--baseline", "rsgd", "--replicas", "{big}"], "--replicas"),
    (["--baseline", "pla", "--perturbations", "{big}"], "--perturbations"),
]
PATTERNS = ["--data", "random-patterns", "--model", "perceptron"]
HUGE_PATTERNS = [
    (["--data-opt", "n={big}"], "--data random-patterns"),
    (["--data-opt", "n={mid}", "--data-opt", "alpha={big}"], "--data random-patterns"),
]
ALLOCATOR = (
    "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
    "you tried to allocate {n} bytes. Error code 12 (Cannot allocate memory)"
)


def memory_case(rng: random.Random, run_cli, verdict, work: Path, bound: float):
    big, mid = rng.randrange(10**9, 10**12), rng.randrange(5 * 10**6, 2 * 10**7)
    base = ["train", "--steps", "2", "--quiet", "--out", str(work / f"m{rng.randrange(10**9)}")]
    if rng.random() < 0.25:  # an allocation that fails during the run
        from sampler.estimators import tilted_sums

        failure = rng.choice([RuntimeError(ALLOCATOR.format(n=big)), MemoryError()])
        real = tilted_sums.TiltedSums.__init__

        def fails(self, *args, **kwargs):
            raise failure

        tilted_sums.TiltedSums.__init__ = fails
        try:
            code, err = capped(run_cli, [*base, *TINY, "--samples", "20"], bound)
        finally:
            tilted_sums.TiltedSums.__init__ = real
        what = f"{type(failure).__name__} during the run"
        result = verdict(code, err, ("out of memory",))
        return (result if "--samples 20" in err or result != "clean" else "unclear"), what
    data, cases = (PATTERNS, HUGE_PATTERNS) if rng.random() < 0.2 else (TINY, HUGE)
    flags, named = rng.choice(cases)
    flags = [f.format(big=big, mid=mid) for f in flags]
    code, err = capped(run_cli, [*base, *data, *flags], bound)
    result = verdict(code, err, tuple(named.split("|")))
    if result == "clean" and "memory" not in err and "evaluations" not in err:
        result = "unclear"  # refused, but not saying what it would need
    return result, " ".join(flags)


def capped(run_cli, argv: list[str], bound: float):
    """``run_cli`` with the address space capped 4 GB above the process's size now."""
    size = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            size = int(line.split()[1]) * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (size + (4 << 30), hard))
    try:
        return run_cli(argv, bound)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


OPTIONAL = ("evotorch", "tensorflow", "keras")


def listing_case(rng: random.Random, work: Path):
    """One ``sampler methods``/``models`` call after the optional packages changed at random;
    the cache (in ``work``) persists across the family's cases, as a user's does."""
    import importlib.util

    from sampler.cli import listing_cache

    real_find, real_compute = importlib.util.find_spec, listing_cache.compute_listing
    present = {name for name in OPTIONAL if rng.random() < 0.5}
    stand_in = real_find("json")  # an importable package stands for the optional one
    command = rng.choice(["methods", "models"])

    def find(name, *args, **kwargs):
        if name in OPTIONAL:
            return stand_in if name in present else None
        return real_find(name, *args, **kwargs)

    def compute(name):
        return f"{name} with {sorted(present)}"

    old_cache = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(work / "listing-cache")
    importlib.util.find_spec = find
    listing_cache.compute_listing = compute
    try:
        text = listing_cache.listing(command)
    except Exception:  # noqa: BLE001 - an escaped exception is a finding
        return "traceback", command
    finally:
        importlib.util.find_spec, listing_cache.compute_listing = real_find, real_compute
        if old_cache is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = old_cache
    result = "clean" if text == compute(command) else "lost data"
    return result, f"{command} with {sorted(present)}: got {text!r}"
