"""``docs/results.md`` one section at a time: ``sampler reproduce --only KEYS`` rewrites the
chosen sections, stamps each with how it was made, and keeps every other section of the page
word for word; an experiment's own ``render`` replaces the default accuracy table; two
experiments that probe one run with different flags keep their reports apart."""

from pathlib import Path

from sampler.reproduce import page, report
from sampler.reproduce.experiment import Experiment, RunSpec
from sampler.reproduce.scale import Scale

OLD = """# Reproduced results

The old header, kept.

## First

Old first section, with a table.

| a | b |

## Second

Old second section.

## Gone

A section no experiment declares.
"""


def test_split_gives_the_header_and_each_section_with_its_title_line():
    header, sections = page.split(OLD)
    assert header == "# Reproduced results\n\nThe old header, kept."
    assert list(sections) == ["First", "Second", "Gone"]
    assert sections["First"] == "## First\n\nOld first section, with a table.\n\n| a | b |"


def test_merge_rewrites_the_chosen_sections_and_keeps_the_others_word_for_word():
    text = page.merge(OLD, "# new header", [("First", None), ("Second", "## Second\n\nNew.")], "S")
    header, sections = page.split(text)
    assert header == "# Reproduced results\n\nThe old header, kept."
    assert sections["First"] == page.split(OLD)[1]["First"]
    assert sections["Second"] == "## Second\n\nNew.\n\nS"
    assert "Gone" not in sections  # declared by no experiment
    # no page yet: the new header, and only the sections written
    fresh = page.merge("", "# new header", [("First", None), ("Second", "## Second")], "S")
    assert fresh == "# new header\n\n## Second\n\nS\n"


def _render(experiment, rows, out, docs):
    return [f"custom table of {experiment.key}: {sorted(rows)}"]


class Args:
    data_dir, quick, jobs = None, True, 1
    only = ["second"]


def test_only_rewrites_its_section_with_its_render_and_a_stamp(tmp_path):
    docs, out = tmp_path / "docs", tmp_path / "out"
    docs.mkdir()
    (docs / "results.md").write_text(OLD)
    first = Experiment("first", "First", "about first")
    second = Experiment("second", "Second", "about second", render=_render)
    second.add("a row", ("--steps", "3"), (0,))
    written = report.write([first, second], Scale.quick(), out, docs, Args)
    header, sections = page.split(written.read_text())
    assert header == page.split(OLD)[0]
    assert sections["First"] == page.split(OLD)[1]["First"]
    assert "Table 6.2: seconds per update, literal and fast paths" not in sections
    text = sections["Second"]
    assert text.startswith("## Second\n\nabout second\n\ncustom table of second: ['a row']")
    assert "| update" not in text  # the render replaced the default accuracy table
    assert "sampler train --steps 3 --seed 0" in text
    assert "`python scripts/reproduce.py --only second --quick`" in text.splitlines()[-1]
    assert str(tmp_path) not in written.read_text()


def test_probes_with_other_flags_get_their_own_folder():
    run = RunSpec("row", ("--steps", "3"), 0)
    plain = Experiment("a", "A", "", flatness=True)
    other = Experiment("b", "B", "", flatness=True, flatness_flags=("--probes", "hessian"))
    out = Path("OUT")
    assert plain.flatness_directory(out, run) == out / "flatness" / run.name
    assert other.flatness_directory(out, run) not in (plain.flatness_directory(out, run), None)
    assert other.flatness_directory(out, run).parent == out / "flatness"
