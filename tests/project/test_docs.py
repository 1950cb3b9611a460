"""Docs that are true: every flag the README and docs/ name exists (on the sampler command or
one of scripts/), every repository file they name exists, and nothing cites a document that is
not in the repository."""

from __future__ import annotations

import re
from pathlib import Path

from sampler.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# where a name in prose may live: the checkout, and the package folders as installed
PREFIXES = ("", "sampler/")
OTHER_TOOLS = {"--logdir"}  # tensorboard --logdir RUN_DIR


def command_flags() -> set[str]:
    flags: set[str] = set()

    def collect(parser):
        for action in parser._actions:
            flags.update(action.option_strings)
            if isinstance(getattr(action, "choices", None), dict):
                for sub in action.choices.values():
                    collect(sub)

    collect(build_parser())
    for script in (ROOT / "scripts").glob("*.py"):
        flags.update(re.findall(r"add_argument\(\s*\"(--[a-z0-9-]+)\"", script.read_text()))
    return flags


def test_every_flag_named_in_the_docs_exists():
    flags = command_flags() | OTHER_TOOLS
    for doc in DOCS:
        named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", doc.read_text()))
        assert named - flags == set(), doc.name


def test_every_repository_file_named_in_the_docs_exists():
    pattern = re.compile(r"`((?:sampler|models|mpi|scripts|tests|docs)/[\w./-]+\.(?:py|md|png))`")
    for doc in DOCS:
        for path in pattern.findall(doc.read_text()):
            assert any((ROOT / prefix / path).exists() for prefix in PREFIXES), (doc.name, path)


def test_nothing_cites_a_document_outside_the_repository():
    sources = [*ROOT.glob("*.md"), *ROOT.glob("docs/*.md")]
    for folder in ("sampler", "models", "mpi", "scripts", "tests"):
        sources += (ROOT / folder).rglob("*.py")
    for source in sources:
        if source.name == "test_docs.py":
            continue
        assert "DESIGN.md" not in source.read_text(), source
