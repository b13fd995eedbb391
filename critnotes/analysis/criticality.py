"""Criticality of a whole network (paper 004, chapter 11): λ₀, σ, Δ, mean-field theory, a penalty.

Paper 004 characterises a deep network by three measures — the largest Lyapunov exponent λ₀ = 0,
the branching parameter σ = 1 and a maximal dynamic range Δ — but our copy has no methods, so the
book uses these standard definitions for a feed-forward net read as a dynamical system whose "time"
is the layer index ``l = 1 … L`` (hidden layers ``a_l = φ(W_l a_{l-1} + b_l)``; the read-out is not a
propagation step):

* **Per-layer gain** of a random input perturbation ``u₀`` pushed forward with Jacobian–vector
  products (forward-mode AD), ``u_l = J_l u_{l-1}``, on per-neuron RMS norms
  ``ν(u) = ‖u‖/√n``: ``g_l = ν(u_l)/ν(u_{l-1})`` (Poole et al. 2016; Schoenholz et al. 2017).
* **λ₀** = ⟨ln g_l⟩ over layers and inputs: the typical log growth rate per layer of an infinitesimal
  random perturbation (renormalised each layer).  λ₀ < 0 ordered, > 0 chaotic.  The L Jacobians are
  different matrices and L is small, so a random direction does not line up with a most-expanding one
  (as it would when the same map is iterated, in Benettin's algorithm); λ₀ is the rate of a *typical*
  direction, which is what mean-field theory predicts (½ ln χ₁ per layer).
* **σ** = ⟨g_l²⟩: perturbation "power" handed from one layer to the next, i.e. the branching ratio of
  the perturbation cascade (descendants per ancestor) — the empirical χ₁ of mean-field theory.
  By Jensen's inequality ½ ln σ ≥ λ₀; both equal ½ ln χ₁ in the mean-field limit.
* **Δ** = 10 log₁₀(s₉₀/s₁₀) dB of the response curve R(s) (per-neuron RMS activity of the last hidden
  layer when the input image is scaled by an intensity s), with s_x the intensity where R reaches
  R(s_min) + x·(R_max − R(s_min)) (Kinouchi & Copelli 2006).

Mean-field theory (Poole et al. 2016) gives the order-to-chaos line χ₁ = σ_w² E[φ'(√q* z)²] = 1 for
``W ~ N(0, σ_w²/fan_in)``, ``b ~ N(0, σ_b²)`` (``init="normal"`` of :mod:`critnotes.training.models`): σ_w² = 1 for
tanh at σ_b = 0, σ_w² = 2 for ReLU.  :func:`criticality_penalty` is a differentiable (λ-per-layer)²
term (:class:`CriticalityPenalty` as an ``extra_loss`` of :func:`critnotes.training.loop.train`), and
:func:`critnotes.training.regularised.train_regularised` trains with it on a sequence of permuted-MNIST tasks;
:func:`generated_labels` makes the labels of the next generation in the model-collapse experiment
(:mod:`critnotes.training.collapse`).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
from scipy import optimize
from torch import nn

from critnotes.analysis import graphs
from critnotes.analysis.layers import evaluating, feedforward
from critnotes.analysis.losses import evaluate

__all__ = [
    "MF_ACTIVATIONS", "chi1", "q_star", "critical_sigma_w2", "mean_field_chis", "hidden_blocks", "layer_gains", "lyapunov_exponent",
    "branching_parameter", "response_curve", "intensity_grid", "dynamic_range", "CriticalityMetrics", "measure",
    "criticality_penalty", "CriticalityPenalty", "noisy_accuracy", "permute_pixels", "correlation_frobenius",
    "LABEL_MODES", "generated_labels",
]

# ------------------------------------------------------------------------------------------------
# mean-field theory of signal propagation (Fig. 11.1: the critical line)
# ------------------------------------------------------------------------------------------------
#: activation → (φ, φ', sup φ² or None when unbounded)
MF_ACTIVATIONS = {
    "tanh": (np.tanh, lambda h: 1.0 - np.tanh(h) ** 2, 1.0),
    "relu": (lambda h: np.maximum(h, 0.0), lambda h: (h > 0).astype(float), None),
    "sigmoid": (lambda h: 1.0 / (1.0 + np.exp(-h)), lambda h: np.exp(-h) / (1.0 + np.exp(-h)) ** 2, 1.0),
    "identity": (lambda h: h, lambda h: np.ones_like(h), None),
}
# dense trapezoid grid (accurate for sech⁴(√q z) even at q ~ 10³); an even count puts no node at 0,
# so E[step(h)] = ½ exactly
_Z = np.linspace(-9.0, 9.0, 4000)
_WZ = np.exp(-_Z ** 2 / 2)
_WZ /= _WZ.sum()


def _mf(activation: str):
    try:
        return MF_ACTIVATIONS[activation]
    except KeyError:
        raise ValueError(f"no mean-field theory for activation {activation!r}; choose one of "
                         f"{', '.join(MF_ACTIVATIONS)}") from None


def _gauss(f, q: float) -> float:
    """E_{z~N(0,1)} f(√q z) by quadrature on a fixed grid."""
    return float(np.dot(_WZ, f(math.sqrt(max(q, 0.0)) * _Z)))


def q_star(sigma_w2: float, sigma_b2: float, activation: str = "tanh") -> float:
    """Fixed point q* of the pre-activation variance map q ← σ_w² E[φ(√q z)²] + σ_b² (bounded φ only).

    At σ_b² = 0 the stable fixed point is 0 when no positive one exists (ordered tanh phase).
    """
    phi, _, sup2 = _mf(activation)
    if sup2 is None:
        raise ValueError(f"q* diverges or is scale-free for unbounded activation {activation!r}; "
                         "χ₁ does not depend on it (use chi1)")
    f = lambda q: sigma_w2 * _gauss(lambda h: phi(h) ** 2, q) + sigma_b2 - q
    lo, hi = max(sigma_b2, 1e-12), sigma_w2 * sup2 + sigma_b2 + 1e-9
    if f(lo) <= 0:
        return 0.0 if sigma_b2 == 0 else lo
    return float(optimize.brentq(f, lo, hi, xtol=1e-12))


def chi1(sigma_w2: float, sigma_b2: float = 0.0, activation: str = "tanh") -> float:
    """Mean-field χ₁ = σ_w² E[φ'(√q* z)²]: the per-layer growth of a perturbation's squared length."""
    if sigma_w2 <= 0 or sigma_b2 < 0:
        raise ValueError(f"need sigma_w2 > 0 and sigma_b2 >= 0, got {sigma_w2}, {sigma_b2}")
    _, dphi, sup2 = _mf(activation)
    q = q_star(sigma_w2, sigma_b2, activation) if sup2 is not None else 1.0
    return sigma_w2 * _gauss(lambda h: dphi(h) ** 2, q)


def critical_sigma_w2(activation: str = "tanh", sigma_b2: float = 0.0) -> float:
    """σ_w² on the order-to-chaos line χ₁ = 1 at a given σ_b² (tanh: 1 at σ_b²=0; ReLU: 2)."""
    return float(optimize.brentq(lambda s: math.log(chi1(s, sigma_b2, activation)), 1e-3, 1e3, xtol=1e-10))


def mean_field_chis(sigma_w2: float, sigma_b2: float, activation: str, q0, depth: int) -> np.ndarray:
    """Mean-field per-layer χ₁ˡ = σ_w² E[φ'(√qˡ z)²] (l = 1 … depth) of an input with q0 = ‖x‖²/n_in.

    The pre-activation variance starts at q¹ = σ_w² q0 + σ_b² and follows the length map
    qˡ⁺¹ = σ_w² E[φ(√qˡ z)²] + σ_b² (it reaches q* only after a few layers, so a shallow net's gains are
    the transient's).  ``q0`` may be an array (one per input): the result is then (len(q0), depth).
    The predictions of λ₀ and σ at initialisation are the means of ½ ln χ₁ˡ and χ₁ˡ (Fig. 11.2).
    """
    phi, dphi, _ = _mf(activation)
    if sigma_w2 <= 0 or sigma_b2 < 0 or depth < 1:
        raise ValueError(f"need sigma_w2 > 0, sigma_b2 >= 0 and depth >= 1, got {sigma_w2}, {sigma_b2}, {depth}")
    q0 = np.asarray(q0, dtype=float)
    if np.any(q0 < 0) or not np.all(np.isfinite(q0)):
        raise ValueError("q0 = |x|^2 / n_in must be finite and >= 0")
    q = sigma_w2 * q0.ravel() + sigma_b2
    out = []
    for _ in range(depth):
        h = np.sqrt(q)[:, None] * _Z[None, :]
        out.append(sigma_w2 * (dphi(h) ** 2) @ _WZ)
        q = sigma_w2 * (phi(h) ** 2) @ _WZ + sigma_b2
    chis = np.stack(out, 1)
    return chis.reshape(q0.shape + (depth,))


# ------------------------------------------------------------------------------------------------
# the three metrics of a network (Figs. 11.2–11.4)
# ------------------------------------------------------------------------------------------------
def hidden_blocks(model: nn.Module) -> list[nn.Sequential]:
    """The propagation steps of a feed-forward MLP: ``[Linear → activation]`` per hidden layer (read-out
    excluded), from :func:`critnotes.analysis.layers.feedforward`."""
    ff = feedforward(model)
    return [nn.Sequential(lin, act) for lin, act in zip(ff.linears, ff.activations)]


def _rms(u: torch.Tensor) -> torch.Tensor:
    return u.norm(dim=1) / math.sqrt(u.shape[1])


def layer_gains(model: nn.Module, x: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """Per-layer gains g_l (n_inputs, L) of a random Gaussian input perturbation.

    Jacobian–vector products by forward-mode AD (:mod:`torch.autograd.forward_ad`, the engine of
    :func:`torch.func.jvp`, without its per-call overhead); the tangent is renormalised after every
    layer.  Differentiable with respect to the model's parameters (the penalty backpropagates through it).
    """
    blocks = hidden_blocks(model)
    a = x.flatten(1)
    u = torch.randn(a.shape, generator=torch.Generator().manual_seed(seed)).to(a)
    u = u / _rms(u)[:, None]
    gains = []
    with fwAD.dual_level():
        for blk in blocks:
            a, du = fwAD.unpack_dual(blk(fwAD.make_dual(a, u)))
            gain = _rms(du)
            gains.append(gain)
            u = du / gain.clamp_min(1e-30)[:, None]
    return torch.stack(gains, 1)


def lyapunov_exponent(gains: torch.Tensor) -> float:
    """λ₀ = ⟨ln g⟩ (nats per layer); dead perturbations (g = 0) count as ln 10⁻³⁰."""
    return float(gains.detach().clamp_min(1e-30).log().mean())


def branching_parameter(gains: torch.Tensor) -> float:
    """σ = ⟨g²⟩, the mean perturbation power passed on per layer (empirical χ₁)."""
    return float((gains.detach() ** 2).mean())


@torch.no_grad()
def response_curve(model: nn.Module, x: torch.Tensor, intensities) -> np.ndarray:
    """R(s): mean over inputs of the per-neuron RMS activity of the last hidden layer at input s·x."""
    blocks = hidden_blocks(model)
    out = []
    for s in np.asarray(intensities, dtype=float):
        a = float(s) * x.flatten(1)
        for blk in blocks:
            a = blk(a)
        out.append(float(_rms(a).mean()))
    return np.array(out)


def dynamic_range(intensities, response, lo: float = 0.1, hi: float = 0.9) -> float:
    """Δ = 10 log₁₀(s_hi/s_lo) dB, s_x the first intensity where R crosses R(s₀) + x (R_max − R(s₀)).

    Crossings are interpolated linearly in (log s, R).  NaN when the response does not vary.
    """
    s = np.asarray(intensities, dtype=float)
    r = np.asarray(response, dtype=float)
    if s.ndim != 1 or s.shape != r.shape or s.size < 3:
        raise ValueError(f"intensities and response must be 1-D of equal length >= 3, got {s.shape}, {r.shape}")
    if np.any(s <= 0) or np.any(np.diff(s) <= 0):
        raise ValueError("intensities must be positive and strictly increasing (a log-spaced grid)")
    if not 0 < lo < hi < 1:
        raise ValueError(f"need 0 < lo < hi < 1, got lo={lo}, hi={hi}")
    span = r.max() - r[0]
    if not np.isfinite(span) or span <= 1e-12 * max(abs(r[0]), 1.0):
        return float("nan")
    f = (r - r[0]) / span
    ls = np.log(s)

    def cross(level):
        k = int(np.argmax(f >= level))
        if k == 0:
            return ls[0]
        return ls[k - 1] + (level - f[k - 1]) * (ls[k] - ls[k - 1]) / (f[k] - f[k - 1])

    return float(10 * (cross(hi) - cross(lo)) / math.log(10))


@dataclasses.dataclass(frozen=True)
class CriticalityMetrics:
    """λ₀, σ and Δ of one network on one set of inputs (:func:`measure`)."""

    lyapunov: float              # λ₀ (nats per layer)
    branching: float             # σ
    dynamic_range: float         # Δ (dB)
    layer_lyapunov: np.ndarray   # (L,) ⟨ln g_l⟩ per layer
    response: np.ndarray         # R(s) on the intensity grid


def intensity_grid(s_min: float = 1e-3, s_max: float = 1e3, n: int = 41) -> np.ndarray:
    return np.logspace(math.log10(s_min), math.log10(s_max), n)


def measure(model: nn.Module, x: torch.Tensor, *, seed: int = 0, intensities=None) -> CriticalityMetrics:
    """λ₀, σ and Δ of ``model`` on inputs ``x`` (eval mode, no gradients)."""
    s = intensity_grid() if intensities is None else np.asarray(intensities)
    with evaluating(model):
        gains = layer_gains(model, x, seed=seed)
        resp = response_curve(model, x, s)
    return CriticalityMetrics(lyapunov_exponent(gains), branching_parameter(gains), dynamic_range(s, resp),
                              gains.clamp_min(1e-30).log().mean(0).cpu().numpy(), resp)


def criticality_penalty(model: nn.Module, x: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
    """Differentiable P = mean over layers of ⟨ln g_l⟩²: zero when every layer has λ = 0."""
    return layer_gains(model, x, seed=seed).clamp_min(1e-30).log().mean(0).pow(2).mean()


@dataclasses.dataclass
class CriticalityPenalty:
    """``extra_loss`` for :func:`critnotes.training.loop.train`: β·P on the first ``n`` inputs of each mini-batch,
    with perturbation seed ``seed + k`` at the k-th call (a fresh perturbation every update)."""

    beta: float
    n: int = 32
    seed: int = 0
    calls: int = 0

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p = criticality_penalty(model, x[:self.n], seed=self.seed + self.calls)
        self.calls += 1
        return self.beta * p


# ------------------------------------------------------------------------------------------------
# relations to chapters 6 and 7 (Fig. 11.5)
# ------------------------------------------------------------------------------------------------
def correlation_frobenius(activity: np.ndarray) -> np.ndarray:
    """‖C‖_F of the Pearson correlation matrix between neurons, per checkpoint (chapter 6's order parameter).

    ``activity`` is (n_ckpt, n_samples, M); :func:`critnotes.analysis.graphs.correlation_matrix` (silent neurons
    correlate with nothing) and :func:`critnotes.analysis.graphs.frobenius_norm` (diagonal excluded, so ‖C‖_F = 0
    for independent neurons).
    """
    act = np.asarray(activity, dtype=np.float64)
    if act.ndim != 3:
        raise ValueError(f"activity must be (checkpoints, samples, neurons), got shape {act.shape}")
    return np.array([graphs.frobenius_norm(graphs.correlation_matrix(a)) for a in act])


# ------------------------------------------------------------------------------------------------
# criticality-regularised training and permuted-MNIST continual learning (Fig. 11.6)
# ------------------------------------------------------------------------------------------------
def permute_pixels(x: torch.Tensor, task: int) -> torch.Tensor:
    """Task ``task`` of permuted MNIST: a fixed pixel permutation (task 0 = the original images)."""
    if task == 0:
        return x
    flat = x.flatten(1)
    perm = torch.randperm(flat.shape[1], generator=torch.Generator().manual_seed(7919 * task)).to(x.device)
    return flat[:, perm].view_as(x)


@torch.no_grad()
def noisy_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, level: float, seed: int = 0) -> float:
    """Test accuracy with Gaussian pixel noise of std ``level`` added to the inputs (images in [0, 1])."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(x.shape, generator=g).to(x) * level
    return evaluate(model, x + noise, y)[1]


# ------------------------------------------------------------------------------------------------
# model collapse: training on the previous generation's labels (Fig. 11.7)
# ------------------------------------------------------------------------------------------------
LABEL_MODES = ("argmax", "sample")


@torch.no_grad()
def generated_labels(model: nn.Module, x: torch.Tensor, mode: str = "sample", seed: int = 0) -> torch.Tensor:
    """The labels a trained classifier generates for inputs ``x``: its predictions (``"argmax"``) or
    one draw per input from its softmax (``"sample"``, generator seeded by ``seed``) — the data the
    next generation trains on in the model-collapse experiment."""
    if mode not in LABEL_MODES:
        raise ValueError(f"unknown label mode {mode!r}; choose one of {', '.join(LABEL_MODES)}")
    with evaluating(model):
        logits = model(x)
    if mode == "argmax":
        return logits.argmax(1)
    probs = torch.softmax(logits.double(), 1).cpu()
    return torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(seed)).squeeze(1).to(x.device)
