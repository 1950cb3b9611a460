"""A run directory as ``sampler compare`` reads it: settings, metrics and what is known so far.

``config.json`` is required (a directory without it is not a run); ``metrics.jsonl`` may be
partial (a run still going, or stopped: a torn last line is skipped), ``summary.json`` and
``flatness.json`` may be missing. Keys written by newer versions are read where known and
ignored otherwise; a missing key leaves its cell empty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sampler.runs.directory import CONFIG, METRICS, SUMMARY
from sampler.runs.file_kinds import METRICS_LIMIT, TEXT_LIMIT, read_regular
from sampler.runs.files import unique_json

FLATNESS = "flatness.json"
TABLE_KEYS = ("model_options", "data_options", "method_options")


class NotARunError(ValueError):
    pass


@dataclass
class Run:
    path: Path
    config: dict
    metrics: list[dict]
    summary: dict | None = None
    flatness: dict | None = None
    settings: dict = field(default_factory=dict)  # flat: name -> value (sampler.compare.settings)

    @property
    def finished(self) -> bool:
        """A summary that covers every logged update (a run resumed to go further keeps the
        summary of its earlier end until it finishes again)."""
        if self.summary is None:
            return False
        return not self.metrics or self.summary.get("steps") == self.metrics[-1]["step"]

    @property
    def steps(self) -> int:
        if self.finished and isinstance(self.summary.get("steps"), int):
            return self.summary["steps"]
        return self.metrics[-1]["step"] if self.metrics else 0

    @property
    def method(self) -> str:
        return self.config.get("baseline") or self.config.get("estimator") or "?"


def _read_text(path: Path, limit: int) -> str | None:
    """The text of ``path`` (None if it does not exist); ``NotARunError`` naming it if it is not
    a regular UTF-8 file of at most ``limit`` bytes."""
    if not path.exists():
        return None
    try:
        return read_regular(path, limit).decode("utf-8")
    except OSError as error:
        raise NotARunError(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise NotARunError(f"{path}: not UTF-8 text") from None


def _read_json(path: Path, what: str) -> dict | None:
    text = _read_text(path, TEXT_LIMIT)
    if text is None:
        return None
    try:
        value = unique_json(text)
    except (ValueError, RecursionError):
        raise NotARunError(f"{path}: not valid JSON ({what})") from None
    if not isinstance(value, dict):
        raise NotARunError(f"{path}: must hold a JSON object ({what})")
    return value


def read_metrics(path: Path) -> list[dict]:
    """The metrics lines in step order; an unparseable line (a run killed mid-write) is skipped."""
    text = _read_text(path, METRICS_LIMIT)
    if text is None:
        return []
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            records.append(record)
    return sorted(records, key=lambda r: r["step"])


def read_run(path: str | Path) -> Run:
    """``NotARunError`` (one line) if ``path`` is not a run directory."""
    path = Path(path)
    if not path.is_dir():
        raise NotARunError(f"{path}: not a directory")
    config = _read_json(path / CONFIG, "the run's settings")
    if config is None:
        raise NotARunError(f"{path}: not a run directory (no {CONFIG})")
    for table in TABLE_KEYS:
        if table in config and not isinstance(config[table], dict):
            raise NotARunError(f"{path / CONFIG}: {table} must be a table (a JSON object)")
    return Run(
        path=path,
        config=config,
        metrics=read_metrics(path / METRICS),
        summary=_read_json(path / SUMMARY, "the run's summary"),
        flatness=_read_json(path / FLATNESS, "sampler flatness"),
    )
