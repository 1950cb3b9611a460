"""Reader for the IDX files of MNIST and Fashion-MNIST (LeCun et al.), gzipped or not.

Format: big-endian magic ``0x0000 TT NN`` (TT = 0x08 unsigned bytes, NN = number of dimensions),
then NN big-endian uint32 sizes, then the data. Images are ``[N, 28, 28]`` uint8, labels ``[N]``.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

SPLIT_PREFIXES = {"train": "train", "test": "t10k"}
KINDS = {"images": ("idx3", 3), "labels": ("idx1", 1)}


class DataFileError(ValueError):
    """A data file is missing or malformed; the message names the file."""


def find_idx_file(directory: Path, split: str, kind: str) -> Path | None:
    """``train-images-idx3-ubyte`` and its variants (``.gz``, ``train-images.idx3-ubyte``)."""
    prefix, (tag, _) = SPLIT_PREFIXES[split], KINDS[kind]
    for stem in (f"{prefix}-{kind}-{tag}-ubyte", f"{prefix}-{kind}.{tag}-ubyte"):
        for suffix in ("", ".gz"):
            path = directory / (stem + suffix)
            if path.is_file():
                return path
    return None


def read_idx(path: Path, kind: str) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError, zlib.error) as error:
        raise DataFileError(f"{path}: cannot read ({error})") from error
    _, expected_dims = KINDS[kind]
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] != expected_dims:
        raise DataFileError(
            f"{path}: not an IDX {kind} file (expected magic 0x000008{expected_dims:02x}, "
            f"got 0x{raw[:4].hex()})"
        )
    header = 4 + 4 * expected_dims
    if len(raw) < header:
        raise DataFileError(f"{path}: truncated header")
    shape = tuple(int(s) for s in np.frombuffer(raw[4:header], dtype=">u4"))
    count = int(np.prod(shape))
    if len(raw) != header + count:
        raise DataFileError(
            f"{path}: header promises {count} bytes of data for shape {shape}, "
            f"file has {len(raw) - header}"
        )
    if shape[0] == 0:
        raise DataFileError(f"{path}: holds no {kind} (the header says 0 items)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_pair(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(images [N, 28, 28] uint8, labels [N] uint8)`` of one split, or None when both files are
    absent; one without the other is an error."""
    images = find_idx_file(directory, split, "images")
    labels = find_idx_file(directory, split, "labels")
    if images is None and labels is None:
        return None
    if images is None or labels is None:
        missing = "images" if images is None else "labels"
        raise DataFileError(
            f"{directory}: has the {split} {'labels' if missing == 'images' else 'images'} "
            f"but not {SPLIT_PREFIXES[split]}-{missing}-{KINDS[missing][0]}-ubyte[.gz]"
        )
    x, y = read_idx(images, "images"), read_idx(labels, "labels")
    if x.shape[0] != y.shape[0]:
        raise DataFileError(f"{directory}: {x.shape[0]} {split} images but {y.shape[0]} labels")
    if y.size and int(y.max()) > 9:
        raise DataFileError(f"{labels}: label {int(y.max())} outside 0..9")
    return x, y
