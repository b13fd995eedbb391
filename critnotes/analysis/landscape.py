"""Loss-landscape ruggedness by single-parameter perturbation (paper 002, Fig 4, S14–S18).

After training, one parameter θ_d at a time is moved to θ_d ± ε and the loss on the *whole*
training set is re-evaluated; the statistic is ΔL = L(θ ± ε e_d) − L(θ).

Two implementations that compute the same numbers:

* :func:`scan_naive` — the reference: one full forward pass of the whole training set per trial.
* :func:`scan` — the fast one.  Perturbing ``W[i, j]`` of Linear layer ``l`` by ε changes only
  output unit ``i``, by ``ε·x_j`` (``ε`` for the bias ``b[i]``), where ``x`` is the cached input
  to layer ``l``.  After the activation the change is a vector ``δa`` over samples, non-zero only
  where the unit's output really moved (a ReLU unit that stays off, or a zero input pixel, changes
  nothing), and the next layer receives the rank-1 change ``δa ⊗ W_{l+1}[:, i]``.  So only the
  affected (trial, sample) rows are pushed through the remaining layers, many trials at once,
  and the per-sample loss differences are summed per trial.  Exact, not an approximation
  (tested equal to the naive scan; ``benchmarks/perturbation.py`` measures the speed-up).

:func:`synthetic_curvatures` / :func:`synthetic_scan` build the paraboloid landscapes
``f(x) = Σ_d c_d x_d²`` of the paper's Methods ("Simulated Synthetic Landscapes", Figs S16–S18)
with a planted curvature distribution, to check that the perturbation statistics recover it.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from critnotes.analysis.layers import feedforward
from critnotes.analysis.losses import loss_per_sample

__all__ = ["Trials", "random_trials", "scan", "scan_naive", "CURVATURE_FAMILIES", "synthetic_curvatures",
           "synthetic_scan"]

CURVATURE_FAMILIES = ("gaussian", "power_law", "exponential", "lognormal")


@dataclasses.dataclass(frozen=True)
class Trials:
    """Which parameters to perturb: ``layer[k]`` (index among the Linear layers) and ``index[k]``,
    the position in that layer's ``[weight.ravel(), bias]``."""

    layer: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.layer)


def _linears(model: nn.Module) -> tuple[list[nn.Linear], list[nn.Module]]:
    """The Linear layers of a feed-forward MLP and the activation after each hidden one."""
    ff = feedforward(model)
    return ff.linears, ff.activations


def random_trials(model: nn.Module, per_layer: int, seed: int = 0) -> Trials:
    """``per_layer`` distinct random parameters (weights and biases) of every Linear layer (paper: 5,000).

    A layer with fewer parameters contributes all of them (the 784-50-50-50-50-10 MLP's hidden layers
    have 2,550 and its output layer 510, so ``per_layer=5000`` gives fewer than the paper's 25,000
    trials; ``len(trials)`` is the number drawn).
    """
    if per_layer < 1:
        raise ValueError(f"per_layer must be >= 1, got {per_layer}")
    lins, _ = _linears(model)
    rng = np.random.default_rng(seed)
    layer, index = [], []
    for li, lin in enumerate(lins):
        n = lin.weight.numel() + (lin.bias.numel() if lin.bias is not None else 0)
        k = min(per_layer, n)
        layer.append(np.full(k, li))
        index.append(np.sort(rng.choice(n, size=k, replace=False)))
    return Trials(np.concatenate(layer), np.concatenate(index))


def _check(model, x, y, eps, trials) -> None:
    """Clear errors for a model that is not an MLP, empty or mismatched data, ε = 0, bad layer indices."""
    lins, _ = _linears(model)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must be non-empty and of equal length, got {len(x)} and {len(y)}")
    if not np.isfinite(eps) or eps == 0:
        raise ValueError(f"eps must be a finite non-zero number, got {eps!r}")
    if len(trials) and (trials.layer.min() < 0 or trials.layer.max() >= len(lins)):
        raise ValueError(f"trial layers must lie in [0, {len(lins)}), got {trials.layer.min()}…{trials.layer.max()}")


@torch.no_grad()
def scan_naive(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, trials: Trials, *,
               loss: str = "ce", dtype=torch.float64, signs=(1, -1)) -> np.ndarray:
    """Reference ΔL for every trial and sign: a full forward pass of all of ``x`` per trial.

    Returns ``(len(signs), len(trials))``: ``L(θ + s·ε e_d) − L(θ)`` on the whole of ``(x, y)``.
    """
    _check(model, x, y, eps, trials)
    m = _copy(model, dtype, x.device)
    mlins, _ = _linears(m)
    xx = x.to(dtype)
    base = loss_per_sample(loss, m(xx), y).mean()
    out = np.empty((len(signs), len(trials)))
    for k, (li, idx) in enumerate(zip(trials.layer, trials.index)):
        lin = mlins[li]
        nw = lin.weight.numel()
        p, j = (lin.weight.view(-1), idx) if idx < nw else (lin.bias, idx - nw)
        old = p[j].clone()
        for si, s in enumerate(signs):
            p[j] = old + s * eps
            out[si, k] = float(loss_per_sample(loss, m(xx), y).mean() - base)
        p[j] = old
    return out


def _copy(model: nn.Module, dtype, device) -> nn.Module:
    import copy

    m = copy.deepcopy(model).to(device=device, dtype=dtype)
    m.eval()
    return m


@torch.no_grad()
def scan(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, trials: Trials, *, loss: str = "ce",
         dtype=torch.float64, signs=(1, -1), max_rows: int = 1 << 15) -> np.ndarray:
    """Fast exact ΔL for every trial and sign (same result as :func:`scan_naive`).

    Caches each Linear layer's input and pre-activation over ``x``; for a batch of trials in layer
    ``l`` only the (trial, sample) rows whose unit output changed are propagated through layers
    ``l+1 …`` (the first of them as a rank-1 update).  ``max_rows`` bounds the rows per batch (memory).
    The cost is proportional to the rows that move, so a large ε (which switches more ReLU units on) costs
    more than a small one.
    Returns ``(len(signs), len(trials))``.  Used for paper 002, Fig 4.
    """
    _check(model, x, y, eps, trials)
    lins, acts = _linears(_copy(model, dtype, x.device))
    n = len(y)
    # cached forward: inputs[l] to Linear l, pre[l] its output (pre-activation)
    inputs, pre = [], []
    h = x.to(dtype).flatten(1)
    for li, lin in enumerate(lins):
        inputs.append(h)
        z = lin(h)
        pre.append(z)
        h = acts[li](z) if li < len(acts) else z
    base = loss_per_sample(loss, pre[-1], y)                           # per-sample loss at θ
    w_rows = [lin.weight.t().contiguous() for lin in lins]        # w_rows[l][i] = W_l[:, i], contiguous
    out = np.zeros((len(signs), len(trials)))

    def tail_loss(li: int, rows: torch.Tensor, unit: torch.Tensor, change: torch.Tensor) -> torch.Tensor:
        """Per-row loss when unit ``unit`` of layer ``li`` changes by ``change`` at samples ``rows`` (its
        pre-activation for the output layer, its activation for a hidden one)."""
        if li == len(lins) - 1:
            logits = pre[li].index_select(0, rows)
            logits[torch.arange(len(rows), device=rows.device), unit] += change
            return loss_per_sample(loss, logits, y.index_select(0, rows))
        z = pre[li + 1].index_select(0, rows).addcmul_(change[:, None], w_rows[li + 1].index_select(0, unit))
        for lj in range(li + 2, len(lins)):                      # ^ rank-1 change of layer li+1
            z = lins[lj](acts[lj - 1](z))
        return loss_per_sample(loss, z, y.index_select(0, rows))

    chunk = max(1, max_rows // (n * len(signs)))
    for li in np.unique(trials.layer):
        lin = lins[li]
        n_out, n_in = lin.weight.shape
        in_layer = np.flatnonzero(trials.layer == li)
        for start in range(0, len(in_layer), chunk):
            ks = in_layer[start:start + chunk]
            idx = torch.as_tensor(trials.index[ks], device=x.device)
            is_w = idx < n_out * n_in
            unit = torch.where(is_w, idx // n_in, idx - n_out * n_in)
            col = torch.where(is_w, idx % n_in, 0)
            xin = torch.where(is_w[None, :], inputs[li][:, col], 1.0)  # (n, K) = ∂z_unit/∂θ
            # all signs at once: column s·K + k is trial k with sign s
            units = unit.repeat(len(signs))
            dz = torch.cat([(s * eps) * xin for s in signs], dim=1)
            if li < len(acts):                                   # change of the unit's activation
                z_old = pre[li][:, units]
                change = acts[li](z_old + dz) - acts[li](z_old)
            else:
                change = dz
            # only the (sample, trial) pairs whose unit output really changes go through the tail
            flat = change.view(-1).nonzero().squeeze(1)
            rows, kk = flat // change.shape[1], flat % change.shape[1]
            acc = torch.zeros(len(signs) * len(ks), dtype=dtype, device=x.device)
            if len(rows):
                d = tail_loss(int(li), rows, units.index_select(0, kk), change.view(-1).index_select(0, flat))
                acc.index_add_(0, kk, d - base.index_select(0, rows))
            out[:, ks] = (acc / n).view(len(signs), len(ks)).cpu().numpy()
    return out


def synthetic_curvatures(family: str, D: int, seed: int = 0, *, alpha: float = 2.5, sigma: float = 1.0) -> np.ndarray:
    """``D`` curvature coefficients ``c_d`` of a planted family (paper 002 Methods, Figs S16–S18).

    ``gaussian``: N(0, 1) (curvatures of both signs); ``power_law``: Pareto ``p(c) ∝ c^-alpha`` on
    ``c ≥ 1``; ``exponential``: Exp(1); ``lognormal``: exp(N(0, sigma²)).
    """
    if family not in CURVATURE_FAMILIES:
        raise ValueError(f"unknown curvature family {family!r}; choose one of {', '.join(CURVATURE_FAMILIES)}")
    if D < 1:
        raise ValueError(f"D must be >= 1, got {D}")
    rng = np.random.default_rng(seed)
    if family == "gaussian":
        return rng.standard_normal(D)
    if family == "power_law":
        if not alpha > 1:
            raise ValueError(f"alpha must be > 1, got {alpha}")
        return (1.0 - rng.random(D)) ** (-1.0 / (alpha - 1.0))
    if family == "exponential":
        return rng.exponential(1.0, D)
    return np.exp(sigma * rng.standard_normal(D))


def synthetic_scan(c: np.ndarray, delta: float, seed: int = 0) -> np.ndarray:
    """|Δf| of ``f(x) = Σ_d c_d x_d²`` when each coordinate of a random ``x ~ U(−1, 1)^D`` is moved by ±δ.

    ``Δf_d = c_d ((x_d ± δ)² − x_d²) = c_d (±2 x_d δ + δ²)`` — the exact change, one coordinate at a
    time.  Returns ``(2, D)``: row 0 for +δ, row 1 for −δ.
    """
    c = np.asarray(c, dtype=float)
    if not np.isfinite(delta) or delta <= 0:
        raise ValueError(f"delta must be a positive finite number, got {delta!r}")
    x = np.random.default_rng(seed + 1).uniform(-1.0, 1.0, c.shape)
    return np.abs(np.stack([c * (2 * x * delta + delta ** 2), c * (-2 * x * delta + delta ** 2)]))
