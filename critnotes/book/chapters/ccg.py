"""Chapter 10 — critical computational graphs and coupling cost (paper 003 §4, Fig 5).

One CCG per digit is extracted from the shared paper-003 run with the clustering–growing–pruning
algorithm of :mod:`critnotes.analysis.computational_graphs`; the CCG-only networks are evaluated on train and test; N_V and N_E
are measured over an (M, γ) grid of runs (the grid of the concentration chapter, so the cache is
shared) and their distribution fitted; the coupling cost E_G is followed over training and fitted
with E_G(t) = c − α ln t.
"""
from __future__ import annotations

import dataclasses
import sys

import matplotlib.pyplot as plt
import numpy as np
import torch

from critnotes.analysis import computational_graphs as ccg
from critnotes.analysis import fitting, graphs
from critnotes.analysis.losses import evaluate, per_sample_losses
from critnotes.book.chapters import summarize
from critnotes.book.chapters.concentration import GridConfig
from critnotes.book.plotting import axes
from critnotes.book.profiles import chapter_config
from critnotes.book.results import Claim
from critnotes.training.data import MNIST_ATTRIBUTION
from critnotes.training.loop import run_data
from critnotes.training.runs import SHARED_RUN, CriticalRunConfig, critical_run
from critnotes.training.sweeps import Failed, sweep

CHAPTER = "ccg"


@dataclasses.dataclass(frozen=True)
class CCGConfig:
    run: CriticalRunConfig = SHARED_RUN["quick"]
    params: ccg.CCGParams = ccg.CCGParams()
    sweep: GridConfig = GridConfig()     # the concentration chapter's (M, γ) grid: runs shared
    min_test_acc: float = 0.5             # sweep runs below this (diverged / untrained) are left out


PROFILES = {
    "ci": CCGConfig(run=SHARED_RUN["ci"], sweep=GridConfig(widths=(10, 20), lrs=(0.1, 3.0), steps=300,
                                                            n_checkpoints=12, n_jobs=1)),
    "quick": CCGConfig(),
    "paper": CCGConfig(run=SHARED_RUN["paper"], sweep=GridConfig(widths=(10, 25, 50, 100, 250, 500),
                                                                 lrs=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0),
                                                                 steps=200_000, n_checkpoints=60)),
}


@dataclasses.dataclass
class CCGResults:
    cfg: CCGConfig
    ccgs: list                      # ccg.CCG per digit (shared run)
    layers: list                    # final (W, b) per Linear layer
    sizes: list                     # neurons per layer
    probe_activity: np.ndarray      # (n_probe, M) at the end
    probe_labels: np.ndarray
    evaluation: dict                # dense / union (mean and zero ablation) × train/test: loss, acc, per digit
    per_digit_auc: dict             # split → (10,) AUC of each standalone CCG logit
    features: np.ndarray            # (10, 28, 28) first-layer feature maps
    steps: np.ndarray
    cost_t: np.ndarray              # (10, n_ckpt) E_G(t)
    cost_end: list                  # per digit: per-sample E_G(x) on the probe set at the end
    aging: list                     # per digit ccg.aging_fit LineFit (α = −slope)
    output_overlap: np.ndarray      # (10,) overlap of the output neuron's activity x∈T vs x∉T
    grid: list                      # per sweep run: dict(width, M, lr, gamma, test_acc, nv, ne) or failure
    dense_edges: int
    sample_loss: np.ndarray         # (N,) per-sample training loss L_k at the end of the shared run
    sample_labels: np.ndarray       # (N,) their digits


def sweep_point(cfg_params) -> dict:
    """N_V, N_E of each digit's CCG for one run of the grid (module level: joblib-picklable)."""
    rc, params = cfg_params
    res = critical_run(rc, progress=False)
    out = {"width": rc.width, "M": rc.n_neurons, "lr": rc.lr, "gamma": rc.gamma, "test_acc": res.test_acc,
           "diverged": res.diverged}
    if res.diverged:
        return out
    rec = res.probes["activity"]
    graphs = ccg.extract_all(ccg.network_layers(res.model()), ccg.split_activity(rec.activity[-1], rec.layer_sizes),
                             rec.labels, params)
    out.update(nv=[g.n_vertices for g in graphs], ne=[g.n_edges for g in graphs])
    return out


def _evaluate(model, data, labels_split) -> dict:
    out = {}
    for split, (x, y) in labels_split.items():
        loss, acc = evaluate(model, x, y)
        per = per_sample_losses(model, x, y).numpy()
        with torch.no_grad():
            pred = model(x).argmax(1).numpy()
        yy = y.numpy()
        out[split] = {"loss": loss, "acc": acc,
                      "acc_digit": [float((pred[yy == d] == d).mean()) for d in range(10)],
                      "loss_digit": [float(per[yy == d].mean()) for d in range(10)], "per_sample": per}
    return out


def run(cfg: CCGConfig, device=None, progress: bool = True) -> CCGResults:
    res = critical_run(cfg.run, device=device, progress=progress)
    rec, wrec = res.probes["activity"], res.probes["weights"]
    model = res.model()
    layers = ccg.network_layers(model)
    acts = ccg.split_activity(rec.activity[-1], rec.layer_sizes)
    graphs = ccg.extract_all(layers, acts, rec.labels, cfg.params)
    means = ccg.layer_means(acts)

    data = run_data(cfg.run.train_config())
    splits = {"train": (data.x_train, data.y_train), "test": (data.x_test, data.y_test)}
    masks = ccg.union_masks(graphs, layers)
    evaluation = {"dense": _evaluate(model, data, splits),
                  "union_mean": _evaluate(ccg.masked_model(model, masks, means), data, splits),
                  "union_zero": _evaluate(ccg.masked_model(model, masks), data, splits)}
    aucs = {}
    for split, (x, y) in splits.items():
        a0 = ccg.forward_layers(layers, x.numpy())[0]
        aucs[split] = np.array([ccg.auc(ccg.ccg_output(layers, a0, g.edges, g.task, means), y.numpy() == g.task)
                                for g in graphs])

    # coupling cost over training (weights and activities of each checkpoint)
    shapes = [(w.shape, b.shape) for w, b in layers]
    cost_t = np.zeros((len(graphs), len(rec.steps)))
    for k in range(len(rec.steps)):
        flat = wrec.weights[int(np.argmin(np.abs(wrec.steps - rec.steps[k])))].astype(float)
        lt, off = [], 0
        for ws, bs in shapes:
            nw, nb = int(np.prod(ws)), int(np.prod(bs))
            lt.append((flat[off:off + nw].reshape(ws), flat[off + nw:off + nw + nb]))
            off += nw + nb
        ak = ccg.split_activity(rec.activity[k], rec.layer_sizes)
        for i, g in enumerate(graphs):
            e = ccg.coupling_cost(g, ak, lt, rec.labels)
            on = rec.labels == g.task
            cost_t[i, k] = (e[on].mean() + e[~on].mean()) / 2
    aging = [ccg.aging_fit(rec.steps, c) for c in cost_t]
    cost_end = [ccg.coupling_cost(g, acts, layers, rec.labels) for g in graphs]
    overlap = np.array([ccg.overlap(acts[-1][rec.labels == d, d], acts[-1][rec.labels != d, d]) for d in range(10)])
    features = np.stack([ccg.feature_map(g, layers).reshape(28, 28) for g in graphs])

    grid = sweep(sweep_point, [(c, cfg.params) for c in cfg.sweep.configs()], n_jobs=cfg.sweep.n_jobs,
                 desc="CCG grid", progress=progress)
    grid = [({"failed": g.error} if isinstance(g, Failed) else g) for g in grid]
    dense_edges = int(sum(w.size for w, _ in layers[1:]))
    sl = res.probes["sample_loss"]
    return CCGResults(cfg, graphs, layers, rec.layer_sizes, rec.activity[-1], rec.labels, evaluation, aucs, features,
                      rec.steps, cost_t, cost_end, aging, overlap, grid, dense_edges, sl.losses[-1], sl.labels)


# --------------------------------------------------------------------------------------------------
# derived numbers
# --------------------------------------------------------------------------------------------------
def usable_grid(res: CCGResults) -> list[dict]:
    """Grid runs that trained (not diverged, test accuracy ≥ min_test_acc)."""
    return [g for g in res.grid if "nv" in g and g["test_acc"] >= res.cfg.min_test_acc]


def size_fits(res: CCGResults) -> dict:
    """Discrete power-law MLE of N_V and N_E pooled over all digits and usable grid runs (Fig 5i)."""
    out = {}
    for key in ("nv", "ne"):
        vals = np.concatenate([np.asarray(g[key], float) for g in usable_grid(res)] or [np.zeros(0)])
        vals = vals[vals > 0]
        try:
            f = fitting.fit_powerlaw(vals, discrete=True, alpha_range=(1.0, 12.0))
            out[key] = {"tau": f.alpha, "tau_se": f.alpha_se, "xmin": f.xmin, "n_tail": f.n_tail, "n": int(vals.size),
                        "reading": f.favoured(), "comparisons": f.comparisons}
        except ValueError as exc:
            out[key] = {"tau": None, "n": int(vals.size), "error": str(exc)}
    return out


def claims(res: CCGResults) -> list[Claim]:
    nv = np.array([g.n_vertices for g in res.ccgs])
    ne = np.array([g.n_edges for g in res.ccgs])
    ev = res.evaluation
    out = [Claim(f"{CHAPTER}.edges.mean", "CCGs have O(10) edges each (agreement: mean within 10^±0.5 of 10)",
                 "O(10)", float(ne.mean()), bool(10 ** 0.5 <= ne.mean() < 10 ** 1.5), {"per_digit": ne, "dense_edges": res.dense_edges,
                                              "reduction": res.dense_edges / max(ne.mean(), 1e-9)}),
           Claim(f"{CHAPTER}.vertices.mean", "mean number of CCG vertices N_V", None, float(nv.mean()), None,
                 {"per_digit": nv}),
           Claim(f"{CHAPTER}.reduction", "CCGs are ~1000x sparser than the dense network", 1000,
                 res.dense_edges / max(ne.mean(), 1e-9), bool(res.dense_edges / max(ne.mean(), 1e-9) >= 300),
                 {"dense_edges": res.dense_edges, "mean_edges": float(ne.mean())})]
    for split in ("test", "train"):
        d, u, z = ev["dense"][split], ev["union_mean"][split], ev["union_zero"][split]
        out.append(Claim(f"{CHAPTER}.union.{split}_acc", f"CCG-union network keeps the dense {split} accuracy "
                         "(mean ablation of masked weights)", "kept or better", u["acc"],
                         bool(u["acc"] >= d["acc"] - 0.02),
                         {"dense_acc": d["acc"], "dense_loss": d["loss"], "union_loss": u["loss"],
                          "union_zero_ablation_acc": z["acc"], "union_zero_ablation_loss": z["loss"]}))
    out.append(Claim(f"{CHAPTER}.per_digit.test_auc", "each CCG alone separates its digit from the rest (test AUC)",
                     None, float(res.per_digit_auc["test"].mean()), None,
                     {"per_digit_test": res.per_digit_auc["test"], "per_digit_train": res.per_digit_auc["train"]}))
    sf = size_fits(res)
    tau = sf["nv"]["tau"]
    out.append(Claim(f"{CHAPTER}.tau.nv", "N_V over all runs and digits is power-law distributed, τ ≈ 1.5", 1.5, tau,
                     None if tau is None else bool(abs(tau - 1.5) < 2 * max(sf["nv"]["tau_se"], 0.1)), sf["nv"]))
    out.append(Claim(f"{CHAPTER}.tau.ne", "N_E over all runs and digits is power-law distributed", None, sf["ne"]["tau"],
                     None, sf["ne"]))
    alphas = np.array([-a.slope for a in res.aging])
    r2 = np.array([a.r2 for a in res.aging])
    out.append(Claim(f"{CHAPTER}.aging", "coupling cost decreases as E_G(t) = c − α ln t (slope α > 0, good fit)",
                     "α > 0", float(alphas.mean()), bool((alphas > 0).all() and np.median(r2) > 0.8),
                     {"alpha_per_digit": alphas, "r2_per_digit": r2, "r2_median": float(np.median(r2))}))
    return out


def reproduce(profile=None, device=None, progress=True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


# --------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------
def draw_ccg(res: CCGResults, digit: int = 0, ax=None):
    """A digit's CCG drawn layer by layer (h1 → h2 → output); edge width ∝ |w|, red excitatory, blue
    inhibitory; node labels are neuron indices within their layer — Fig 5a."""
    fig, ax = axes(ax, figsize=(4, 3.5))
    g = res.ccgs[digit]
    verts = g.vertices
    pos = {}
    for layer, v in enumerate(verts):
        for i, n in enumerate(v):
            pos[(layer, int(n))] = (layer, (i + 1) / (len(v) + 1))
    wmax = max((abs(res.layers[lay][0][post, pre]) for lay, pre, post in g.edges), default=1.0)
    for lay, pre, post in g.edges:
        w = res.layers[lay][0][post, pre]
        (x0, y0), (x1, y1) = pos[(lay - 1, int(pre))], pos[(lay, int(post))]
        ax.plot([x0, x1], [y0, y1], color="#e76f51" if w > 0 else "#457b9d", lw=0.5 + 3 * abs(w) / wmax)
    for (layer, n), (x, y) in pos.items():
        ax.scatter([x], [y], s=250, color="#f1faee", edgecolor="k", zorder=3)
        ax.text(x, y, str(n), ha="center", va="center", fontsize=7, zorder=4)
    names = ["hidden 1", "hidden 2", "output"] if g.n_layers == 3 else [f"layer {i}" for i in range(g.n_layers)]
    ax.set_xticks(range(g.n_layers), names)
    ax.set_yticks([])
    ax.set_xlim(-0.4, g.n_layers - 0.6)
    ax.set_ylim(0, 1)
    ax.set_title(f"digit {digit}: N_V = {g.n_vertices}, N_E = {g.n_edges}", fontsize=9)
    return fig


def plot_feature(res: CCGResults, digit: int = 0, ax=None):
    """The CCG's first-layer feature map (28 × 28 pixels; red: raises the digit's logit) — Fig 5a."""
    fig, ax = axes(ax, figsize=(3, 3))
    f = res.features[digit]
    v = np.abs(f).max() or 1.0
    im = ax.imshow(f, cmap="RdBu_r", vmin=-v, vmax=v)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"feature map, digit {digit}", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8, label="weight (a.u.)")
    return fig


def plot_digit(res: CCGResults, digit: int = 0):
    """The widget's figure: a digit's CCG, its feature map, and its accuracy and AUC."""
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(11, 3.4), constrained_layout=True,
                                     gridspec_kw={"width_ratios": [1.3, 1, 1]})
    draw_ccg(res, digit, ax=a1)
    plot_feature(res, digit, ax=a2)
    ev = res.evaluation
    names = ["dense", "union (mean abl.)", "union (zero abl.)"]
    vals = [ev[k]["test"]["acc_digit"][digit] for k in ("dense", "union_mean", "union_zero")]
    a3.bar(names, vals, color=["#264653", "#e76f51", "#9e9e9e"])
    a3.set_ylim(0, 1)
    a3.set_ylabel(f"test accuracy on digit {digit}")
    a3.tick_params(axis="x", labelsize=7)
    a3.set_title(f"standalone CCG test AUC = {res.per_digit_auc['test'][digit]:.3f}", fontsize=9)
    fig.text(0.01, 0.01, MNIST_ATTRIBUTION.split(";")[0] + "; CC BY-SA 3.0", fontsize=6)
    return fig


def plot_accuracy(res: CCGResults, split: str = "test", ax=None):
    """Per-digit accuracy and mean loss of the dense and the CCG-union networks — Fig 5e."""
    fig, ax = axes(ax, figsize=(6, 3.5))
    ev = res.evaluation
    d = np.arange(10)
    for i, (k, c) in enumerate((("dense", "#264653"), ("union_mean", "#e76f51"), ("union_zero", "#9e9e9e"))):
        ax.bar(d + 0.27 * (i - 1), ev[k][split]["acc_digit"], 0.27, color=c,
               label=f"{k} (acc {ev[k][split]['acc']:.3f}, loss {ev[k][split]['loss']:.2f})")
    ax.set_xticks(d)
    ax.set_xlabel("digit")
    ax.set_ylabel(f"{split} accuracy")
    ax.legend(fontsize=7)
    return fig


def plot_sample_loss(res: CCGResults, ax=None):
    """Distribution of the per-sample training loss L_k for x_k ∈ T, one curve per digit task T — Fig 5d."""
    fig, ax = axes(ax, figsize=(5.5, 3.5))
    pos = res.sample_loss[res.sample_loss > 0]
    edges = np.geomspace(max(pos.min(), 1e-12), pos.max() * 1.01, 40)
    cmap = plt.get_cmap("tab10")
    for d in range(10):
        x = res.sample_loss[(res.sample_labels == d) & (res.sample_loss > 0)]
        h, _ = np.histogram(x, bins=edges, density=True)
        centres = np.sqrt(edges[1:] * edges[:-1])
        ax.loglog(centres[h > 0], h[h > 0], "-", color=cmap(d), lw=1, label=f"{d} (median {np.median(x):.1e})")
    ax.set_xlabel("per-sample training loss L_k (nats)")
    ax.set_ylabel("p(L) (1/nats)")
    ax.set_title("per-sample loss for x ∈ T, by digit task T")
    ax.legend(fontsize=6, ncol=2)
    return fig


def plot_ordered(res: CCGResults, ax=None):
    """Activity raster (z-scored; probe samples sorted by digit) and correlation matrix with neurons
    ordered by CCG membership (digit 0's CCG first, …, then the rest) — Fig 5b–c."""
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    else:
        fig = ax[0].figure
    order, starts = ccg.membership_order(res.ccgs, res.sizes)
    a = res.probe_activity[:, order].astype(float)
    z = (a - a.mean(0)) / np.where(a.std(0) > 0, a.std(0), 1)
    ax[0].imshow(z.T, aspect="auto", cmap="gray_r", vmin=0, vmax=2.5, interpolation="nearest")
    ax[0].set_xlabel("probe sample (sorted by digit)")
    ax[0].set_ylabel("neuron (CCG order)")
    c = graphs.correlation_matrix(a)
    im = ax[1].imshow(c, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    for axx in ax:
        for s in starts:
            axx.axhline(s - 0.5, color="#e76f51", lw=0.4)
    n_ccg = starts[-1]
    ax[1].set_xlim(-0.5, min(len(order), 2 * n_ccg) - 0.5)
    ax[1].set_ylim(min(len(order), 2 * n_ccg) - 0.5, -0.5)
    ax[1].set_xlabel("neuron (CCG order)")
    ax[1].set_title("Pearson C (CCG neurons, then others)", fontsize=9)
    fig.colorbar(im, ax=ax[1], label="C_ij")
    return fig


def plot_sizes(res: CCGResults, ax=None):
    """N_V and N_E against M (colour: γ) over the grid — Fig 5f–g."""
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.5), constrained_layout=True)
    else:
        fig = ax[0].figure
    grid = usable_grid(res)
    gam = np.array([g["gamma"] for g in grid])
    for axx, key, name in ((ax[0], "nv", "N_V"), (ax[1], "ne", "N_E")):
        m = np.array([g["M"] for g in grid])
        v = np.array([np.mean(g[key]) for g in grid])
        sc = axx.scatter(m, v, c=np.log10(gam), cmap="viridis")
        axx.set_xscale("log")
        axx.set_xlabel("M (neurons)")
        axx.set_ylabel(f"mean {name} over digits")
    fig.colorbar(sc, ax=ax[1], label="log10 γ = log10(ν/B)")
    return fig


def plot_size_distribution(res: CCGResults, ax=None):
    """Distribution of N_V and N_E over all digits and grid runs, with the MLE τ — Fig 5i."""
    fig, ax = axes(ax, figsize=(5, 3.8))
    sf = size_fits(res)
    for key, c in (("nv", "#264653"), ("ne", "#e76f51")):
        vals = np.concatenate([np.asarray(g[key], float) for g in usable_grid(res)] or [np.zeros(0)])
        vals = vals[vals > 0]
        if not vals.size:
            continue
        u, cnt = np.unique(vals, return_counts=True)
        tau = sf[key]["tau"]
        ax.loglog(u, cnt / cnt.sum(), "o", color=c,
                  label=f"{'N_V' if key == 'nv' else 'N_E'}" + (f" (τ = {tau:.2f})" if tau else ""))
    x = np.array([2.0, 30.0])
    ax.loglog(x, 0.5 * (x / 2) ** -1.5, "--", color="k", label="paper τ = 1.5")
    ax.set_xlabel("CCG size N")
    ax.set_ylabel("P(N)")
    ax.legend(fontsize=7)
    return fig


def plot_difficulty(res: CCGResults, ax=None):
    """Mean N_V, N_E per digit over the grid (task difficulty) — Fig 5h."""
    fig, ax = axes(ax, figsize=(5.5, 3.5))
    grid = usable_grid(res)
    d = np.arange(10)
    for i, (key, c) in enumerate((("nv", "#264653"), ("ne", "#e76f51"))):
        v = np.mean([g[key] for g in grid], axis=0) if grid else np.zeros(10)
        ax.bar(d + 0.4 * (i - 0.5), v, 0.4, color=c, label=f"mean {'N_V' if key == 'nv' else 'N_E'}")
    ax.set_xticks(d)
    ax.set_xlabel("digit")
    ax.set_ylabel("CCG size (over grid runs)")
    ax.legend(fontsize=7)
    return fig


def plot_coupling(res: CCGResults, digit: int = 0, ax=None):
    """Coupling: the output neuron's activity for x ∈ T vs x ∉ T (Fig 5j–k) and the per-sample coupling
    cost E_G(x) for x ∈ T vs x ∉ T at the end (Fig 5l)."""
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.3), constrained_layout=True)
    else:
        fig = ax[0].figure
    on = res.probe_labels == digit
    out = res.probe_activity[:, sum(res.sizes[:-1]) + digit]
    ax[0].hist(out[on], 30, density=True, alpha=0.6, color="#e76f51", label="x ∈ T")
    ax[0].hist(out[~on], 30, density=True, alpha=0.6, color="#9e9e9e", label="x ∉ T")
    ax[0].set_xlabel(f"logit of output neuron {digit}")
    ax[0].set_ylabel("density")
    ax[0].set_title(f"overlap = {res.output_overlap[digit]:.3f}", fontsize=9)
    ax[0].legend(fontsize=7)
    e = res.cost_end[digit]
    ax[1].hist(e[on], 30, density=True, alpha=0.6, color="#e76f51", label="x ∈ T")
    ax[1].hist(e[~on], 30, density=True, alpha=0.6, color="#9e9e9e", label="x ∉ T")
    ax[1].set_xlabel("per-sample coupling cost E_G(x) (dimensionless)")
    ax[1].set_ylabel("density")
    ax[1].legend(fontsize=7)
    return fig


def plot_aging(res: CCGResults, ax=None):
    """E_G(t) of every digit's CCG over training with the fits c − α ln t (Fig 5m)."""
    fig, ax = axes(ax, figsize=(5.5, 3.8))
    t = res.steps.astype(float)
    sel = t >= 1
    cmap = plt.get_cmap("tab10")
    for d, (c, a) in enumerate(zip(res.cost_t, res.aging)):
        ax.semilogx(t[sel], c[sel], "o", ms=3, color=cmap(d))
        ax.semilogx(t[sel], a.intercept + a.slope * np.log(t[sel]), "-", color=cmap(d), lw=0.8,
                    label=f"{d}: α={a['alpha']:.2f}, R²={a['r2']:.2f}")
    ax.set_xlabel("training step t")
    ax.set_ylabel("coupling cost E_G(t) (dimensionless)")
    ax.legend(fontsize=6, ncol=2)
    return fig
