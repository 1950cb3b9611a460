"""Docs that are true: every flag the README and the pages of the documentation site (docs/,
recursively) name exists (on the sampler command or one of scripts/), every repository file they
name exists, nothing cites a document that is not in the repository, every page is in the site's
nav (mkdocs.yml), and the README stays a short front door whose links lead somewhere."""

from __future__ import annotations

import re
from fnmatch import fnmatch
from pathlib import Path

from sampler.cli.parser import build_parser

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs").rglob("*.md"))
DOCS = [ROOT / "README.md", *PAGES]
README_LINES = 250
# where a name in prose may live: the checkout, and the package folders as installed
PREFIXES = ("", "sampler/")
OTHER_TOOLS = {
    "--logdir",  # tensorboard --logdir RUN_DIR
    "--index-url",  # pip: PyTorch's CPU wheel index
    "--extra-index-url",
    "--dry-run",
    "--strict",  # mkdocs build --strict
    "--check",  # ruff format --check
    "--no-deps",  # pip install --no-deps --target DIR: the layout lint-imports reads
    "--target",
    "--no-cache",  # lint-imports --no-cache
}


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
        assert named - flags == set(), doc.relative_to(ROOT)


def test_every_repository_file_named_in_the_docs_exists():
    pattern = re.compile(r"`((?:sampler|models|mpi|scripts|tests|docs)/[\w./-]+\.(?:py|md|png))`")
    for doc in DOCS:
        for path in pattern.findall(doc.read_text()):
            assert any((ROOT / prefix / path).exists() for prefix in PREFIXES), (
                doc.relative_to(ROOT),
                path,
            )


def test_nothing_cites_a_document_outside_the_repository():
    sources = [*ROOT.glob("*.md"), *PAGES]
    for folder in ("sampler", "models", "mpi", "scripts", "tests"):
        sources += (ROOT / folder).rglob("*.py")
    for source in sources:
        if source.name == "test_docs.py":
            continue
        assert "DESIGN.md" not in source.read_text(), source


def site_config() -> tuple[list[str], list[str]]:
    """The pages of the nav of mkdocs.yml and its ``not_in_nav`` patterns, read as text (the
    test runs without the docs extra): every ``*.md`` named under ``nav:``."""
    sections: dict[str, list[str]] = {}
    key = None
    for line in (ROOT / "mkdocs.yml").read_text().splitlines():
        top = re.match(r"([a-z_]+):", line)
        if top:
            key = top.group(1)
            sections[key] = [line[top.end() :]]
        elif key is not None:
            sections[key].append(line)
    nav = re.findall(r"([\w./-]+\.md)\s*$", "\n".join(sections.get("nav", [])), re.M)
    excluded = "\n".join(sections.get("not_in_nav", [])).replace("|", " ").split()
    return nav, excluded


def test_every_page_is_in_the_site_nav():
    nav, excluded = site_config()
    pages = {page.relative_to(ROOT / "docs").as_posix() for page in PAGES}
    assert set(nav) <= pages, set(nav) - pages
    outside = {
        page for page in pages - set(nav) if not any(fnmatch(page, p.strip("/")) for p in excluded)
    }
    assert outside == set(), "add these pages to the nav of mkdocs.yml (or to not_in_nav)"


def test_the_readme_is_a_short_front_door():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= README_LINES
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (ROOT / target).exists(), target
