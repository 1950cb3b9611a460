"""A checkpoint carries the digest of its file and of its contents: a flipped bit anywhere in
it (every bit of every byte is tried), an edited step or counter, a tensor in another dtype
or an emptied field is refused with one line naming the file, which offers the previous good
checkpoint (``checkpoint.prev.pt``); continuing from that one is bit-identical to a run that
was never interrupted."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from sampler.cli.main import main
from sampler.runs import directory as directory_module
from sampler.runs.checkpoint_format import payload_digest, sealed, signed_file, verified_file
from sampler.runs.directory import RunDirectory
from sampler.runs.files import RunFileError
from tests.helpers.mixture_runs import MIXTURE

pytestmark = pytest.mark.reliability
RUN = [*MIXTURE, "--samples", "20", "--batch-size", "10", "--quiet", "--checkpoint-every", "1"]


def train(*args) -> int:
    return main(["train", *map(str, args)])


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("digest") / "run"
    assert train(*RUN, "--steps", 3, "--out", out) == 0
    return out


def test_every_flipped_bit_of_the_file_is_refused(run):
    data = (run / "checkpoint.pt").read_bytes()
    assert verified_file(data, run / "checkpoint.pt") == data
    refused = 0
    for index in range(len(data)):
        for bit in range(8):
            damaged = bytearray(data)
            damaged[index] ^= 1 << bit
            with pytest.raises(RunFileError, match="checkpoint.pt: damaged"):
                verified_file(bytes(damaged), run / "checkpoint.pt")
            refused += 1
    assert refused == 8 * len(data) > 8 * 2000


def test_flipped_bits_are_refused_on_load_and_the_previous_one_offered(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    data = (run / "checkpoint.pt").read_bytes()
    for index in range(0, len(data), 97):  # spread over the file: headers, names, tensors
        damaged = bytearray(data)
        damaged[index] ^= 1 << (index % 8)
        (copy / "checkpoint.pt").write_bytes(bytes(damaged))
        with pytest.raises(RunFileError) as refused:
            RunDirectory(copy).load_checkpoint()
        line = str(refused.value)
        assert "\n" not in line and f"{copy / 'checkpoint.pt'}: damaged" in line
        assert f"previous checkpoint (update 2) is kept: to continue from it, move {copy}" in line


def _edits():
    yield "step edited", lambda c: c.update(step=c["step"] - 1)
    yield (
        "a counter edited",
        lambda c: c["totals"].update({k: v + 1 for k, v in c["totals"].items()}),
    )
    yield "params in float64", lambda c: c.update(params=c["params"].double())
    yield "params in float16", lambda c: c.update(params=c["params"].half())
    yield "one parameter changed", lambda c: c["params"].__setitem__(0, c["params"][0] + 1e-7)
    yield "state emptied", lambda c: c.update(state={})
    yield "counters emptied", lambda c: c.update(totals={})
    yield "digest removed", lambda c: c.pop("digest")


@pytest.mark.parametrize("label, edit", list(_edits()), ids=[label for label, _ in _edits()])
def test_an_edited_checkpoint_is_refused_even_when_resigned(run, tmp_path, label, edit):
    """Edited through torch.load/torch.save (no file digest), and also with a valid file
    digest around the edited contents: the contents' digest still refuses it."""
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    edit(checkpoint)
    path = tmp_path / "checkpoint.pt"
    torch.save(checkpoint, path)
    with pytest.raises(RunFileError, match="checkpoint.pt: damaged"):
        RunDirectory(tmp_path).load_checkpoint()
    buffer = path.read_bytes()
    path.write_bytes(signed_file(buffer))
    with pytest.raises(RunFileError, match="checkpoint.pt: damaged"):
        RunDirectory(tmp_path).load_checkpoint()


def test_the_digest_sees_every_part_of_the_payload():
    payload = {"step": 1, "params": torch.zeros(3), "totals": {"a": 1}, "config": {"x": [1, 2]}}
    first = payload_digest(payload)
    assert payload_digest(sealed(payload)) == first  # its own entry left out
    changes = [
        {**payload, "step": 2},
        {**payload, "step": 1.0},
        {**payload, "params": torch.zeros(3, dtype=torch.float64)},
        {**payload, "params": torch.zeros(1, 3)},
        {**payload, "params": torch.tensor([0.0, 0.0, -0.0])},
        {**payload, "totals": {"a": True}},
        {**payload, "config": {"x": (1, 2)}},
        {**payload, "config": {"x": [2, 1]}},
    ]
    assert all(payload_digest(change) != first for change in changes)


def test_resume_refuses_a_damaged_checkpoint_and_continues_from_the_previous(run, tmp_path, capsys):
    copy, whole = tmp_path / "run", tmp_path / "whole"
    shutil.copytree(run, copy)
    data = bytearray((copy / "checkpoint.pt").read_bytes())
    data[len(data) // 2] ^= 4
    (copy / "checkpoint.pt").write_bytes(bytes(data))
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        train("--resume", copy, "--steps", 5)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert stop.value.code == 2 and len(lines) == 1 and "checkpoint.pt: damaged" in lines[0]
    shutil.move(copy / "checkpoint.prev.pt", copy / "checkpoint.pt")  # as the line says
    assert train("--resume", copy, "--steps", 5) == 0
    assert train(*RUN, "--steps", 5, "--out", whole) == 0
    steps = [json.loads(line)["step"] for line in (copy / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]
    load = lambda path: torch.load(path / "checkpoint.pt", weights_only=True)  # noqa: E731
    assert torch.equal(load(copy)["params"], load(whole)["params"])


def test_the_metrics_reach_the_disk_before_the_checkpoint_that_counts_them(tmp_path, monkeypatch):
    synced = []
    real_fsync = directory_module.os.fsync

    def fsync(fd):
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")).name)
        real_fsync(fd)

    monkeypatch.setattr(directory_module.os, "fsync", fsync)
    run = RunDirectory(tmp_path)
    run.create({"model": "linear"})
    run.append_metrics({"step": 1})
    run.save_checkpoint({"step": 1, "params": torch.zeros(2)})
    assert synced[0].startswith(".config.json.")  # config.json: written whole, fsync-ed
    assert synced[1:] == ["metrics.jsonl", "checkpoint.pt.tmp"]
    run.save_checkpoint({"step": 2, "params": torch.ones(2)})
    assert torch.load(tmp_path / "checkpoint.prev.pt", weights_only=True)["step"] == 1
