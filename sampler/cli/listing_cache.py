"""``sampler models`` and ``sampler methods`` from a cache, without torch.

A listing is a function of the installed sources only (the registries, their options, the
parameter counts of the zoo on its default shapes), but computing it imports torch and builds
every network on the ``meta`` device (seconds). So the text is kept in
``$XDG_CACHE_HOME/sampler/`` (``~/.cache/sampler/``) under a key that is a digest of the
version and of the size and modification time of every source file of ``sampler`` and
``sampler.models`` (``sampler.mpi`` included in ``sampler``'s folder when installed), and of
which optional packages that change a listing are importable (``OPTIONAL``: ``evotorch`` adds
the ``evotorch:NAME`` baselines; each is looked up with ``importlib.util.find_spec``, which
imports nothing, and keyed by its location and modification time, so installing, removing or
upgrading one is a new key too): any change to them is a new key, so a listing is never stale.
A cache that cannot be read or written is skipped (the listing is computed); it is written
atomically (a temporary file renamed).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import os
from pathlib import Path

from sampler import __version__

PACKAGES = ("sampler", "sampler.models", "sampler.mpi")
LISTINGS = ("models", "methods")
OPTIONAL = ("evotorch", "tensorflow", "keras")  # their presence changes (or may change) a listing


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sampler"


def optional_packages() -> str:
    """One line per package of ``OPTIONAL``: absent, or where it is and when it changed."""
    lines = []
    for name in OPTIONAL:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):  # a broken installation counts as absent
            spec = None
        origin = getattr(spec, "origin", None) if spec is not None else None
        try:
            changed = os.stat(origin).st_mtime_ns if origin else 0
        except OSError:
            changed = 0
        lines.append(f"{name}:{'absent' if spec is None else f'{origin}:{changed}'}\n")
    return "".join(lines)


def sources_key() -> str:
    """A digest of the version, of every source file's path, size and modification time, and
    of which optional packages of ``OPTIONAL`` are importable."""
    digest = hashlib.sha256(__version__.encode())
    digest.update(optional_packages().encode())
    folders = set()
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        folders.update(spec.submodule_search_locations or ())
    for folder in sorted(folders):
        for root, directories, files in os.walk(folder):
            directories.sort()
            for name in sorted(files):
                if name.endswith(".py"):
                    stat = os.stat(os.path.join(root, name))
                    digest.update(f"{root}/{name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def compute_listing(command: str) -> str:
    # deferred: the listings import torch and every registry (seconds)
    listings = importlib.import_module("sampler.cli.listings")
    return {"models": listings.zoo_listing, "methods": listings.methods_listing}[command]()


def listing(command: str) -> str:
    """The text of ``sampler models`` or ``sampler methods``, from the cache when it holds it."""
    path = cache_folder() / f"{command}-{sources_key()}.txt"
    try:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        pass
    text = compute_listing(command)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
    return text
