"""The package layout as the API reference sees it: a griffe extension for mkdocstrings.

griffe (the reader behind mkdocstrings) finds ``sampler`` in ``sampler/`` but not the subpackages
that the distribution maps to folders of their own (``[tool.setuptools] package-dir`` of
pyproject.toml: ``sampler.models`` is ``models/``, ``sampler.mpi`` is ``mpi/``). Once ``sampler``
is loaded, this extension loads each such folder and attaches it under its installed name, so
that the reference shows ``sampler.models.interface`` as users import it. mkdocs.yml names it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import griffe

if sys.version_info >= (3, 11):
    import tomllib
else:  # tomli is a dependency of the package below Python 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def mapped_subpackages() -> dict[str, Path]:
    """``{installed name: folder}`` of the subpackages whose folder is not inside their parent's."""
    with open(ROOT / "pyproject.toml", "rb") as file:
        package_dir = tomllib.load(file)["tool"]["setuptools"]["package-dir"]
    return {name: ROOT / folder for name, folder in package_dir.items() if "." in name}


class PackageDirs(griffe.Extension):
    """Attach ``models/`` and ``mpi/`` (every mapped folder) under the package that owns them."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        for name, folder in sorted(mapped_subpackages().items()):
            parent, _, leaf = name.rpartition(".")
            if parent != pkg.path or leaf in pkg.members:
                continue
            module = loader.load(folder)
            module.name = leaf
            pkg.set_member(leaf, module)
