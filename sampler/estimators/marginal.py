"""Importance sampling with the dense first layer marginalised exactly (``--proposal marginal``).

Setting: the model's first layer is dense (``models.interface.InputLayer``) and the minibatch
``X [B, n]`` has fewer rows than inputs (``B < n``; the paper's B = 20 < 784). The literal
proposals perturb the first weight ``W [h, n]`` by ``sigma E_j`` (``sigma^2`` the first layer's
tau, ``E_j [h, n]`` standard normal), and the loss sees ``E_j`` only through ``X E_j^T [B, h]``.

Basis: the reduced QR factorisation ``X^T = Q R`` (``Q [n, B]`` orthonormal columns, ``R [B,
B]``) gives ``X = R^T Q^T`` and ``X (I - Q Q^T) = 0``. Split each row ``e`` of ``E_j`` as
``e = Q g + (I - Q Q^T) u`` with ``g = Q^T e ~ N(0, I_B)`` and ``(I - Q Q^T) u`` independent of
``g``. Then::

    X E_j^T = R^T G_j,             G_j = (E_j Q)^T  [B, h]  standard normal,
    E_j     = G_j^T Q^T + U_j (I - Q Q^T),   U_j [h, n] standard normal, independent of G_j.

The weights depend on ``E_j`` only through ``G_j``, so the first-layer part of the weighted sum
is, in law given all ``G_j`` and every other draw::

    sum_j w_j E_j = (sum_j w_j G_j)^T Q^T + sqrt(sum_j w_j^2) Z (I - Q Q^T),   Z [h, n] ~ N(0, I),

(a weighted sum of independent Gaussians given the weights). Each proposal thus draws ``B h``
numbers for the first layer instead of ``n h`` (4,000 instead of 156,800 on the ``mlp``) and the
update has exactly the literal algorithm's law, by a different random stream. Nothing is
inverted, so a rank-deficient ``X X^T`` (repeated or zero images) needs neither a pseudo-inverse
nor jitter: ``Q`` is orthonormal whatever the rank, and where ``X`` has rank ``r < B`` its
``B - r`` extra directions are simply sampled rather than marginalised (still exact). The
factorisation is Householder QR in float64 (backward stable).

Streams: block ``b`` draws its ``G_j`` ``[rows, B, h]`` and then the rest of the vector's noise
``[rows, d - n h]`` from ``(seed, IS_MARGINAL_NOISE, step, b)``; the residual ``Z`` is one draw
per update, made after the sums are merged (the sum over blocks of independent residuals
``sqrt(s2_b) Z_b`` is ``sqrt(s2) Z`` in law), its rows in pieces of ``RESIDUAL_ROWS`` hidden
units, piece ``p`` from ``(seed, IS_RESIDUAL, step, p)``, so one seed gives the same update on any
number of ranks. The first layer's target and variance are formed rank by rank over pieces of
hidden units (rank ``r`` of ``R`` the pieces ``[P r / R, P (r + 1) / R)`` of ``P``: their rows of
the residual, the mean, the pair spreads and the variance's product) and gathered by one
``Allgatherv`` of rows each, so the ``h n`` numbers of the finish are not formed on every rank
(``row_share``; docs/benchmark.md, "Two ranks and the default update"). With ``--beta auto``
(grid) each beta of the grid keeps its own sums and the one chosen uses ``sqrt(s2)`` of its own
weights.

Per block the first layer keeps, for each beta, ``S_b = sum_{j in b} w_j G_j [B, h]`` and the
batch-means sums ``sum_b S_b``, ``sum_b W_b S_b`` and, column ``i`` by column, ``sum_b S_b[:, i]
S_b[:, i]^T [h, B, B]`` (size independent of n and J; the last one formed only for the beta the
update keeps and only over ``l <= m``: ``sampler.estimators.first_layer_sums``). Variance of
the target per first-layer coordinate ``(i, k)``, by ``Var m = Var E[m | G] + E Var(m | G)``:
the first term is the batch means of ``sigma (S_b - S W_b / s1)^T Q^T``, i.e. ``n_b / (n_b - 1)
sigma^2 q_k^T Sigma_i q_k / s1^2`` with ``q_k = Q^T[:, k]`` and ``Sigma_i = sum_b D_b[:, i]
D_b[:, i]^T``; the second is the residual's variance given the weights, known exactly:
``sigma^2 (1 - |q_k|^2) s2 / s1^2``. The other coordinates (the first layer's bias and every
later layer) are sampled literally and summed as in ``sampler.estimators.tilted_sums``.

``--residual mean`` (``residual="mean"``) replaces the residual by its conditional mean given
every other draw, zero: ``m' = E[m | G, rest]`` (Rao-Blackwell; Robert and Casella, *Monte Carlo
Statistical Methods*, 4.7). It has ``m``'s expectation (the same self-normalised estimate in
the span, hence the same bias and limit) and a variance smaller by the residual's,
``sigma^2 (1 - |q_k|^2) sum_j c_j^2`` per coordinate, nearly all of ``m``'s where ``B << n``
(about ``1 - B / n`` of it where the weights vary little with the in-span draws: 97% on the
``mlp``; the ``c_j`` are ``w_j / s1``, less ``1 / J`` with the control variate). It is also
the exact answer there: the minibatch's loss does not depend on the weight's component in
``(I - Q Q^T)``, so the tilted measure ``q`` leaves it ``N(W (I - Q Q^T), sigma^2)`` and
``E_q`` of it is the centre's. The target then moves the first layer only within the span of
the minibatch's rows, as a gradient step does, and its reported variance is the batch means'
alone. Nothing is drawn for it.
"""

from __future__ import annotations

import math

import torch

from sampler.estimators.control_variate import ColumnCrossSums, weight_square_sum
from sampler.estimators.draws import Drawn, Reused, dense_input, offsets_of
from sampler.estimators.first_layer_sums import FirstLayerSums, pair_rows, pair_spread
from sampler.models import streams

RESIDUAL_ROWS = 50  # hidden units per residual stream and per share of the first layer's finish
RESIDUALS = ("sample", "mean")  # --residual: Z (I - Q Q^T) drawn, or its conditional mean 0


def not_applicable(model, batch_size: int) -> str | None:
    """Why the marginalised scheme cannot run on ``model`` with minibatch ``batch_size``
    (``None``: it can)."""
    layer = dense_input(model)
    if layer is None:
        return "needs a model whose first layer is dense (linear, mlp, musso-mlp)"
    if batch_size >= layer.n_in:
        return (
            f"needs a minibatch smaller than the first layer's {layer.n_in} inputs, got "
            f"--batch-size {batch_size}"
        )
    return None


def pair_scheme(name: str, problem) -> str:
    """The ``--proposal`` of a scheme of antithetic pairs (ES, ``rm-stein``) on ``problem``:
    ``auto`` is ``marginal`` where it applies, else ``antithetic``; ``marginal`` where it does not
    apply is ``ValueError`` naming the flag."""
    reason = not_applicable(getattr(problem, "model", None), getattr(problem, "batch_size", 0))
    if name == "auto":
        return "marginal" if reason is None else "antithetic"
    if name == "marginal" and reason is not None:
        raise ValueError(f"--proposal marginal: {reason}")
    return name


class Marginal:
    """The first layer's ``X E^T`` sampled directly; the rest of the vector literally."""

    name = "marginal"

    def __init__(self, residual: str = "sample") -> None:
        if residual not in RESIDUALS:
            raise ValueError(f"--residual: must be one of {', '.join(RESIDUALS)}, got {residual!r}")
        self.residual_mode = residual
        self._gauss, self._rest, self._products = Reused(), Reused(), Reused()

    def prepare(self, key, center: torch.Tensor, tau, problem) -> None:
        reason = not_applicable(problem.model, problem.batch_size)
        if reason is not None:
            raise ValueError(f"--proposal marginal: {reason}")
        inputs = problem.batch.inputs.reshape(problem.batch_size, -1)
        self.setup(problem.model.input_layer, inputs, center, tau)

    def setup(self, layer, inputs: torch.Tensor, center: torch.Tensor, tau) -> None:
        """The scheme for the dense weight ``layer`` (``InputLayer``, starting at 0 in
        ``center``) fed by ``inputs [B, n_in]``; the rest of ``center`` sampled literally."""
        self.layer = layer
        q, r = torch.linalg.qr(inputs.to(torch.float64).T)  # X^T = Q R
        self.basis64 = q.T.contiguous()  # Q^T [B, n], orthonormal rows
        # q_k^T Sigma q_k for a symmetric Sigma: sum over l <= m of (2 - [l = m]) q_lk q_mk
        upper = torch.triu_indices(q.shape[1], q.shape[1], device=q.device)
        doubled = 2.0 - (upper[0] == upper[1]).to(torch.float64)
        self.upper = upper
        self.pairs = (doubled[:, None] * q.T[upper[0]] * q.T[upper[1]]).to(center.dtype)
        self.factor = r.T.to(center.dtype).contiguous()  # X E^T = R^T G
        weight = center[layer.weight].view(layer.n_out, layer.n_in)
        self.weight64 = weight.to(torch.float64)
        self.base = inputs.to(center.dtype) @ weight.T  # X W^T [B, h]
        tau = torch.as_tensor(tau, dtype=center.dtype, device=center.device)
        first = tau if tau.dim() == 0 else tau[layer.weight]
        if first.dim() and not bool((first == first[0]).all()):
            raise ValueError("--proposal marginal: needs one tau for the whole first-layer weight")
        self.sigma = float(torch.sqrt(first.reshape(-1)[0].to(torch.float64)))
        rest_tau = tau if tau.dim() == 0 else tau[layer.weight.stop :]
        self.rest_scale = torch.sqrt(rest_tau)
        self.rest_center = center[layer.weight.stop :]
        self.batch, self.width = inputs.shape[0], layer.n_out
        self.dim = center.shape[0] - layer.weight.stop

    def points_mean(self) -> torch.Tensor:
        """The known mean of the points the plain sums add up: the centre after the first
        layer's weight (that weight's own control variate is in ``finish``)."""
        return self.rest_center

    def start(self, sums) -> None:
        grid = sums.betas.shape[0]
        self.first = FirstLayerSums(grid, self.batch, self.width, sums.betas.device, self.upper)
        sums.attach(self.first)
        self.cross = None
        if sums.cross is not None:  # the control variate: the grid's last row is beta = 0
            self.cross = ColumnCrossSums(grid - 1, self.first, self.upper.to(sums.betas.device))
            sums.attach(self.cross)

    def numbers_per_sample(self) -> float:
        return float(self.batch * self.width + self.dim)

    def bytes_per_sample(self) -> int:
        return 12 * self.batch * self.width + 4 * self.dim

    def draw(self, key, blocks, block_size: int, center: torch.Tensor) -> Drawn:
        offsets = offsets_of(blocks)
        total = offsets[-1] + blocks[-1][1]
        rows = max(total, block_size)
        gauss = self._gauss.get(rows, (self.batch, self.width), center)
        rest = self._rest.get(rows, (self.dim,), center)
        for (block, count), offset in zip(blocks, offsets):
            generator = streams.torch_generator(
                key.seed, streams.IS_MARGINAL_NOISE, key.step, block, center.device
            )
            gauss[offset : offset + count].normal_(generator=generator)
            rest[offset : offset + count].normal_(generator=generator)
        products = self._products.get(rows, (self.batch, self.width), center)[:total]
        torch.matmul(self.factor, gauss[:total], out=products)  # R^T G_j, [rows, B, h]
        products.mul_(self.sigma).add_(self.base)
        points = rest[:total].mul_(self.rest_scale).add_(self.rest_center)
        return Drawn(blocks, offsets, points, gauss[:total], products)

    def pair_inputs(self, gauss, rest, base=None, center=None):
        """The pairs ``x ± e`` whose first-layer noise is ``G`` (``gauss [K, B, h]``) and whose
        other coordinates' is ``rest [K, d - n h]`` (standard normal), as the loss takes them:
        products ``[2K, B, h]`` and the rest ``[2K, d - n h]``, the ``+`` pairs first. ``base``
        (``X W^T``) and ``center`` (the rest) at another point than the prepared centre."""
        base = self.base if base is None else base
        center = self.rest_center if center is None else center
        shared = torch.matmul(self.factor, gauss).mul_(self.sigma)  # sigma R^T G
        step = rest * self.rest_scale
        return torch.cat([base + shared, base - shared]), torch.cat([center + step, center - step])

    def losses(self, drawn: Drawn, problem) -> torch.Tensor:
        return problem.losses_from_input_products(drawn.products, drawn.points).to(torch.float64)

    def weighted(self, drawn: Drawn, i: int):
        offset, rows = drawn.offsets[i], drawn.blocks[i][1]
        gauss = drawn.noise[offset : offset + rows].reshape(rows, -1)
        points = drawn.points[offset : offset + rows]

        def block_sum(w: torch.Tensor) -> torch.Tensor:
            w32 = w.to(points.dtype)
            first = (w32 @ gauss).to(torch.float64).view(-1, self.batch, self.width)
            self.first.add(first, w.sum(dim=1))
            if self.cross is not None:
                self.cross.add(first, w.sum(dim=1))
            return (w32 @ points).to(torch.float64)

        return block_sum

    def residual(self, key, device, rows: slice | None = None) -> torch.Tensor:
        """``Z (I - Q Q^T)`` ``[h, n]`` float64, or its ``rows`` (pieces of ``RESIDUAL_ROWS``
        hidden units, piece ``p`` from the update's residual stream ``p``)."""
        rows = slice(0, self.width) if rows is None else rows
        if rows.start % RESIDUAL_ROWS:
            raise ValueError(f"the residual's rows start at a piece: {rows}")
        z = torch.empty(rows.stop - rows.start, self.layer.n_in, device=device)
        for piece in range(rows.start // RESIDUAL_ROWS, -(-rows.stop // RESIDUAL_ROWS)):
            low = piece * RESIDUAL_ROWS - rows.start
            generator = streams.torch_generator(
                key.seed, streams.IS_RESIDUAL, key.step, piece, device
            )
            z[low : low + RESIDUAL_ROWS].normal_(generator=generator)
        z = z.to(torch.float64)
        return z - (z @ self.basis64.T) @ self.basis64

    def finish(self, key, estimate, center, tau, comm) -> tuple[torch.Tensor, torch.Tensor]:
        """The first layer's target and variance, each rank forming the rows of its share of
        the hidden units (``row_share``) and one gather of rows putting them together; the
        other coordinates' from the merged sums."""
        width, n_in = self.width, self.layer.n_in
        merged = estimate.attached[0]
        cells = width * n_in
        # the same operations as ``W + sigma (mean^T Q^T + sqrt(squares) Z (I - Q Q^T))``, in
        # place and into the flat outputs (no concatenation of the first layer's h n numbers)
        target = merged.new_empty(cells + estimate.target.numel())
        variance = merged.new_empty(cells + estimate.variance.numel())
        first_target = target[:cells].view(width, n_in)
        first_variance = variance[:cells].view(width, n_in)
        counts, rows = row_share(width, comm)
        if len(counts) == 1:
            self._first_rows(key, estimate, rows, first_target, first_variance)
        else:
            own = merged.new_empty(2, rows.stop - rows.start, n_in)
            self._first_rows(key, estimate, rows, own[0], own[1])
            comm.allgather_rows(own[0], counts, first_target)
            comm.allgather_rows(own[1], counts, first_variance)
        target[cells:] = estimate.target
        variance[cells:] = estimate.variance
        return target, variance

    def _first_rows(self, key, estimate, rows: slice, target, variance) -> None:
        """The first layer's target and variance on the hidden units ``rows`` into ``target``
        and ``variance`` (``[rows, n]`` float64)."""
        batch, width = self.batch, self.width
        merged = estimate.attached[0]
        size = batch * width
        s = merged[:size].view(batch, width)[:, rows]
        p = merged[size : 2 * size].view(batch, width)[:, rows]
        q = merged[2 * size :].view(width, -1)[rows]  # [rows, pairs l <= m]
        s1, s2, r, blocks = estimate.s1, estimate.s2, estimate.r, estimate.blocks
        basis = self.basis64.to(merged.device)
        low, high = self.upper.to(merged.device)
        squares, controlled = s2 / (s1 * s1), None
        drawn = self.residual_mode == "sample"
        # Z (I - Q Q^T) on these rows; with --residual mean its conditional mean, 0: not drawn
        outside = self.residual(key, merged.device, rows) if drawn else None
        if self.cross is None:
            deviation = (s.T @ basis).div_(s1)
            if drawn:
                deviation.add_(outside.mul_(math.sqrt(s2) / s1))
        else:
            mean, squares, controlled = self._controlled(estimate, s / s1, rows)
            deviation = mean.T @ basis
            if drawn:
                deviation.add_(outside.mul_(math.sqrt(squares)))
        weight = self.weight64[rows].to(merged.device)
        torch.add(weight, deviation.mul_(self.sigma), out=target)
        if blocks >= 2:
            sigma_i = pair_spread(s, p, q, r, s1, low, high)
            if controlled is not None:
                sigma_i = sigma_i + controlled
            upper = sigma_i.to(self.pairs.dtype).contiguous()  # [rows, pairs], row-major
            quadratic = (upper @ self.pairs).to(torch.float64).clamp_min_(0.0)  # [rows, n]
            means = quadratic.mul_(blocks / (blocks - 1)).div_(s1 * s1)
            if drawn:  # the residual's variance given the weights (none for its mean)
                residual = (1.0 - (basis * basis).sum(dim=0)).clamp_min_(0.0) * squares
                means.add_(residual)
            torch.mul(means, self.sigma**2, out=variance)
        else:
            variance.fill_(math.nan)

    def _controlled(self, estimate, mean, rows: slice):
        """The control variate's first layer (``sampler.estimators.control_variate``) on the
        hidden units ``rows``: the in-span mean ``S / s1 - S_0 / J`` (``mean``: ``S / s1`` of
        those units), ``sum_j c_j^2`` for the residual, and the plain row's and the cross terms
        of the summed deviations over the pairs ``[rows, pairs]``, in units of ``1 / s1^2``."""
        batch, width = self.batch, self.width
        size, pairs = batch * width, self.upper.shape[1]
        parts = estimate.attached[1].split([size, size, width * pairs, width * pairs, size, size])
        s0, p0 = parts[0].view(batch, width)[:, rows], parts[1].view(batch, width)[:, rows]
        q0, x = parts[2].view(width, pairs)[rows], parts[3].view(width, pairs)[rows]
        n, y = parts[4].view(batch, width)[:, rows], parts[5].view(batch, width)[:, rows]
        s1, count, v = estimate.s1, estimate.count, estimate.cross_v
        low, high = self.upper.to(s0.device)
        plain = s0 / count
        plain_sigma = pair_rows(s0, p0, q0, estimate.plain_r, count, low, high)
        at = lambda a: (a[low], a[high])  # noqa: E731  [pairs, h]: rows l and m
        (m_l, m_m), (z_l, z_m), (n_l, n_m), (y_l, y_m) = at(mean), at(plain), at(n), at(y)
        cross = (
            x.T - (n_l * z_m + z_l * n_m) - (m_l * y_m + y_l * m_m) + (m_l * z_m + z_l * m_m) * v
        )
        spread = plain_sigma * (s1 * s1 / (count * count)) - cross * (s1 / count)
        return mean - plain, weight_square_sum(s1, estimate.s2, count), spread.T


def row_share(width: int, comm) -> tuple[list[int], slice]:
    """The hidden units whose first-layer target and variance each rank forms: the pieces of
    ``RESIDUAL_ROWS`` units split into ``comm.size`` runs in rank order; ``(rows per rank,
    this rank's rows)``. One run (every unit on every rank) on one rank, with a single piece,
    or with a communicator that cannot gather rows."""
    pieces = -(-width // RESIDUAL_ROWS)
    if comm.size == 1 or pieces < 2 or not hasattr(comm, "allgather_rows"):
        return [width], slice(0, width)
    bounds = [min(width, RESIDUAL_ROWS * (pieces * r // comm.size)) for r in range(comm.size + 1)]
    counts = [high - low for low, high in zip(bounds, bounds[1:])]
    return counts, slice(bounds[comm.rank], bounds[comm.rank + 1])
