"""Critical computational graphs (CCGs) of a trained MLP, and their coupling cost (paper 003 §4, Fig 5).

Paper 003 extracts one sparse sub-network per task ("clustering–growing–pruning") but publishes no
method; this module is our design, stated so that it can be checked.  For a task T (a digit) and the
neurons of a feed-forward MLP with any elementwise activation (every hidden layer, then the logits; the
inputs are not neurons):

1. **clustering** — each neuron's task signal-to-noise ratio
   ``d'_i = (μ_i(T) − μ_i(¬T)) / sqrt((σ_i(T)² + σ_i(¬T)²)/2)`` on a probe set; neurons with
   ``|d'_i| ≥ snr_min`` are the task's candidate critical neurons (excitatory or suppressive);
2. **growing** — from the task's output neuron backwards, layer by layer: an edge j→k carries the
   task signal ``c_jk = s_k W_kj Δ_j`` (Δ_j = μ_j(T) − μ_j(¬T), s_k = sign Δ_k, +1 for the output);
   every vertex k keeps every candidate input with ``c_jk > 0`` and ``c_jk ≥ rel_min · max_j c_jk``
   (a relative threshold; no cap on the number of inputs); the added neurons are the next frontier;
3. **pruning** — one pass over the edges, weakest signal ``c_jk`` first: an edge is removed (dangling
   vertices go with it) when the CCG-only network (all other neuron→neuron weights masked;
   input→first-layer weights kept) still separates T from ¬T with ``AUC ≥ keep × AUC(grown graph)``.

N_V counts the CCG's neurons (output included), N_E its neuron→neuron edges.

The **coupling cost** (our definition, spin-glass-like, built from the activity signal-to-noise as
the paper describes): every CCG neuron's activity is standardised against the task,
``z_i(x) = (a_i(x) − m_i)/σ_i`` with ``m_i`` the midpoint of μ_i(T), μ_i(¬T) and σ_i their pooled
standard deviation, and each edge is a coupling ``J_jk = sign W_kj``:

.. math::  E_G(x) = -\\frac{1}{N_E}\\sum_{(j\\to k)\\in G} \\operatorname{sign}(W_{kj})\\, z_j(x)\\, z_k(x),

low when connected neurons are jointly on for x ∈ T and jointly off for x ∉ T in the direction their
couplings ask for (coherent coupling).  ``E_G(t)`` averages it over T and ¬T (equal weight) with the
weights and activities of checkpoint t; :func:`aging_fit` fits ``E_G(t) = c − α ln t`` and
:func:`aging_models` compares that form with a power-law and an exponential relaxation by AIC;
:func:`random_graph` draws the same-size null graph.
"""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

from critnotes.analysis import fitting
from critnotes.analysis.layers import feedforward

__all__ = ["CCGParams", "CCG", "Layers", "network_layers", "forward_layers", "split_activity", "task_snr",
           "extract_ccg", "extract_all", "ccg_output", "layer_means", "auc", "union_masks", "masked_model",
           "feature_map", "membership_order", "coupling_cost", "aging_fit", "aging_models", "AgingComparison",
           "random_graph", "overlap", "Calibration", "calibrate",
           "TaskScore", "score_task"]


@dataclasses.dataclass(frozen=True)
class CCGParams:
    snr_min: float = 0.5     # clustering: candidate neurons need |d'| >= snr_min
    rel_min: float = 0.25    # growing: keep inputs carrying >= rel_min x the vertex's strongest signal
    keep: float = 0.98       # pruning: the pruned graph keeps AUC >= keep x AUC of the grown graph
    ablation: str = "mean"   # masked inputs contribute their mean ("mean") or nothing ("zero")

    def validate(self) -> "CCGParams":
        if self.ablation not in ("mean", "zero"):
            raise ValueError(f"ablation must be 'mean' or 'zero', got {self.ablation!r}")
        if self.snr_min < 0 or not 0 < self.rel_min <= 1 or not 0 < self.keep <= 1:
            raise ValueError(f"need snr_min >= 0, 0 < rel_min <= 1, 0 < keep <= 1; got {self}")
        return self


@dataclasses.dataclass
class CCG:
    """One task's graph: ``edges`` rows are (l, pre, post) for the weight ``W_l[post, pre]`` between
    neuron layer l−1 and neuron layer l (neuron layer 0 = first hidden layer)."""

    task: int
    edges: np.ndarray            # (N_E, 3) int
    n_layers: int                # neuron layers (hidden layers + output)
    auc: float                   # T vs ¬T separation of the pruned CCG-only output (probe set)
    auc_grown: float             # same for the grown graph before pruning

    @property
    def vertices(self) -> list[np.ndarray]:
        """Sorted neuron indices of the graph in each neuron layer."""
        out = []
        for layer in range(self.n_layers):
            pre = self.edges[self.edges[:, 0] == layer + 1, 1]
            post = self.edges[self.edges[:, 0] == layer, 2]
            out.append(np.unique(np.concatenate([pre, post])).astype(int))
        if self.n_layers and not out[-1].size:
            out[-1] = np.array([self.task])
        return out

    @property
    def n_edges(self) -> int:
        return int(len(self.edges))

    @property
    def n_vertices(self) -> int:
        return int(sum(v.size for v in self.vertices))


class Layers(list):
    """``[(W, b), …]`` (numpy float64) of an MLP's Linear layers, input side first, and ``activations``:
    the elementwise activation module after each hidden layer (one module for all, or one per layer)."""

    def __init__(self, weights, activations):
        super().__init__(weights)
        acts = list(activations) if isinstance(activations, (list, tuple)) else [activations] * (len(self) - 1)
        if len(self) < 2 or len(acts) != len(self) - 1:
            raise ValueError(f"a CCG needs at least two Linear layers and one activation per hidden layer; got "
                             f"{len(self)} layers and {len(acts)} activations")
        self.activations = acts

    def activate(self, layer: int, z: np.ndarray) -> np.ndarray:
        """The activation of hidden layer ``layer`` applied elementwise to ``z`` (float64)."""
        with torch.no_grad():
            return self.activations[layer](torch.as_tensor(z, dtype=torch.float64)).numpy()


def _layers(layers) -> Layers:
    if not isinstance(layers, Layers):
        raise TypeError("layers must be a ccg.Layers (from network_layers(model), or "
                        "Layers([(W, b), …], activation_module)); a bare list does not say the activation")
    return layers


def network_layers(model: nn.Module) -> Layers:
    """The weights and activation modules of a feed-forward MLP (:func:`critnotes.analysis.layers.feedforward`)."""
    ff = feedforward(model)
    return Layers([(m.weight.detach().cpu().double().numpy(), m.bias.detach().cpu().double().numpy())
                   for m in ff.linears], ff.activations)


def forward_layers(layers: Layers, x) -> list[np.ndarray]:
    """Activities of every neuron layer (hidden layers after their activation, then logits) for inputs
    ``x`` (n, d_in)."""
    layers = _layers(layers)
    a = np.asarray(x, dtype=float).reshape(len(x), -1)
    out = []
    for i, (w, b) in enumerate(layers):
        a = a @ w.T + b
        if i < len(layers) - 1:
            a = layers.activate(i, a)
        out.append(a)
    return out


def split_activity(activity: np.ndarray, sizes) -> list[np.ndarray]:
    """Split an ``(n, M)`` activity matrix (:class:`~critnotes.probes.activity.ActivityRecord`) into layers."""
    if sum(sizes) != activity.shape[1]:
        raise ValueError(f"layer sizes {list(sizes)} do not add up to {activity.shape[1]} neurons")
    return np.split(np.asarray(activity, dtype=float), np.cumsum(sizes)[:-1], axis=1)


def task_snr(acts: list[np.ndarray], labels, task: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per neuron layer: Δ = μ(T) − μ(¬T) and the signal-to-noise ratio d' (clustering step)."""
    labels = np.asarray(labels)
    on = labels == task
    if not on.any() or on.all():
        raise ValueError(f"task {task!r} needs samples inside and outside it; labels present: {np.unique(labels)}")
    deltas, snrs = [], []
    for a in acts:
        d = a[on].mean(0) - a[~on].mean(0)
        s = np.sqrt((a[on].var(0) + a[~on].var(0)) / 2)
        deltas.append(d)
        snrs.append(np.where(s > 1e-12, d / np.where(s > 1e-12, s, 1.0), 0.0))
    return deltas, snrs


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for ``positive`` vs the rest (ties count half)."""
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs positive and negative samples")
    r = rankdata(score)
    return float((r[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def ccg_output(layers: Layers, a0: np.ndarray, edges: np.ndarray, task: int, means=None) -> np.ndarray:
    """Logit ``task`` of the CCG-only network from the (unmasked) first-layer activity ``a0`` (n, h1).

    ``means`` (the dense network's mean activity of each neuron layer, :func:`layer_means`) selects
    mean ablation: a masked input contributes its mean, so every kept neuron keeps its operating
    point; ``None`` is zero ablation (masked weights set to 0)."""
    layers = _layers(layers)
    n_l = len(layers)
    mu = means if means is not None else [np.zeros(w.shape[0]) for w, _ in layers]
    prev = {int(j): a0[:, j] - mu[0][j] for j in np.unique(edges[edges[:, 0] == 1, 1])}
    for layer in range(1, n_l):
        w, b = layers[layer]
        e = edges[edges[:, 0] == layer]
        cur = {}
        for k in np.unique(e[:, 2]):
            z = np.full(len(a0), b[k] + w[k] @ mu[layer - 1])
            for j in e[e[:, 2] == k, 1]:
                if int(j) in prev:
                    z = z + w[k, j] * prev[int(j)]
            cur[int(k)] = (layers.activate(layer, z) - mu[layer][k]) if layer < n_l - 1 else z
        prev = cur
    return prev.get(int(task), np.full(len(a0), layers[-1][1][task] + layers[-1][0][task] @ mu[-2]))


def layer_means(acts: list[np.ndarray]) -> list[np.ndarray]:
    """Mean activity of every neuron layer (the dense network on the probe set), for mean ablation."""
    return [np.asarray(a, float).mean(0) for a in acts]


def _drop_dangling(edges: np.ndarray, n_layers: int, task: int) -> np.ndarray:
    """Remove edges into vertices that no longer reach the output, or out of vertices with no input."""
    while True:
        keep = np.ones(len(edges), bool)
        for i, (layer, pre, post) in enumerate(edges):
            feeds = layer == n_layers - 1 and post == task or np.any((edges[:, 0] == layer + 1) & (edges[:, 1] == post))
            fed = layer == 1 or np.any((edges[:, 0] == layer - 1) & (edges[:, 2] == pre))
            keep[i] = feeds and fed
        if keep.all():
            return edges
        edges = edges[keep]


def extract_ccg(layers: Layers, acts: list[np.ndarray], labels, task: int,
                params: CCGParams = CCGParams()) -> CCG:
    """The CCG of ``task`` (clustering → growing → pruning; see the module docstring).

    ``layers`` from :func:`network_layers`, ``acts`` the probe-set activity of each neuron layer
    (:func:`forward_layers` or :func:`split_activity`), ``labels`` the probe labels.
    """
    params.validate()
    n_l = len(_layers(layers))
    if len(acts) != n_l:
        raise ValueError(f"need one activity matrix per neuron layer ({n_l}), got {len(acts)}")
    if not 0 <= task < layers[-1][0].shape[0]:
        raise ValueError(f"task {task} is not an output neuron (0 … {layers[-1][0].shape[0] - 1})")
    deltas, snrs = task_snr(acts, labels, task)
    on = np.asarray(labels) == task
    edges, signal, frontier, sign = [], {}, [task], {task: 1.0}
    for layer in range(n_l - 1, 0, -1):                       # growing, output side first
        w = layers[layer][0]
        cand = np.flatnonzero(np.abs(snrs[layer - 1]) >= params.snr_min)
        new = {}
        for k in frontier:
            if not cand.size:
                break
            c = sign[k] * w[k, cand] * deltas[layer - 1][cand]
            best = c.max()
            for o in np.flatnonzero((c > 0) & (c >= params.rel_min * best)):
                j = int(cand[o])
                edges.append((layer, j, k))
                signal[(layer, j, k)] = float(c[o])
                new[j] = float(np.sign(deltas[layer - 1][j]) or 1.0)
        frontier, sign = list(new), new
    e = _drop_dangling(np.array(edges, dtype=int).reshape(-1, 3), n_l, task)
    means = layer_means(acts) if params.ablation == "mean" else None
    score = lambda ed: auc(ccg_output(layers, acts[0], ed, task, means), on)  # noqa: E731
    auc_grown = score(e) if len(e) else 0.5
    current = auc_grown
    for edge in sorted(map(tuple, e.tolist()), key=lambda x: signal[x]):     # pruning, weakest signal first
        if len(e) <= 1:
            break
        i = np.flatnonzero((e == edge).all(1))
        if not i.size:                                       # already gone with a dangling vertex
            continue
        trial = _drop_dangling(np.delete(e, i, axis=0), n_l, task)
        s = score(trial) if len(trial) else 0.5
        if s >= params.keep * auc_grown:
            e, current = trial, s
    return CCG(task=task, edges=e, n_layers=n_l, auc=float(current), auc_grown=float(auc_grown))


def extract_all(layers: Layers, acts: list[np.ndarray], labels, params: CCGParams = CCGParams()) -> list[CCG]:
    """One CCG per output class (paper 003 Fig 5a)."""
    return [extract_ccg(layers, acts, labels, t, params) for t in range(layers[-1][0].shape[0])]


def union_masks(ccgs: list[CCG], layers: Layers) -> list[np.ndarray]:
    """0/1 masks for every Linear layer keeping the union of the CCGs' neuron→neuron edges (the
    input→first-layer weights are kept whole)."""
    masks = [np.ones_like(layers[0][0])] + [np.zeros_like(w) for w, _ in layers[1:]]
    for g in ccgs:
        for layer, pre, post in g.edges:
            masks[layer][post, pre] = 1.0
    return masks


def masked_model(model: nn.Module, masks: list[np.ndarray], means=None) -> nn.Module:
    """A copy of ``model`` with each Linear weight multiplied by its mask (the CCG-only network); with
    ``means`` (:func:`layer_means`) the masked inputs' mean contribution is folded into the biases
    (mean ablation, as in :func:`ccg_output`)."""
    out = copy.deepcopy(model)
    lins = feedforward(out).linears
    if len(lins) != len(masks):
        raise ValueError(f"{len(masks)} masks for {len(lins)} Linear layers")
    with torch.no_grad():
        for i, (m, k) in enumerate(zip(lins, masks)):
            k = torch.as_tensor(k, dtype=m.weight.dtype)
            if means is not None and i > 0:
                m.bias.add_((m.weight * (1 - k)) @ torch.as_tensor(means[i - 1], dtype=m.weight.dtype))
            m.weight.mul_(k)
    return out


def feature_map(g: CCG, layers: Layers) -> np.ndarray:
    """The CCG's first-layer feature (Fig 5a): Σ_j s_j W_1[j, :] over its first-layer neurons j, with
    s_j the summed product of weights along the CCG's paths from j to the output."""
    s = {g.task: 1.0}
    for layer in range(g.n_layers - 1, 0, -1):
        w = layers[layer][0]
        nxt: dict[int, float] = {}
        for _, pre, post in g.edges[g.edges[:, 0] == layer]:
            if int(post) in s:
                nxt[int(pre)] = nxt.get(int(pre), 0.0) + w[post, pre] * s[int(post)]
        s = nxt
    w1 = layers[0][0]
    return sum((v * w1[j] for j, v in s.items()), np.zeros(w1.shape[1]))


def membership_order(ccgs: list[CCG], sizes) -> tuple[np.ndarray, list[int]]:
    """Neuron order for Fig 5b–c: the neurons of CCG 0, then new ones of CCG 1, …, then the rest
    (columns of the concatenated activity).  Returns (order, group start positions)."""
    offs = np.concatenate(([0], np.cumsum(sizes)))
    order, starts, seen = [], [], set()
    for g in ccgs:
        starts.append(len(order))
        for layer, v in enumerate(g.vertices):
            for i in v:
                col = int(offs[layer] + i)
                if col not in seen:
                    seen.add(col)
                    order.append(col)
    starts.append(len(order))
    order += [c for c in range(int(offs[-1])) if c not in seen]
    return np.array(order), starts


def coupling_cost(g: CCG, acts: list[np.ndarray], layers: Layers, labels) -> np.ndarray:
    """Per-sample coupling cost E_G(x) of the CCG (module docstring), from activities ``acts`` and the
    weight signs of ``layers`` — both taken at the same checkpoint."""
    if not g.n_edges:
        return np.zeros(len(labels))
    on = np.asarray(labels) == g.task
    z = {}
    for layer, verts in enumerate(g.vertices):
        a = acts[layer][:, verts]
        mid = (a[on].mean(0) + a[~on].mean(0)) / 2
        sd = np.sqrt((a[on].var(0) + a[~on].var(0)) / 2)
        zz = (a - mid) / np.where(sd > 1e-12, sd, 1.0)
        for c, v in enumerate(verts):
            z[(layer, int(v))] = zz[:, c]
    e = np.zeros(len(labels))
    for layer, pre, post in g.edges:
        e -= np.sign(layers[layer][0][post, pre]) * z[(layer - 1, int(pre))] * z[(layer, int(post))]
    return e / g.n_edges


def aging_fit(steps, cost) -> fitting.LineFit:
    """Least-squares fit ``E_G(t) = c − α ln t`` over the checkpoints with t ≥ 1 (Fig 5m): a
    :class:`~critnotes.analysis.fitting.LineFit` of E_G on ln t, α = −slope (α > 0: logarithmic decrease)."""
    t = np.asarray(steps, dtype=float)
    y = np.asarray(cost, dtype=float)
    sel = (t >= 1) & np.isfinite(y)
    if sel.sum() < 3:
        raise ValueError("the aging fit needs at least three checkpoints with t >= 1")
    return fitting.linear_fit(t[sel], y[sel], log_x=True)


@dataclasses.dataclass(frozen=True)
class AgingComparison:
    """Least-squares fits of E_G(t) over the checkpoints with t ≥ 1 (Fig 5m): ``"log"`` c − α ln t (2
    parameters), ``"power"`` c + a·t^(−β) and ``"exponential"`` c + a·e^(−t/τ) (3 each), with
    AIC = n ln(RSS/n) + 2k (``inf`` when a fit fails) and the fitted parameters."""

    aic: dict
    params: dict
    n: int

    @property
    def best(self) -> str:
        return min(self.aic, key=self.aic.get)

    @property
    def delta_log(self) -> float:
        """AIC of the logarithmic form minus the best AIC (0: the log form is best; > 10: decisively worse)."""
        return float(self.aic["log"] - min(self.aic.values()))


def aging_models(steps, cost) -> AgingComparison:
    """:class:`AgingComparison` of E_G(t): the −ln t aging of Fig 5m against a power-law and an
    exponential relaxation (a logarithmic decrease is a statement about the form, not only the sign)."""
    from scipy.optimize import curve_fit

    t = np.asarray(steps, dtype=float)
    y = np.asarray(cost, dtype=float)
    sel = (t >= 1) & np.isfinite(y)
    if sel.sum() < 4:
        raise ValueError("the aging model comparison needs at least four checkpoints with t >= 1")
    t, y = t[sel], y[sel]
    n, span = t.size, float(np.ptp(y)) or 1.0
    forms = {"log": (lambda t, c, a: c - a * np.log(t), [y[0], 0.0]),
             "power": (lambda t, c, a, b: c + a * t ** -b, [y[-1], y[0] - y[-1], 0.5]),
             "exponential": (lambda t, c, a, tau: c + a * np.exp(-t / tau), [y[-1], y[0] - y[-1], float(np.median(t))])}
    aic, params = {}, {}
    for name, (f, p0) in forms.items():
        try:
            with np.errstate(all="ignore"):
                p, _ = curve_fit(f, t, y, p0=p0, maxfev=20_000)
            rss = float(np.sum((y - f(t, *p)) ** 2))
            aic[name] = n * np.log(max(rss, 1e-300 * span) / n) + 2 * len(p0)
            params[name] = [float(v) for v in p]
        except (RuntimeError, ValueError):
            aic[name], params[name] = float("inf"), None
    return AgingComparison(aic=aic, params=params, n=int(n))


def random_graph(g: CCG, sizes, seed: int = 0) -> CCG:
    """The null of a CCG: as many edges between the same neuron layers, their endpoints drawn uniformly
    (edges into the output still end on the task's neuron); ``sizes`` = neurons per neuron layer."""
    rng = np.random.default_rng(seed)
    e = g.edges.copy()
    for i, (layer, _, _) in enumerate(e):
        e[i, 1] = rng.integers(sizes[layer - 1])
        if layer < g.n_layers - 1:
            e[i, 2] = rng.integers(sizes[layer])
    return CCG(task=g.task, edges=np.unique(e, axis=0) if len(e) else e, n_layers=g.n_layers, auc=float("nan"),
               auc_grown=float("nan"))


def overlap(a_in, a_out, bins: int = 50) -> float:
    """Overlap coefficient ∫ min(p_T, p_¬T) of two activity histograms on shared bins (Fig 5k)."""
    a_in, a_out = np.asarray(a_in, float), np.asarray(a_out, float)
    edges = np.histogram_bin_edges(np.concatenate([a_in, a_out]), bins=bins)
    p, _ = np.histogram(a_in, edges, density=True)
    q, _ = np.histogram(a_out, edges, density=True)
    return float(np.sum(np.minimum(p, q) * np.diff(edges)))


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Class-balanced Platt scaling ``p(T | x) = σ(a·score + b)``: fitted so that T and ¬T weigh equally,
    hence ``p ≥ 1/2`` is the balanced decision."""

    a: float
    b: float

    def __call__(self, score) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.a * np.asarray(score, float) + self.b)))


def calibrate(score, positive) -> Calibration:
    """Fit :class:`Calibration` to ``score`` (one CCG's output logit) for ``positive`` (x ∈ T) by
    minimising the class-balanced cross-entropy (Fig 5e; makes the CCGs' outputs comparable)."""
    from scipy.optimize import minimize

    s = np.asarray(score, float)
    y = np.asarray(positive, bool)
    if y.all() or not y.any():
        raise ValueError("calibration needs samples inside and outside the task")
    sd = s.std() or 1.0
    w = np.where(y, 0.5 / y.sum(), 0.5 / (~y).sum())

    def loss(theta):
        z = theta[0] * (s - s.mean()) / sd + theta[1]
        return float(np.sum(w * (np.logaddexp(0, -z) * y + np.logaddexp(0, z) * ~y)))

    a, b = minimize(loss, np.zeros(2), method="BFGS").x
    return Calibration(a=float(a / sd), b=float(b - a * s.mean() / sd))


@dataclasses.dataclass(frozen=True)
class TaskScore:
    """One output scored on its own task T vs ¬T (Fig 5e): ``auc``, ``balanced_acc`` (calibrated p ≥ 1/2),
    ``loss_on_task`` (mean −ln p(T|x) over x ∈ T) and ``loss_per_sample`` (−ln p(T|x) for x ∈ T, Fig 5d)."""

    auc: float
    balanced_acc: float
    loss_on_task: float
    loss_per_sample: np.ndarray


def score_task(score, positive, calibration: Calibration) -> TaskScore:
    """:class:`TaskScore` of an output ``score`` for ``positive`` with a fitted :class:`Calibration`."""
    y = np.asarray(positive, bool)
    p = np.clip(calibration(score), 1e-12, 1 - 1e-12)
    pred = p >= 0.5
    bal = 0.5 * (pred[y].mean() + (~pred[~y]).mean())
    per = -np.log(p[y])
    return TaskScore(auc=auc(score, y), balanced_acc=float(bal), loss_on_task=float(per.mean()), loss_per_sample=per)
