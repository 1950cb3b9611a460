"""The ``--out DIR`` of a command that writes files into a folder (``sampler compare``,
``sampler flatness``): checked before any work, so that a path that cannot become a folder (an
existing file, or a path under one) stops the command with one line instead of a traceback after
the work is done."""

from __future__ import annotations

from pathlib import Path


def out_folder_error(out: Path) -> str | None:
    """Why ``out`` cannot be (or be made) a folder, or None: its nearest existing ancestor (itself
    included) must be a folder."""
    for folder in (out, *out.parents):
        if folder.exists():
            if folder.is_dir():
                return None
            what = "exists" if folder == out else f"is under {folder}, which exists"
            return f"--out {out}: {what} and is not a folder; give a folder (new or existing)"
    return None
