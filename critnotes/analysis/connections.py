"""Heavy-tailed connectivity statistics of a trained network (paper 003 §3, Fig 4a–i and 4l).

Everything is computed from the shared paper-003 run (:func:`critnotes.training.runs.critical_run`):

* :func:`abs_correlations` — off-diagonal |C_ij| of the neuron activity (Fig 4a);
* :func:`trajectory_stats` — per-coordinate Var(w) along the trajectory, w_T − w_0, the
  irreversibility R and the autocorrelation decay from the weight checkpoints (Fig 4e, 4i);
* :func:`gradient_matrices` — gradient-noise covariance C, squared mean gradient S = ḡḡᵀ and the
  Hessian H, exact on a stated parameter subset via :mod:`torch.func` (Fig 4f–h);
* :func:`connection_table` / :func:`classify_connections` — critical (C_ij ≥ c_th between the two
  neurons at the end), non-critical and redundant (critical at the transition, not at the end)
  connections, and :func:`set_connections` (Fig 4l: the loss with chosen weights set to other values);
* :func:`assess_tail` — the MLE power-law fit with model comparison of :mod:`critnotes.analysis.fitting`:
  "heavy tailed" (the power law beats the exponential significantly) and "power-law tailed" (heavy
  tailed, and the log-normal does not beat the power law);
* :func:`layer_weights` — each Linear layer's weights, raw or fan-in rescaled (per-layer tails, Fig 4b);
  :func:`fan_in_scale` — √fan-in of every entry of the flat parameter vector (the rescaled coordinates
  u = w·√fan-in in which layers of different fan-in share one scale).
"""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, hessian, vmap

from critnotes.analysis import fitting, graphs
from critnotes.analysis.layers import find_layers, trainable_parameters
from critnotes.analysis.losses import loss_per_sample, per_sample_losses

__all__ = ["abs_correlations", "time_weights", "trajectory_stats", "TrajectoryStats", "irreversibility",
           "acf_decay", "param_subset", "gradient_matrices", "connection_table", "classify_connections",
           "set_connections", "assess_tail", "TailAssessment", "layer_weights", "fan_in_scale", "ConnectionTable"]


def _flat_offsets(model: nn.Module) -> dict[int, int]:
    """Start of every trainable parameter in the training run's flat vector (by parameter identity)."""
    offs, off = {}, 0
    for p in trainable_parameters(model):
        offs[id(p)] = off
        off += p.numel()
    return offs


def abs_correlations(activity: np.ndarray) -> np.ndarray:
    """|C_ij| for i < j of the Pearson correlation between neurons (columns of ``activity`` (n, M));
    neurons that never vary on the probe set (dead ReLUs; zero diagonal in
    :func:`critnotes.analysis.graphs.correlation_matrix`) are left out.  Paper 003 Fig 4a."""
    a = np.asarray(activity, dtype=float)
    if a.ndim != 2:
        raise ValueError(f"activity must be (samples, neurons), got shape {a.shape}")
    c = graphs.correlation_matrix(a)
    live = np.diag(c) > 0
    if live.sum() < 2:
        raise ValueError("fewer than two neurons vary on the probe set; no correlations to compute")
    c = c[np.ix_(live, live)]
    return np.abs(c[np.triu_indices_from(c, 1)])


def time_weights(steps) -> np.ndarray:
    """Weights of log-spaced checkpoints so that a weighted mean approximates the uniform time average
    (1/T) Σ_t over all iterations (trapezoid rule)."""
    s = np.asarray(steps, dtype=float)
    if s.size < 2 or np.any(np.diff(s) <= 0):
        raise ValueError("need at least two strictly increasing checkpoint steps")
    d = np.diff(s)
    w = np.zeros_like(s)
    w[:-1] += d / 2
    w[1:] += d / 2
    return w / w.sum()


def irreversibility(traj: np.ndarray, window: int = 8) -> np.ndarray:
    """Irreversibility R of each coordinate's trajectory (columns of ``traj`` (n_ckpt, P)).

    Our reading of paper 003's R = ⟨[Cov(w(t), w(t)) − Cov(w(t), w(−t))]²⟩_t: in each window of
    ``window`` consecutive checkpoints, the covariance of the trajectory with itself minus its
    covariance with its own time reversal, squared, averaged over the windows.  A time-symmetric
    excursion gives 0, a steady drift 4 Var², a stationary noise ≈ Var².
    """
    x = np.asarray(traj, dtype=float)
    if x.ndim != 2 or x.shape[0] < window or window < 2:
        raise ValueError(f"need a (n_ckpt >= window, P) trajectory and window >= 2, got {x.shape}, {window}")
    n_win = x.shape[0] // window
    xs = x[-n_win * window:].reshape(n_win, window, -1)
    xs = xs - xs.mean(1, keepdims=True)
    diff = (xs * xs).mean(1) - (xs * xs[:, ::-1]).mean(1)
    return (diff ** 2).mean(0)


def acf_decay(traj: np.ndarray) -> np.ndarray:
    """Lag (in checkpoints) at which the autocorrelation of each coordinate's trajectory first drops
    below 1/e (``n_ckpt`` when it never does) — slow decay marks directed, downhill motion."""
    x = np.asarray(traj, dtype=float)
    x = x - x.mean(0)
    var = (x * x).mean(0)
    n = x.shape[0]
    out = np.full(x.shape[1], float(n))
    undecided = var > 0
    for lag in range(1, n):
        r = (x[:-lag] * x[lag:]).mean(0) / np.where(var > 0, var, 1)
        hit = undecided & (r < np.exp(-1))
        out[hit] = lag
        undecided &= ~hit
    return out


@dataclasses.dataclass(frozen=True)
class TrajectoryStats:
    """Per coordinate (one entry per trajectory column): time-averaged Var(w) (Fig 4e), w_T, w_T − w_0,
    the irreversibility R (Fig 4i) and the autocorrelation decay lag."""

    var: np.ndarray
    w_T: np.ndarray
    disp: np.ndarray
    R: np.ndarray
    acf_decay: np.ndarray

    def select(self, mask) -> "TrajectoryStats":
        """The same statistics for the coordinates in ``mask`` (boolean or index array)."""
        return TrajectoryStats(*(getattr(self, f.name)[mask] for f in dataclasses.fields(self)))


def trajectory_stats(steps, traj: np.ndarray, window: int = 8) -> TrajectoryStats:
    """:class:`TrajectoryStats` of the columns of ``traj`` (n_ckpt, P) at checkpoints ``steps``."""
    x = np.asarray(traj, dtype=float)
    tw = time_weights(steps)[:, None]
    mean = (tw * x).sum(0)
    return TrajectoryStats(var=(tw * (x - mean) ** 2).sum(0), w_T=x[-1], disp=x[-1] - x[0],
                           R=irreversibility(x, window), acf_decay=acf_decay(x))


def layer_weights(model: nn.Module, rescale: bool = False) -> list[np.ndarray]:
    """Each Linear layer's weight entries (input side first), flat; ``rescale`` multiplies them by
    sqrt(fan_in), which removes the layer-to-layer scale set by the initialisation (Kaiming: w ∝
    1/sqrt(fan_in)) so that a pooled tail is not a mixture of scales."""
    out = []
    for m in find_layers(model).values():
        w = m.weight.detach().cpu().double().numpy()
        out.append((w * np.sqrt(w.shape[1]) if rescale else w).ravel())
    return out


def param_subset(model: nn.Module, n_per_layer: int, seed: int = 0) -> np.ndarray:
    """Flat indices of ``n_per_layer`` weights (no biases) drawn uniformly from each Linear layer's
    weight matrix — the subset on which C, S and H are computed exactly."""
    rng = np.random.default_rng(seed)
    offs = _flat_offsets(model)
    out = []
    for m in find_layers(model).values():
        if id(m.weight) not in offs:                  # a frozen layer is not part of the flat vector
            continue
        n_w = m.weight.numel()
        out.append(offs[id(m.weight)] + np.sort(rng.choice(n_w, size=min(n_per_layer, n_w), replace=False)))
    return np.concatenate(out)


def gradient_matrices(model: nn.Module, x: torch.Tensor, y: torch.Tensor, idx, loss: str = "ce") -> dict:
    """Exact gradient statistics on the parameter subset ``idx`` (flat indices), over samples (x, y):

    ``C`` = covariance over samples of the per-sample gradient (gradient noise, Fig 4f),
    ``S`` = ḡḡᵀ with ḡ the mean gradient (Fig 4g), ``H`` = Hessian of the mean loss (Fig 4h).
    Per-sample gradients by ``vmap(grad)``, the Hessian by ``torch.func.hessian`` (forward-over-reverse).
    """
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat0 = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    idx_t = torch.as_tensor(np.asarray(idx), dtype=torch.long)
    if idx_t.numel() == 0 or idx_t.min() < 0 or idx_t.max() >= flat0.numel():
        raise ValueError(f"parameter indices must lie in [0, {flat0.numel()}), got {idx_t.numel()} indices")

    def params_of(wsub):
        flat = flat0.index_put((idx_t,), wsub)
        out, off = {}, 0
        for n, s in zip(names, shapes):
            k = int(np.prod(s))
            out[n] = flat[off:off + k].view(s)
            off += k
        return out

    def sample_loss(wsub, xi, yi):
        return loss_per_sample(loss, functional_call(model, params_of(wsub), (xi[None],)), yi[None])[0]

    def mean_loss(wsub):
        return loss_per_sample(loss, functional_call(model, params_of(wsub), (x,)), y).mean()

    w0 = flat0[idx_t]
    g = vmap(grad(sample_loss), in_dims=(None, 0, 0))(w0, x, y).double()
    gbar = g.mean(0)
    cov = (g - gbar).T @ (g - gbar) / max(len(y) - 1, 1)
    return {"C": cov.numpy(), "S": torch.outer(gbar, gbar).numpy(), "H": hessian(mean_loss)(w0).double().numpy(),
            "gbar": gbar.numpy()}


@dataclasses.dataclass
class ConnectionTable:
    """Neuron-to-neuron connections (hidden→hidden and hidden→output; inputs are not neurons here)."""

    flat: np.ndarray      # flat parameter index of each connection
    pre: np.ndarray       # presynaptic neuron (column of the activity matrix)
    post: np.ndarray      # postsynaptic neuron
    layer: np.ndarray     # 1 for h1→h2, 2 for h2→out


def connection_table(model: nn.Module) -> ConnectionTable:
    """Every connection between two recorded neurons of an MLP (784-h-h-10: layers 2 and 3)."""
    lin = list(find_layers(model).values())
    sizes = [m.out_features for m in lin]
    offs = _flat_offsets(model)
    starts = [offs[id(m.weight)] for m in lin]
    neuron_off = np.concatenate(([0], np.cumsum(sizes)))
    cols = []
    for li in range(1, len(lin)):
        n_out, n_in = lin[li].weight.shape
        post, pre = np.divmod(np.arange(n_out * n_in), n_in)
        cols.append((starts[li] + post * n_in + pre, neuron_off[li - 1] + pre, neuron_off[li] + post,
                     np.full(post.size, li)))
    return ConnectionTable(*(np.concatenate(c) for c in zip(*cols)))


def classify_connections(table: ConnectionTable, corr_mid: np.ndarray, corr_end: np.ndarray,
                         c_th: float = 0.5) -> dict:
    """Boolean masks over ``table``: ``critical`` (C_ij ≥ c_th at the end), ``redundant`` (C_ij ≥ c_th
    at the transition but not at the end) and ``noncritical`` (the rest).  ``corr_*`` from
    :func:`critnotes.analysis.graphs.correlation_matrix` (silent neurons: C = 0, below threshold)."""
    c_mid = corr_mid[table.pre, table.post]
    c_end = corr_end[table.pre, table.post]
    critical = c_end >= c_th
    redundant = (c_mid >= c_th) & ~critical
    return {"critical": critical, "redundant": redundant, "noncritical": ~critical & ~redundant}


def set_connections(model: nn.Module, flat_idx, x: torch.Tensor, y: torch.Tensor, values=0.0,
                    loss: str = "ce") -> np.ndarray:
    """Per-sample losses of ``model`` with the parameters ``flat_idx`` set to ``values`` (a scalar or one
    value per index; 0 removes the connections); the model is untouched.  Fig 4l: redundant connections
    retained at their values from the connectivity transition."""
    idx = torch.as_tensor(np.asarray(flat_idx), dtype=torch.long)
    vals = torch.as_tensor(np.broadcast_to(np.asarray(values, dtype=float), idx.shape).copy())
    pruned = copy.deepcopy(model)
    flat = torch.nn.utils.parameters_to_vector(pruned.parameters()).detach().clone()
    if idx.numel() and (idx.min() < 0 or idx.max() >= flat.numel()):
        raise ValueError(f"parameter indices must lie in [0, {flat.numel()}), got {idx.min()} … {idx.max()}")
    flat[idx] = vals.to(flat.dtype)
    torch.nn.utils.vector_to_parameters(flat, pruned.parameters())
    return per_sample_losses(pruned, x, y, loss).numpy()


def fan_in_scale(model: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """Over the flat trainable parameter vector: a mask of the Linear weight entries (not biases) and
    √fan-in of every entry (1 for the rest).  Multiplying weights by it gives the coordinates
    u = w·√fan-in that remove the layer scale of the initialisation (w ∝ 1/√fan-in); in them a
    variance scales by fan-in, a gradient-pair statistic (C, S, H) by 1/√(fan-in_i · fan-in_j)."""
    offs = _flat_offsets(model)
    n = sum(p.numel() for p in trainable_parameters(model))
    mask, scale = np.zeros(n, bool), np.ones(n)
    for m in find_layers(model).values():
        if id(m.weight) in offs:
            o = offs[id(m.weight)]
            mask[o:o + m.weight.numel()] = True
            scale[o:o + m.weight.numel()] = np.sqrt(m.weight.shape[1])
    return mask, scale


@dataclasses.dataclass(frozen=True)
class TailAssessment:
    """A tail fit of |samples| and its readings (:func:`assess_tail`); ``error`` set (and the fit
    fields ``None``) when there were too few tail points to fit."""

    n: int
    alpha: float | None = None
    alpha_se: float | None = None
    xmin: float | None = None
    xmax: float | None = None
    ks: float | None = None
    n_tail: int | None = None
    R_vs_exponential: float | None = None
    p_vs_exponential: float | None = None
    R_vs_lognormal: float | None = None
    p_vs_lognormal: float | None = None
    at_bound: bool = False
    p_threshold: float = 0.1
    error: str | None = None

    @property
    def fitted(self) -> bool:
        return self.error is None

    @property
    def decades(self) -> float | None:
        """log10(x_max / x_min): the range the tail fit covers."""
        return None if not self.fitted else fitting.decades(self.xmin, self.xmax)

    @property
    def heavy_tailed(self) -> bool | None:
        """Heavier than exponential: the power law beats the exponential significantly."""
        if not self.fitted:
            return None
        return bool(self.R_vs_exponential > 0 and self.p_vs_exponential < self.p_threshold)

    @property
    def lognormal_wins(self) -> bool | None:
        """The log-normal beats the power law significantly."""
        if not self.fitted:
            return None
        return bool(self.R_vs_lognormal < 0 and self.p_vs_lognormal < self.p_threshold)

    @property
    def power_law(self) -> bool | None:
        """Power-law tailed: heavy tailed, not at the search bound, and not beaten by the log-normal."""
        if not self.fitted:
            return None
        return bool(self.heavy_tailed and not self.lognormal_wins and not self.at_bound)

    @property
    def reading(self) -> str:
        """In words: "power law", "log-normal (heavier than exponential)", "heavier than exponential",
        "not heavy tailed", "at search bound" or "no fit"."""
        if not self.fitted:
            return "no fit"
        if self.at_bound:
            return "at search bound"
        if self.power_law:
            return "power law"
        if self.heavy_tailed:
            return "log-normal (heavier than exponential)" if self.lognormal_wins else "heavier than exponential"
        return "not heavy tailed"

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.update(heavy_tailed=self.heavy_tailed, power_law=self.power_law, reading=self.reading,
                 decades=self.decades)
        return d


def assess_tail(samples, max_samples: int | None = 100_000, seed: int = 0, p_threshold: float = 0.1) -> TailAssessment:
    """MLE power-law fit of |samples| with likelihood-ratio tests against the exponential and the
    log-normal (:func:`critnotes.analysis.fitting.fit_powerlaw`), as a :class:`TailAssessment`
    (Fig 4 tails).  Too few tail points → ``error`` set instead of a fit."""
    x = np.abs(np.asarray(samples, dtype=float).ravel())
    try:
        fit = fitting.fit_powerlaw(x, alpha_range=(1.0, 12.0), max_samples=max_samples, seed=seed)
    except ValueError as exc:
        return TailAssessment(n=int(x.size), error=str(exc), p_threshold=p_threshold)
    r_exp, p_exp = fit.comparisons["exponential"]
    r_ln, p_ln = fit.comparisons["lognormal"]
    return TailAssessment(n=fit.n_total, alpha=fit.alpha, alpha_se=fit.alpha_se, xmin=fit.xmin,
                          xmax=float(x.max()), ks=fit.ks, n_tail=fit.n_tail, R_vs_exponential=r_exp,
                          p_vs_exponential=p_exp, R_vs_lognormal=r_ln, p_vs_lognormal=p_ln,
                          at_bound=fit.at_bound, p_threshold=p_threshold)
