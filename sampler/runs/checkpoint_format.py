"""What a checkpoint of sampler holds: plain data only (tensors, dicts, lists, tuples, numbers,
strings, None: ``check_plain``, checked on writing, so that it loads with
``torch.load(weights_only=True)`` and loading one never runs foreign code), two digests, and the
keys and shapes a run writes (``check_checkpoint``, checked on reading).

* The payload's digest (``sealed``, an entry ``digest``): SHA-256 over a canonical walk of the
  payload (``payload_digest``): every key, the type and value of every number and string, every
  tensor's dtype, shape and raw bytes. An edited step, counter or setting, a flipped bit in the
  parameters or the state, or a tensor saved in another dtype no longer matches.
* The file's digest (``signed_file``): SHA-256 of the whole file as ``torch.save`` wrote it, kept
  in the zip archive's comment (``sampler-sha256:HEX``; ``torch.load`` and ``zipfile`` ignore
  it). Half of a checkpoint's bytes are the archive's own headers and names, which
  ``torch.load`` reads past without noticing a flip; with this digest a flipped bit anywhere in
  the file is refused (``verified_file``).

Both are checked before anything of a checkpoint is used; a mismatch is one line naming the file.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import warnings
from pathlib import Path
from typing import Any

import torch

from sampler.runs.files import RunFileError

CHECKPOINT_KEYS = {"step", "params", "state", "elapsed", "step_seconds", "totals", "config"}
PLAIN = (bool, int, float, str, type(None), torch.Tensor)


def check_plain(value: Any, where: str = "checkpoint") -> None:
    """``TypeError`` if ``value`` holds anything a weights-only load would refuse."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: key {key!r} is not a string or an integer")
            check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_plain(item, f"{where}[{index}]")
    elif not isinstance(value, PLAIN):
        raise TypeError(f"{where}: a {type(value).__name__} has no place in a checkpoint")


DIGEST = "digest"
FILE_DIGEST = b"sampler-sha256:"
COMMENT_SIZE = len(FILE_DIGEST) + 64
END_OF_ARCHIVE = b"PK\x05\x06"  # the zip end-of-central-directory record, 22 bytes + comment


def signed_file(data: bytes) -> bytes:
    """``torch.save``'s bytes with their SHA-256 as the archive's comment."""
    if data[-22:-18] != END_OF_ARCHIVE or data[-2:] != b"\0\0":
        raise ValueError("torch.save wrote no zip archive without a comment")
    body = data[:-2]
    comment = FILE_DIGEST + hashlib.sha256(body).hexdigest().encode()
    return body + struct.pack("<H", len(comment)) + comment


def verified_file(data: bytes, path: Path) -> bytes:
    """``data`` if it ends with the digest of the rest; ``RunFileError`` naming ``path`` if not."""
    comment = data[-COMMENT_SIZE:]
    length = data[-COMMENT_SIZE - 2 : -COMMENT_SIZE]
    record = data[-COMMENT_SIZE - 22 : -COMMENT_SIZE - 18]
    signed = (
        len(data) > COMMENT_SIZE + 22
        and comment.startswith(FILE_DIGEST)
        and length == struct.pack("<H", COMMENT_SIZE)
        and record == END_OF_ARCHIVE
    )
    if not signed:
        raise RunFileError(f"{path}: damaged or not written by this sampler (no file digest)")
    body = data[: -COMMENT_SIZE - 2]
    if hashlib.sha256(body).hexdigest().encode() != comment[len(FILE_DIGEST) :]:
        raise RunFileError(f"{path}: damaged (the file does not match its digest)")
    return data


def _feed(digest, value: Any) -> None:
    """Feed ``value`` to ``digest`` in a canonical form: a type tag, then the contents."""
    if isinstance(value, dict):
        digest.update(b"d" + struct.pack("<q", len(value)))
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update((b"l" if isinstance(value, list) else b"t") + struct.pack("<q", len(value)))
        for item in value:
            _feed(digest, item)
    elif isinstance(value, torch.Tensor):
        flat = value.detach().cpu().contiguous().reshape(-1)
        header = f"T{flat.dtype}:{tuple(value.shape)}:".encode()
        digest.update(header + flat.view(torch.uint8).numpy().tobytes())
    else:
        text = f"{type(value).__name__}:{value!r}".encode()
        digest.update(b"v" + struct.pack("<q", len(text)) + text)


def payload_digest(payload: dict) -> str:
    """The SHA-256 (hex) of everything in ``payload`` but its own ``digest`` entry."""
    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in payload.items() if k != DIGEST})
    return digest.hexdigest()


def sealed(payload: dict) -> dict:
    """``payload`` with its digest, as a checkpoint is written."""
    return {**payload, DIGEST: payload_digest(payload)}


def check_digest(checkpoint: dict, path: Path) -> None:
    """``RunFileError`` naming ``path`` if the checkpoint's digest is missing or does not match."""
    written = checkpoint.get(DIGEST)
    if not isinstance(written, str):
        raise RunFileError(f"{path}: damaged or not written by this sampler (no digest)")
    try:
        matches = payload_digest(checkpoint) == written
    except (TypeError, RuntimeError, ValueError):  # a tensor that cannot be read as bytes
        matches = False
    if not matches:
        raise RunFileError(f"{path}: damaged (its contents do not match their digest)")


def read_checkpoint(path: Path) -> dict:
    """The checkpoint in ``path``, both digests and its shape checked; ``RunFileError`` naming
    it if it is not a regular file, is damaged or is not what sampler writes."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would hang, a device never end
            raise RunFileError(f"{path}: not a regular file (a checkpoint is one)")
        data = path.read_bytes()
    except OSError as error:
        raise RunFileError(f"{path}: cannot read ({error.strerror})") from None
    verified_file(data, path)
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles before refusing
            warnings.simplefilter("ignore")
            checkpoint = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many kinds for a bad file
        text = str(error).strip()
        if "Weights only load failed" in text:
            reason = "it holds objects other than tensors, numbers, strings, lists and dicts"
        else:
            first = (text.splitlines() or [type(error).__name__])[0]
            reason = first.split(". ")[0][:160]  # torch's first sentence
        raise RunFileError(f"{path}: not a readable checkpoint ({reason})") from None
    return check_checkpoint(checkpoint, path)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_checkpoint(checkpoint: Any, path: Path) -> dict:
    """The checkpoint if it has the shape sampler writes; ``RunFileError`` naming it if not."""
    what = "not a checkpoint of sampler"
    if not isinstance(checkpoint, dict):
        raise RunFileError(f"{path}: {what} (holds a {type(checkpoint).__name__})")
    check_digest(checkpoint, path)
    missing = sorted(CHECKPOINT_KEYS - set(checkpoint))
    if missing:
        raise RunFileError(f"{path}: {what} (no {', '.join(missing)})")
    step, params = checkpoint["step"], checkpoint["params"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise RunFileError(f"{path}: {what} (step {step!r} is not a count of updates)")
    if not isinstance(params, torch.Tensor) or params.dim() != 1 or not params.is_floating_point():
        raise RunFileError(f"{path}: {what} (params is not a vector of numbers)")
    if not bool(torch.isfinite(params).all()):
        raise RunFileError(f"{path}: its parameters are not all finite")
    if not (_number(checkpoint["elapsed"]) and _number(checkpoint["step_seconds"])):
        raise RunFileError(f"{path}: {what} (elapsed times are not numbers)")
    totals, config = checkpoint["totals"], checkpoint["config"]
    if not isinstance(totals, dict) or not all(_number(v) for v in totals.values()):
        raise RunFileError(f"{path}: {what} (totals are not counts)")
    if not isinstance(config, dict):
        raise RunFileError(f"{path}: {what} (config is not a table)")
    return checkpoint
