"""The marginalised first layer's quadratic sums, formed only for the chosen beta, are bit for bit
the running sums over every beta that they replace (``sampler.estimators.first_layer_sums``)."""

from __future__ import annotations

import pytest
import torch

from sampler.estimators import first_layer_sums
from sampler.estimators.first_layer_sums import FirstLayerSums, pair_spread

GRID, BATCH, WIDTH = 5, 4, 6


def running_sums(events) -> torch.Tensor:
    """The full ``[G, h, B, B]`` sums kept block by block (the scheme before the deferral)."""
    q = torch.zeros(GRID, WIDTH, BATCH, BATCH, dtype=torch.float64)
    for kind, value in events:
        if kind == "scale":
            q.mul_((value * value)[:, None, None, None])
        else:
            q.add_(torch.einsum("gli,gmi->gilm", value, value))
    return q


def feed(sums: FirstLayerSums, events) -> None:
    for kind, value in events:
        if kind == "scale":
            sums.rescale(value)
        else:
            sums.add(value, value.sum(dim=(1, 2)))


def random_events(blocks: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    events = []
    for b in range(blocks):
        if b and b % 3 == 0:  # the smallest loss dropped: every sum rescaled
            events.append(("scale", torch.rand(GRID, generator=generator, dtype=torch.float64)))
        block = torch.randn(GRID, BATCH, WIDTH, generator=generator, dtype=torch.float64)
        events.append(("block", block))
    return events


@pytest.mark.parametrize("kept_bytes", [first_layer_sums.KEPT_BYTES, 3000])
def test_chosen_beta_quadratic_sums_equal_the_running_sums(monkeypatch, kept_bytes):
    # 3000 bytes: the kept blocks are folded every few blocks (bounded memory), same numbers
    monkeypatch.setattr(first_layer_sums, "KEPT_BYTES", kept_bytes)
    upper = torch.triu_indices(BATCH, BATCH)
    events = random_events(20)
    reference = running_sums(events)[:, :, upper[0], upper[1]]  # [G, h, pairs]
    sums = FirstLayerSums(GRID, BATCH, WIDTH, "cpu", upper)
    feed(sums, events)
    if kept_bytes < first_layer_sums.KEPT_BYTES:
        assert sums.folded is not None
    for index in range(GRID):
        assert torch.equal(sums.quadratic(index), reference[index])
        payload = sums.payload(index)
        assert torch.equal(payload[-reference[index].numel() :], reference[index].flatten())


def test_a_replay_that_skips_the_rescaling_is_refused():
    upper = torch.triu_indices(BATCH, BATCH)
    events = random_events(20)
    reference = running_sums(events)[:, :, upper[0], upper[1]]
    wrong = FirstLayerSums(GRID, BATCH, WIDTH, "cpu", upper)
    feed(wrong, [event for event in events if event[0] == "block"])
    assert not torch.allclose(wrong.quadratic(2), reference[2], rtol=1e-3)


def test_linear_sums_are_kept_for_every_beta():
    upper = torch.triu_indices(BATCH, BATCH)
    events = random_events(7)
    sums = FirstLayerSums(GRID, BATCH, WIDTH, "cpu", upper)
    feed(sums, events)
    s = torch.zeros(GRID, BATCH, WIDTH, dtype=torch.float64)
    for kind, value in events:
        s = s * value[:, None, None] if kind == "scale" else s + value
    assert torch.allclose(sums.s, s, rtol=1e-12, atol=0)


def test_pair_spread_over_rows_is_the_column_formula_bit_for_bit():
    """``pair_spread`` gathers rows of ``S`` and ``P`` (``[pairs, h]``) instead of columns of
    their transposes: every element goes through the same operations, so the same numbers."""
    batch, width = 20, 200
    generator = torch.Generator().manual_seed(0)
    s, p = (torch.randn(batch, width, dtype=torch.float64, generator=generator) for _ in "sp")
    low, high = torch.triu_indices(batch, batch)
    q = torch.randn(width, low.numel(), dtype=torch.float64, generator=generator)
    r, total = 3.7, 11.3
    s_l, s_m, p_l, p_m = s.T[:, low], s.T[:, high], p.T[:, low], p.T[:, high]
    columns = q - (s_l * p_m + p_l * s_m) / total + s_l * s_m * (r / (total * total))
    assert torch.equal(pair_spread(s, p, q, r, total, low, high), columns)
