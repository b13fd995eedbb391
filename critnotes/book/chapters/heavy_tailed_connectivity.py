"""Chapter 9 — heavy-tailed connectivity and the critical redistribution model (paper 003 §3, Fig 4).

From the shared paper-003 run (:data:`critnotes.training.runs.SHARED_RUN`): the distributions of |C_ij|, weights
against their re-initialised baseline, Var(w) along the trajectory, w_T − w_0, the gradient-noise
covariance C, the squared mean gradient S and the Hessian H (exact on a parameter subset), and the
irreversibility R, each fitted by MLE with model comparison (:mod:`critnotes.analysis.connections`);
critical / non-critical / redundant connections and removing the redundant ones (Fig 4l); and the
critical redistribution model with its α–P_C relation (:mod:`critnotes.analysis.redistribution`, Fig 4j–k).
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np
import torch

from critnotes.analysis import connections as cs
from critnotes.analysis import fitting, graphs, redistribution
from critnotes.book.chapters import summarize
from critnotes.book.plotting import PALETTE, axes, loglog_pdf
from critnotes.book.profiles import chapter_config
from critnotes.book.results import Claim
from critnotes.training.loop import run_data
from critnotes.training.runs import SHARED_RUN, CriticalRunConfig, critical_run, model_at

CHAPTER = "heavy-tailed-connectivity"

#: the distributions of Fig 4 and their labels (|x| is fitted)
LABELS = {
    "corr_t0": "|C_ij|, t = 0", "corr_mid": "|C_ij|, t ≈ t_mid", "corr_end": "|C_ij|, end",
    "w_init": "|w|, re-initialised (t = 0)", "w_mid": "|w|, t ≈ t_mid", "w_pos": "w > 0, end", "w_neg": "|w|, w < 0, end",
    "var": "Var(w) along trajectory", "disp": "|w_T − w_0|", "R": "irreversibility R",
    "C_t0": "|C| grad-noise cov, t = 0", "C_mid": "|C| grad-noise cov, t ≈ t_mid", "C_end": "|C| grad-noise cov, end",
    "S_t0": "|S| = |ḡḡᵀ|, t = 0", "S_mid": "|S|, t ≈ t_mid", "S_end": "|S|, end",
    "H_t0": "|H| Hessian, t = 0", "H_mid": "|H|, t ≈ t_mid", "H_end": "|H|, end",
}


@dataclasses.dataclass(frozen=True)
class HeavyTailedConfig:
    run: CriticalRunConfig = SHARED_RUN["quick"]
    t_mid: int = 100                      # the connectivity transition (paper: t ≈ 100)
    c_th: float = 0.5                     # critical connection: C_ij >= c_th between its two neurons
    n_per_layer: int = 100                # weights per Linear layer in the C/S/H subset
    n_grad_samples: int = 1000            # training samples for C, S, H
    window: int = 8                       # checkpoints per window of the irreversibility R
    max_fit: int = 50_000                 # samples per MLE fit (random subsample above that)
    n_removal: int | None = None          # training samples for the removal experiment (None: all)
    pc_values: tuple[float, ...] = (0.1, 0.2, 0.3, 0.37, 0.5, 0.6, 0.7, 0.8, 0.9)
    model: redistribution.RedistributionConfig = redistribution.RedistributionConfig()
    seed: int = 0


PROFILES = {
    "ci": HeavyTailedConfig(run=SHARED_RUN["ci"], n_per_layer=20, n_grad_samples=100, window=4, max_fit=3000,
                            n_removal=1000, pc_values=(0.3, 0.5, 0.9),
                            model=redistribution.RedistributionConfig(n_neurons=20, n_matrices=20, sweeps=10)),
    "quick": HeavyTailedConfig(),
    "paper": HeavyTailedConfig(run=SHARED_RUN["paper"], n_per_layer=200, n_grad_samples=2000, max_fit=200_000),
}


@dataclasses.dataclass
class HeavyTailedResults:
    cfg: HeavyTailedConfig
    steps: np.ndarray
    t_mid: int                            # the recorded checkpoint used for "t ≈ t_mid"
    samples: dict                         # name → |values| (subsampled to max_fit) for the figures
    tails: dict                           # name → assess_tail(...) dict
    subset: dict                          # the C/S/H parameter subset: sizes and layers
    groups: dict                          # group → {quantity: values} for critical / noncritical / redundant
    removal: dict                         # Fig 4l: per-sample losses kept / redundant removed / random removed
    model_alpha: dict                     # redistribution.alpha_vs_pc(...) without the fit objects
    model_weights: dict                   # P_C → pooled stationary weights (subsampled)
    test_acc: float


def _sub(x: np.ndarray, n: int, rng) -> np.ndarray:
    x = np.abs(np.asarray(x, dtype=float).ravel())
    return x if x.size <= n else rng.choice(x, n, replace=False)


def _weight_mask(rec, model) -> np.ndarray:
    """True for weight entries (not biases) of the flat parameter vector."""
    mask = np.zeros(len(rec.index), bool)
    for (start, _), lin in zip(rec.layer_bounds, [m for m in model.modules() if isinstance(m, torch.nn.Linear)]):
        mask[start:start + lin.weight.numel()] = True
    return mask


def run(cfg: HeavyTailedConfig, device=None, progress: bool = True) -> HeavyTailedResults:
    res = critical_run(cfg.run, device=device, progress=progress)
    rng = np.random.default_rng(cfg.seed)
    act, wrec = res.probes["activity"], res.probes["weights"]
    k_mid = int(np.argmin(np.abs(wrec.steps - cfg.t_mid)))
    t_mid = int(wrec.steps[k_mid])
    final = res.model()
    wmask = _weight_mask(wrec, final)
    w = wrec.weights[:, wmask].astype(float)

    samples = {"corr_t0": cs.abs_correlations(act.activity[0]), "corr_mid": cs.abs_correlations(act.at(t_mid)),
               "corr_end": cs.abs_correlations(act.activity[-1]),
               "w_init": w[0], "w_mid": w[k_mid], "w_pos": w[-1][w[-1] > 0], "w_neg": w[-1][w[-1] < 0]}
    traj = cs.trajectory_stats(wrec.steps, w, cfg.window)
    samples.update(var=traj["var"], disp=traj["disp"], R=traj["R"])

    data = run_data(cfg.run.train_config())
    gidx = torch.as_tensor(rng.choice(len(data.y_train), min(cfg.n_grad_samples, len(data.y_train)), replace=False))
    subset = cs.param_subset(final, cfg.n_per_layer, cfg.seed)
    iu = np.triu_indices(len(subset))
    for tag, t in (("t0", 0), ("mid", t_mid), ("end", int(wrec.steps[-1]))):
        mats = cs.gradient_matrices(model_at(res, t), data.x_train[gidx], data.y_train[gidx], subset)
        for name in ("C", "S", "H"):
            samples[f"{name}_{tag}"] = mats[name][iu]

    samples = {k: _sub(v, cfg.max_fit, rng) for k, v in samples.items()}
    tails = {k: cs.assess_tail(v, max_samples=cfg.max_fit, seed=cfg.seed) for k, v in samples.items()}

    # critical / non-critical / redundant connections (neuron → neuron only)
    table = cs.connection_table(final)
    c_mid, c_end = graphs.correlation_matrix(act.at(t_mid)), graphs.correlation_matrix(act.activity[-1])
    cls = cs.classify_connections(table, c_mid, c_end, cfg.c_th)
    pos = np.searchsorted(wrec.index, table.flat)
    traj_full = cs.trajectory_stats(wrec.steps, wrec.weights[:, pos].astype(float), cfg.window)
    groups = {g: {q: traj_full[q][m] for q in ("var", "disp", "w_T", "R", "acf_decay")} for g, m in cls.items()}

    n_eval = len(data.y_train) if cfg.n_removal is None else min(cfg.n_removal, len(data.y_train))
    x, y = data.x_train[:n_eval], data.y_train[:n_eval]
    red = table.flat[cls["redundant"]]
    nonc = np.flatnonzero(cls["noncritical"])
    rand = table.flat[rng.choice(nonc, size=min(len(red), len(nonc)), replace=False)]
    removal = {"kept": cs.remove_connections(final, [], x, y), "redundant_removed": cs.remove_connections(final, red, x, y),
               "random_removed": cs.remove_connections(final, rand, x, y), "n_redundant": int(len(red)),
               "n_critical": int(cls["critical"].sum()), "n_connections": int(len(table.flat))}

    av = redistribution.alpha_vs_pc(cfg.pc_values, cfg.model, n_fit=cfg.max_fit)
    model_weights = av.pop("weights")
    return HeavyTailedResults(cfg, wrec.steps, t_mid, samples, tails,
                              {"n_per_layer": cfg.n_per_layer, "size": int(len(subset)), "n_samples": int(len(gidx))},
                              groups, removal, av, model_weights, res.test_acc)


# --------------------------------------------------------------------------------------------------
# derived numbers
# --------------------------------------------------------------------------------------------------
def early_vs_late(res: HeavyTailedResults) -> dict:
    """For |C_ij|, |w|, C, S, H: heavy tailed at t = 0, at t_mid, at the end (None: too few tail points)."""
    fam = {"corr": ("corr_t0", "corr_mid", "corr_end"), "weights": ("w_init", "w_mid", "w_pos"),
           "C": ("C_t0", "C_mid", "C_end"), "S": ("S_t0", "S_mid", "S_end"), "H": ("H_t0", "H_mid", "H_end")}
    out = {}
    for f, names in fam.items():
        ht = [res.tails[n]["heavy_tailed"] for n in names]
        stage = "early" if ht[1] else ("late only" if ht[2] else "never")
        out[f] = {"t0": ht[0], "mid": ht[1], "end": ht[2], "stage": stage}
    return out


def group_medians(res: HeavyTailedResults) -> dict:
    """Median of each trajectory quantity per connection group (critical / non-critical / redundant)."""
    return {g: {q: (float(np.median(np.abs(v))) if len(v) else None) for q, v in d.items()} for g, d in res.groups.items()}


def removal_summary(res: HeavyTailedResults) -> dict:
    r = res.removal
    return {"mean_kept": float(r["kept"].mean()), "mean_redundant_removed": float(r["redundant_removed"].mean()),
            "mean_random_removed": float(r["random_removed"].mean()), "n_redundant": r["n_redundant"],
            "n_critical": r["n_critical"], "n_connections": r["n_connections"]}


def claims(res: HeavyTailedResults) -> list[Claim]:
    out = []
    for name in ("corr_end", "w_pos", "w_neg", "var", "disp", "C_end", "S_end", "H_end", "R"):
        t = res.tails[name]
        out.append(Claim(f"{CHAPTER}.tail.{name}", f"{LABELS[name]} is power-law (heavy) tailed (Fig 4)",
                         "heavy tailed", t.get("alpha"), t["heavy_tailed"],
                         {k: v for k, v in t.items() if k != "alpha"}))
    ev = early_vs_late(res)
    ok = all(ev[f]["mid"] for f in ("C", "S", "H")) and not ev["weights"]["mid"] and bool(ev["weights"]["end"])
    out.append(Claim(f"{CHAPTER}.early_vs_late", "C, S, H are heavy tailed early; the weights only late",
                     "C,S,H early; w late", {f: v["stage"] for f, v in ev.items()}, ok, {"t_mid": res.t_mid, **ev}))
    mid, end = res.samples["corr_mid"].mean(), res.samples["corr_end"].mean()
    out.append(Claim(f"{CHAPTER}.corr.mid_vs_end", "|C_ij| at t = 100 is stronger than at the end (Fig 4a)",
                     "mid > end", float(mid / end), bool(mid > end),
                     {"mean_abs_C_mid": float(mid), "mean_abs_C_end": float(end), "t_mid": res.t_mid}))
    gm = group_medians(res)
    crit, non = gm["critical"], gm["noncritical"]
    if crit["var"] is None:
        out.append(Claim(f"{CHAPTER}.critical.vs_noncritical", "critical connections: larger Var(w), |w_T − w_0|, "
                         "slower autocorrelation decay, larger R (Figs 4e, 4i)", "critical > non-critical", None, None,
                         {"reason": "no critical connections at this threshold"}))
    else:
        ratio = {q: (crit[q] / non[q] if non[q] else None) for q in ("var", "disp", "acf_decay", "R")}
        out.append(Claim(f"{CHAPTER}.critical.vs_noncritical", "critical connections: larger Var(w), |w_T − w_0|, "
                         "slower autocorrelation decay, larger R (Figs 4e, 4i)", "critical > non-critical",
                         ratio, all(v is not None and v > 1 for v in ratio.values()), {"medians": gm}))
    rs = removal_summary(res)
    delta = rs["mean_redundant_removed"] - rs["mean_kept"]
    out.append(Claim(f"{CHAPTER}.redundant.removal", "removing redundant connections lowers the mean loss (Fig 4l)",
                     "lower mean loss", delta, (delta < 0) if rs["n_redundant"] else None,
                     {**rs, "delta_random_removed": rs["mean_random_removed"] - rs["mean_kept"]}))
    m = res.model_alpha
    out.append(Claim(f"{CHAPTER}.model.alpha_pc_slope", "redistribution model: α = 1 + 0.6/P_C for P_C > 0.2 "
                     "(slope of α against 1/P_C)", m["paper_slope"], m["slope"], bool(abs(m["slope"] - m["paper_slope"]) < 0.15),
                     {"intercept": m["intercept"], "r2": m["r2"], "theory_slope_lynn": m["theory_slope"],
                      "p_c": m["p_c"], "alpha": m["alpha"], "alpha_se": m["alpha_se"]}))
    i = int(np.argmin(np.abs(m["p_c"] - 0.37)))
    w = res.tails["w_pos"]
    if "alpha" in w:
        gap = abs(m["alpha"][i] - w["alpha"])
        se = float(np.hypot(m["alpha_se"][i], w["alpha_se"]))
        out.append(Claim(f"{CHAPTER}.model.matches_weights", "the model at P_C = 0.37 has a weight exponent similar "
                         "to the trained network's positive weights (Fig 4j vs 4b); agreement = within 2 s.e.",
                         "similar", {"model": float(m["alpha"][i]), "weights": w["alpha"]}, bool(gap < 2 * se),
                         {"p_c": float(m["p_c"][i]), "combined_se": se}))
    return out


def reproduce(profile=None, device=None, progress=True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


# --------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------
def _pdf_with_fit(res, name, ax, color=None, label=None):
    x = res.samples[name]
    x = x[x > 0]
    loglog_pdf(x, ax=ax, label=label or LABELS[name], color=color, xlabel="")
    t = res.tails[name]
    if "alpha" in t:
        xs, p = fitting.log_binned_density(x)
        k = int(np.argmin(np.abs(xs - t["xmin"])))
        ax.loglog([t["xmin"], x.max()], p[k] * (np.array([t["xmin"], x.max()]) / t["xmin"]) ** -t["alpha"], "-",
                  color=color, lw=1, alpha=0.8)


def plot_distributions(res: HeavyTailedResults, names=("corr_t0", "corr_mid", "corr_end"), xlabel="|C_ij|", ax=None):
    """Log-binned PDFs of the chosen distributions with their MLE power-law tails (lines) — Fig 4a, e–i."""
    fig, ax = axes(ax, figsize=(5, 3.8))
    colors = ["#2a9d8f", "#e76f51", "#264653", "#8ab17d", "#9e9e9e"]
    for name, c in zip(names, colors):
        t = res.tails[name]
        lab = LABELS[name] + (f" (α={t['alpha']:.2f}, {t['reading']})" if "alpha" in t else "")
        _pdf_with_fit(res, name, ax, color=c, label=lab)
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=7)
    return fig


def plot_weights(res: HeavyTailedResults, ax=None):
    """Final positive and negative weights against the re-initialised (t = 0) weights — Fig 4b."""
    return plot_distributions(res, ("w_pos", "w_neg", "w_init"), xlabel="|w| (weight magnitude)", ax=ax)


def plot_gradient_matrices(res: HeavyTailedResults, which: str = "H", ax=None):
    """|elements| of C, S or H at t = 0, t_mid and the end — Fig 4f–h (parameter subset)."""
    if which not in ("C", "S", "H"):
        raise ValueError(f"which must be 'C', 'S' or 'H', got {which!r}")
    return plot_distributions(res, tuple(f"{which}_{t}" for t in ("t0", "mid", "end")),
                              xlabel=f"|{which}_ij| (loss units per weight²)", ax=ax)


def plot_groups(res: HeavyTailedResults, ax=None):
    """Median Var(w), |w_T − w_0|, autocorrelation decay and R of critical / non-critical / redundant
    connections, relative to the non-critical median — Fig 4e, 4i."""
    fig, ax = axes(ax, figsize=(5.5, 3.5))
    gm = group_medians(res)
    qs = ("var", "disp", "acf_decay", "R")
    for i, (g, c) in enumerate(zip(("critical", "noncritical", "redundant"), ("#e76f51", "#9e9e9e", "#2a9d8f"))):
        vals = [(gm[g][q] / gm["noncritical"][q]) if gm[g][q] is not None and gm["noncritical"][q] else np.nan
                for q in qs]
        ax.bar(np.arange(len(qs)) + 0.27 * (i - 1), vals, 0.27, color=c,
               label=f"{g} (n={len(res.groups[g]['var'])})")
    ax.set_xticks(range(len(qs)), ["Var(w)", "|w_T−w_0|", "ACF decay lag", "R"])
    ax.set_yscale("log")
    ax.axhline(1, color="k", lw=0.5)
    ax.set_ylabel("median / non-critical median")
    ax.legend(fontsize=7)
    return fig


def plot_removal(res: HeavyTailedResults, ax=None):
    """P(L ≥ b) of the per-sample training loss with and without the redundant connections (and a
    random control of the same size) — Fig 4l; the legend gives the mean losses."""
    fig, ax = axes(ax, figsize=(5, 3.8))
    for key, c in (("kept", "#264653"), ("redundant_removed", "#e76f51"), ("random_removed", "#9e9e9e")):
        x, p = fitting.ccdf(res.removal[key])
        ax.loglog(x, p, color=c, label=f"{key.replace('_', ' ')} (mean L = {res.removal[key].mean():.4f})")
    ax.set_xlabel("per-sample loss b (nats)")
    ax.set_ylabel("P(L ≥ b)")
    ax.set_title(f"{res.removal['n_redundant']} redundant of {res.removal['n_connections']} connections", fontsize=8)
    ax.legend(fontsize=7)
    return fig


def plot_redistribution(res: HeavyTailedResults, p_c: float = 0.37, ax=None):
    """Stationary weight distribution of the critical redistribution model at P_C, with its MLE fit and
    the mean-field tail α = 1 + 1/P_C — Fig 4j (the widget's figure)."""
    fig, ax = axes(ax, figsize=(5, 3.8))
    if p_c not in res.model_weights:
        raise ValueError(f"P_C = {p_c} was not simulated; choose one of {sorted(res.model_weights)}")
    x = res.model_weights[p_c]
    loglog_pdf(x, ax=ax, color=PALETTE["stage2"], label=f"model, P_C = {p_c}", xlabel="w (units of mean weight)")
    i = list(np.round(res.model_alpha["p_c"], 6)).index(round(p_c, 6))
    a = res.model_alpha["alpha"][i]
    xs, p = fitting.log_binned_density(x)
    xmin = res.model_alpha["xmin"][i]
    k = int(np.argmin(np.abs(xs - xmin)))
    ax.loglog([xmin, x.max()], p[k] * (np.array([xmin, x.max()]) / xmin) ** -a, "-", color=PALETTE["fit"],
              label=f"MLE α = {a:.2f}")
    ax.loglog([xmin, x.max()], p[k] * (np.array([xmin, x.max()]) / xmin) ** -(1 + 1 / p_c), ":", color="k",
              label=f"1 + 1/P_C = {1 + 1 / p_c:.2f}")
    ax.loglog([xmin, x.max()], p[k] * (np.array([xmin, x.max()]) / xmin) ** -(1 + 0.6 / p_c), "--", color="#8ab17d",
              label=f"paper 1 + 0.6/P_C = {1 + 0.6 / p_c:.2f}")
    ax.legend(fontsize=7)
    return fig


def plot_alpha_vs_pc(res: HeavyTailedResults, ax=None):
    """α against P_C: MLE points (± s.e.), the paper's line 1 + 0.6/P_C, Lynn et al.'s 1 + 1/P_C and
    our fitted line over P_C > 0.2 — Fig 4k."""
    fig, ax = axes(ax, figsize=(5, 3.8))
    m = res.model_alpha
    ax.errorbar(m["p_c"], m["alpha"], yerr=m["alpha_se"], fmt="o", color=PALETTE["stage2"], label="model (MLE)")
    pc = np.linspace(max(0.05, m["p_c"].min()), 1, 100)
    ax.plot(pc, 1 + 0.6 / pc, "--", color="#8ab17d", label="paper: 1 + 0.6/P_C")
    ax.plot(pc, 1 + 1 / pc, ":", color="k", label="mean field: 1 + 1/P_C")
    sel = pc > m["pc_min"]
    ax.plot(pc[sel], m["intercept"] + m["slope"] / pc[sel], "-", color=PALETTE["fit"],
            label=f"fit: {m['intercept']:.2f} + {m['slope']:.2f}/P_C")
    ax.set_xlabel("critical probability P_C")
    ax.set_ylabel("tail exponent α")
    ax.legend(fontsize=7)
    return fig
