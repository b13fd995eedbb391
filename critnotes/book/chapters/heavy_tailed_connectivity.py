"""Chapter 9 — heavy-tailed connectivity and the critical redistribution model (paper 003 §3, Fig 4).

From the shared paper-003 run (:data:`critnotes.training.runs.SHARED_RUN`): the distributions of |C_ij|, weights
(pooled, per layer and fan-in rescaled) against their initial values, Var(w) along the trajectory,
w_T − w_0, the gradient-noise covariance C, the squared mean gradient S and the Hessian H (exact on a
parameter subset), and the irreversibility R, each fitted by MLE with model comparison
(:mod:`critnotes.analysis.connections`); |C_ij| and weights at the end over the (M, γ) grid (Fig 4c–d);
critical / non-critical / redundant connections and removing the redundant ones (Fig 4l); and the
critical redistribution model with its α–P_C relation and the slope's sensitivity to the piece size
and the simulated time (:mod:`critnotes.analysis.redistribution`, Fig 4j–k).

Paper 003 has no methods section; our choices are stated next to each claim: "heavy tailed" means the
power law beats the exponential (likelihood ratio, p < 0.1), "power-law tailed" in addition that the
log-normal does not beat the power law, and a fit on less than a decade of range is inconclusive.
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np
import torch
from scipy.stats import mannwhitneyu

from critnotes.analysis import connections as cs
from critnotes.analysis import fitting, graphs, redistribution
from critnotes.analysis import loss_concentration as conc
from critnotes.book.chapters import summarize
from critnotes.book.chapters.concentration import GridConfig
from critnotes.book.plotting import PALETTE, axes, loglog_pdf
from critnotes.book.profiles import chapter_config
from critnotes.book.results import Claim
from critnotes.book.verdicts import Verdict, rule
from critnotes.training.loop import run_data
from critnotes.training.runs import SHARED_RUN, CriticalRunConfig, critical_run, model_at
from critnotes.training.sweeps import Failed, sweep

CHAPTER = "heavy-tailed-connectivity"

#: the distributions of Fig 4 and their labels (|x| is fitted)
LABELS = {
    "corr_t0": "|C_ij|, t = 0", "corr_mid": "|C_ij|, t ≈ t_mid", "corr_end": "|C_ij|, end",
    "w_init": "|w|, t = 0", "w_mid": "|w|, t ≈ t_mid", "w_pos": "w > 0, end", "w_neg": "|w|, w < 0, end",
    "wr_init": "|w|·√fan-in, t = 0", "wr_mid": "|w|·√fan-in, t ≈ t_mid",
    "wr_pos": "w·√fan-in, w > 0, end", "wr_neg": "|w|·√fan-in, w < 0, end",
    "var": "Var(w) along trajectory", "disp": "|w_T − w_0|", "R": "irreversibility R",
    "C_t0": "|C| grad-noise cov, t = 0", "C_mid": "|C| grad-noise cov, t ≈ t_mid", "C_end": "|C| grad-noise cov, end",
    "S_t0": "|S| = |ḡḡᵀ|, t = 0", "S_mid": "|S|, t ≈ t_mid", "S_end": "|S|, end",
    "H_t0": "|H| Hessian, t = 0", "H_mid": "|H|, t ≈ t_mid", "H_end": "|H|, end",
}


@dataclasses.dataclass(frozen=True)
class HeavyTailedConfig:
    run: CriticalRunConfig = SHARED_RUN["quick"]
    grid: GridConfig = GridConfig()       # the (M, γ) grid of chapters 7 and 10 (runs shared): Fig 4c–d
    converged_below: float = -21.0        # Fig 4c: runs with 𝓛 = ln(L̄/ΔS) < −21 at the end
    min_test_acc: float = 0.5             # the second reading of "converged" for Fig 4c
    b: float = 5e-3                       # 𝓛's large-deviation parameter (chapter 7's)
    t_mid: int = 100                      # the connectivity transition (paper: t ≈ 100)
    c_th: float = 0.5                     # critical connection: C_ij >= c_th between its two neurons
    n_per_layer: int = 100                # weights per Linear layer in the C/S/H subset
    n_grad_samples: int = 1000            # training samples for C, S, H
    window: int = 8                       # checkpoints per window of the irreversibility R
    max_fit: int = 50_000                 # samples per MLE fit (random subsample above that)
    n_removal: int | None = None          # training samples for the removal experiment (None: all)
    n_boot: int = 500                     # bootstrap resamples for intervals
    pc_values: tuple[float, ...] = (0.1, 0.2, 0.3, 0.37, 0.5, 0.6, 0.7, 0.8, 0.9)
    model: redistribution.RedistributionConfig = redistribution.RedistributionConfig()
    quanta: tuple[float, ...] = (0.1, 0.5)       # sensitivity of the α–1/P_C slope: other piece sizes …
    sweep_factors: tuple[float, ...] = (2.0,)    # … and longer simulated times (× model.sweeps)
    tol_slope: float = 0.15               # the slope "equals" the paper's 0.6 within ± tol_slope
    tol_alpha: float = 0.3                # model α(0.37) "similar" to the weights' α within ± tol_alpha
    seed: int = 0


_CI_GRID = GridConfig(widths=(10, 20), lrs=(0.1, 3.0), steps=300, n_checkpoints=12, n_jobs=1)

PROFILES = {
    "ci": HeavyTailedConfig(run=SHARED_RUN["ci"], grid=_CI_GRID, n_per_layer=20, n_grad_samples=100, window=4,
                            max_fit=3000, n_removal=1000, n_boot=200, pc_values=(0.3, 0.5, 0.9),
                            model=redistribution.RedistributionConfig(n_neurons=20, n_matrices=20, sweeps=10)),
    "quick": HeavyTailedConfig(),
    "paper": HeavyTailedConfig(run=SHARED_RUN["paper"],
                               grid=GridConfig(widths=(10, 25, 50, 100, 250, 500),
                                               lrs=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0),
                                               steps=200_000, n_checkpoints=60),
                               n_per_layer=200, n_grad_samples=2000, max_fit=200_000),
}


@dataclasses.dataclass
class HeavyTailedResults:
    cfg: HeavyTailedConfig
    steps: np.ndarray
    t_mid: int                            # the recorded checkpoint used for "t ≈ t_mid"
    samples: dict                         # name → |values| (subsampled to max_fit) for the figures
    tails: dict                           # name → cs.TailAssessment
    layer_samples: list                   # per Linear layer: |w| at the end (subsampled)
    layer_tails: list                     # per Linear layer: cs.TailAssessment of |w| at the end
    subset: dict                          # the C/S/H parameter subset: sizes and layers
    groups: dict                          # group → cs.TrajectoryStats for critical / noncritical / redundant
    removal: dict                         # Fig 4l: per-sample losses kept / redundant removed / random removed
    model_alpha: redistribution.AlphaVsPc
    sensitivity: dict                     # variant name → AlphaVsPc (other quantum / longer simulation)
    grid: list                            # per (M, γ) run: grid_point dict, or sweeps.Failed
    test_acc: float


def _sub(x: np.ndarray, n: int, rng) -> np.ndarray:
    x = np.abs(np.asarray(x, dtype=float).ravel())
    return x if x.size <= n else rng.choice(x, n, replace=False)


def _weight_scale(rec, model) -> tuple[np.ndarray, np.ndarray]:
    """For the flat parameter vector: a mask of weight entries (not biases) and √fan-in of each entry."""
    mask = np.zeros(len(rec.index), bool)
    scale = np.ones(len(rec.index))
    for (start, _), lin in zip(rec.layer_bounds, [m for m in model.modules() if isinstance(m, torch.nn.Linear)]):
        mask[start:start + lin.weight.numel()] = True
        scale[start:start + lin.weight.numel()] = np.sqrt(lin.weight.shape[1])
    return mask, scale[mask]


def grid_point(args) -> dict:
    """|C_ij| and weights at the end of one (M, γ) grid run, 𝓛 at the end, and their tail fits
    (Fig 4c–d); module level so joblib can ship it."""
    rc, b, max_fit, seed = args
    res = critical_run(rc, progress=False)
    out = {"width": rc.width, "M": rc.n_neurons, "lr": rc.lr, "gamma": rc.gamma, "test_acc": res.test_acc,
           "diverged": bool(res.diverged)}
    if res.diverged:
        return out
    rng = np.random.default_rng(seed)
    sl = res.probes["sample_loss"]
    crit = conc.criterion_series(sl.steps, sl.losses[-1:], b).crit[-1]
    w = np.concatenate(cs.layer_weights(res.model()))
    wr = np.concatenate(cs.layer_weights(res.model(), rescale=True))
    samples = {"corr": cs.abs_correlations(res.probes["activity"].activity[-1]), "w_pos": w[w > 0],
               "wr_pos": wr[wr > 0]}
    samples = {k: _sub(v, max_fit, rng) for k, v in samples.items()}
    out.update(crit_end=float(crit), samples=samples,
               tails={k: cs.assess_tail(v, max_samples=max_fit, seed=seed) for k, v in samples.items()})
    return out


def run(cfg: HeavyTailedConfig, device=None, progress: bool = True) -> HeavyTailedResults:
    res = critical_run(cfg.run, device=device, progress=progress)
    rng = np.random.default_rng(cfg.seed)
    act, wrec = res.probes["activity"], res.probes["weights"]
    k_mid = int(np.argmin(np.abs(wrec.steps - cfg.t_mid)))
    t_mid = int(wrec.steps[k_mid])
    final = res.model()
    wmask, scale = _weight_scale(wrec, final)
    w = wrec.weights[:, wmask].astype(float)
    wr = w * scale

    samples = {"corr_t0": cs.abs_correlations(act.activity[0]), "corr_mid": cs.abs_correlations(act.at(t_mid)),
               "corr_end": cs.abs_correlations(act.activity[-1]),
               "w_init": w[0], "w_mid": w[k_mid], "w_pos": w[-1][w[-1] > 0], "w_neg": w[-1][w[-1] < 0],
               "wr_init": wr[0], "wr_mid": wr[k_mid], "wr_pos": wr[-1][wr[-1] > 0], "wr_neg": wr[-1][wr[-1] < 0]}
    traj = cs.trajectory_stats(wrec.steps, w, cfg.window)
    samples.update(var=traj.var, disp=traj.disp, R=traj.R)

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
    layer_samples = [_sub(x, cfg.max_fit, rng) for x in cs.layer_weights(final)]
    layer_tails = [cs.assess_tail(x, max_samples=cfg.max_fit, seed=cfg.seed) for x in layer_samples]

    # critical / non-critical / redundant connections (neuron → neuron only)
    table = cs.connection_table(final)
    c_mid, c_end = graphs.correlation_matrix(act.at(t_mid)), graphs.correlation_matrix(act.activity[-1])
    cls = cs.classify_connections(table, c_mid, c_end, cfg.c_th)
    pos = np.searchsorted(wrec.index, table.flat)
    traj_full = cs.trajectory_stats(wrec.steps, wrec.weights[:, pos].astype(float), cfg.window)
    groups = {g: traj_full.select(m) for g, m in cls.items()}

    n_eval = len(data.y_train) if cfg.n_removal is None else min(cfg.n_removal, len(data.y_train))
    x, y = data.x_train[:n_eval], data.y_train[:n_eval]
    red = table.flat[cls["redundant"]]
    nonc = np.flatnonzero(cls["noncritical"])
    rand = table.flat[rng.choice(nonc, size=min(len(red), len(nonc)), replace=False)]
    removal = {"kept": cs.remove_connections(final, [], x, y), "redundant_removed": cs.remove_connections(final, red, x, y),
               "random_removed": cs.remove_connections(final, rand, x, y), "n_redundant": int(len(red)),
               "n_critical": int(cls["critical"].sum()), "n_connections": int(len(table.flat))}

    av = redistribution.alpha_vs_pc(cfg.pc_values, cfg.model, n_fit=cfg.max_fit)
    variants = {f"quantum={q:g}": dataclasses.replace(cfg.model, quantum=q) for q in cfg.quanta}
    variants.update({f"sweeps={cfg.model.sweeps * f:g}": dataclasses.replace(cfg.model, sweeps=cfg.model.sweeps * f)
                     for f in cfg.sweep_factors})
    sensitivity = {k: redistribution.alpha_vs_pc(cfg.pc_values, m, n_fit=cfg.max_fit) for k, m in variants.items()}
    grid = sweep(grid_point, [(c, cfg.b, cfg.max_fit, cfg.seed) for c in cfg.grid.configs()], n_jobs=cfg.grid.n_jobs,
                 desc="(M, γ) grid", progress=progress)
    return HeavyTailedResults(cfg, wrec.steps, t_mid, samples, tails, layer_samples, layer_tails,
                              {"n_per_layer": cfg.n_per_layer, "size": int(len(subset)), "n_samples": int(len(gidx))},
                              groups, removal, av, sensitivity, grid, res.test_acc)


# --------------------------------------------------------------------------------------------------
# derived numbers
# --------------------------------------------------------------------------------------------------
FAMILIES = {"corr": ("corr_t0", "corr_mid", "corr_end"), "weights (√fan-in)": ("wr_init", "wr_mid", "wr_pos"),
            "C": ("C_t0", "C_mid", "C_end"), "S": ("S_t0", "S_mid", "S_end"), "H": ("H_t0", "H_mid", "H_end")}


def early_vs_late(res: HeavyTailedResults) -> dict:
    """For |C_ij|, fan-in-rescaled |w|, C, S, H: heavier than exponential at t = 0, at t_mid, at the end
    (None: too few tail points) and the stage where that starts."""
    out = {}
    for f, names in FAMILIES.items():
        ht = [res.tails[n].heavy_tailed for n in names]
        stage = "early" if ht[1] else ("late only" if ht[2] else "never")
        out[f] = {"t0": ht[0], "mid": ht[1], "end": ht[2], "stage": stage}
    return out


def group_medians(res: HeavyTailedResults) -> dict:
    """Median |value| of each trajectory quantity per connection group (critical / non-critical / redundant)."""
    return {g: {q: (float(np.median(np.abs(getattr(s, q)))) if len(s.var) else None)
                for q in ("var", "disp", "w_T", "R", "acf_decay")} for g, s in res.groups.items()}


def group_tests(res: HeavyTailedResults) -> dict:
    """One-sided Mann–Whitney p-values, critical vs non-critical, of |Var(w)|, |w_T − w_0|, ACF decay and R:
    ``{q: (p_greater, p_less)}`` (empty without critical connections)."""
    crit, non = res.groups["critical"], res.groups["noncritical"]
    if not len(crit.var) or not len(non.var):
        return {}
    out = {}
    for q in ("var", "disp", "acf_decay", "R"):
        a, b = np.abs(getattr(crit, q)), np.abs(getattr(non, q))
        out[q] = (float(mannwhitneyu(a, b, alternative="greater").pvalue),
                  float(mannwhitneyu(a, b, alternative="less").pvalue))
    return out


def removal_summary(res: HeavyTailedResults) -> dict:
    """Mean per-sample losses of Fig 4l and the paired bootstrap 95 % interval of the change."""
    r = res.removal
    d = r["redundant_removed"] - r["kept"]
    rng = np.random.default_rng(res.cfg.seed)
    boots = d[rng.integers(0, len(d), (res.cfg.n_boot, len(d)))].mean(1)
    return {"mean_kept": float(r["kept"].mean()), "mean_redundant_removed": float(r["redundant_removed"].mean()),
            "mean_random_removed": float(r["random_removed"].mean()), "delta": float(d.mean()),
            "delta_ci": tuple(np.percentile(boots, [2.5, 97.5]).tolist()), "n_redundant": r["n_redundant"],
            "n_critical": r["n_critical"], "n_connections": r["n_connections"]}


def corr_ratio(res: HeavyTailedResults) -> tuple[float, tuple[float, float]]:
    """Mean |C_ij| at t_mid over mean |C_ij| at the end, with a bootstrap 95 % interval over pairs (Fig 4a)."""
    a, b = res.samples["corr_mid"], res.samples["corr_end"]
    rng = np.random.default_rng(res.cfg.seed)
    boots = [a[rng.integers(0, len(a), len(a))].mean() / b[rng.integers(0, len(b), len(b))].mean()
             for _ in range(res.cfg.n_boot)]
    return float(a.mean() / b.mean()), tuple(np.percentile(boots, [2.5, 97.5]).tolist())


def slope_envelope(res: HeavyTailedResults) -> tuple[float, float]:
    """The α–1/P_C slope's 95 % envelope over the base model and every sensitivity variant (slope ± 1.96 s.e.)."""
    fits = [res.model_alpha, *res.sensitivity.values()]
    return (float(min(f.slope - 1.96 * f.slope_se for f in fits)), float(max(f.slope + 1.96 * f.slope_se for f in fits)))


def converged_runs(res: HeavyTailedResults, by: str = "crit") -> list[dict]:
    """Grid runs counted as converged (Fig 4c): ``by="crit"`` 𝓛 < converged_below (the paper's), ``"acc"``
    test accuracy ≥ min_test_acc; ``"all"`` every run that trained (Fig 4d)."""
    ok = [g for g in res.grid if not isinstance(g, Failed) and not g["diverged"]]
    if by == "crit":
        return [g for g in ok if np.isfinite(g["crit_end"]) and g["crit_end"] < res.cfg.converged_below]
    if by == "acc":
        return [g for g in ok if g["test_acc"] >= res.cfg.min_test_acc]
    if by == "all":
        return ok
    raise ValueError(f"by must be 'crit', 'acc' or 'all', got {by!r}")


# --------------------------------------------------------------------------------------------------
# rules and claims
# --------------------------------------------------------------------------------------------------
@rule(agrees=dict(fitted=True, heavy=True, lognormal_wins=False, at_bound=False, decades=2.0),
      differs=dict(fitted=True, heavy=False, lognormal_wins=False, at_bound=False, decades=2.0))
def power_law_tail(fitted: bool, heavy: bool | None, lognormal_wins: bool | None, at_bound: bool,
                   decades: float | None, min_decades: float = 1.0) -> Verdict:
    """A power-law tail (the paper's reading) from a :class:`~critnotes.analysis.connections.TailAssessment`:
    ``agrees`` when the power law beats the exponential and the log-normal does not beat it, ``differs``
    when the exponential is not beaten or the log-normal wins (then: heavier than exponential at most),
    ``inconclusive`` when the fit sits on its bound or covers less than ``min_decades`` decades."""
    if not fitted:
        return Verdict("not measured", "too few tail points to fit")
    if at_bound:
        return Verdict("inconclusive", "the power-law fit sits on its search bound")
    if decades is None or decades < min_decades:
        return Verdict("inconclusive", f"the tail spans {decades or 0:.2f} < {min_decades:g} decade(s)")
    if not heavy:
        return Verdict("differs", "the power law does not beat the exponential")
    if lognormal_wins:
        return Verdict("differs", "heavier than exponential, but the log-normal beats the power law")
    return Verdict("agrees", "the power law beats the exponential and does not lose to the log-normal")


def _tail_inputs(t: cs.TailAssessment) -> dict:
    return dict(fitted=t.fitted, heavy=t.heavy_tailed, lognormal_wins=t.lognormal_wins, at_bound=t.at_bound,
                decades=t.decades)


@rule(agrees=dict(n_power=5, n_fitted=5, n_runs=6), differs=dict(n_power=0, n_fitted=5, n_runs=6))
def most_runs_power_law(n_power: int, n_fitted: int, n_runs: int, share: float = 0.8, min_runs: int = 3) -> Verdict:
    """A tail claimed "for different hyperparameters" (Fig 4c–d): ``agrees`` when at least ``share`` of the
    fitted runs are power-law tailed, ``differs`` when at most 1 − ``share`` are, ``inconclusive`` between
    or with fewer than ``min_runs`` fitted runs."""
    if n_runs == 0 or n_fitted == 0:
        return Verdict("not measured", "no run to fit")
    if n_fitted < min_runs:
        return Verdict("inconclusive", f"only {n_fitted} fitted run(s) (< {min_runs})")
    f = n_power / n_fitted
    if f >= share:
        return Verdict("agrees", f"{n_power} of {n_fitted} runs power-law tailed")
    if f <= 1 - share:
        return Verdict("differs", f"only {n_power} of {n_fitted} runs power-law tailed")
    return Verdict("inconclusive", f"{n_power} of {n_fitted} runs power-law tailed: mixed")


@rule(agrees=dict(grad_mid=[True, True, True], w_mid=False, w_end=True),
      differs=dict(grad_mid=[False, True, True], w_mid=True, w_end=True))
def early_then_late(grad_mid: list, w_mid: bool | None, w_end: bool | None) -> Verdict:
    """C, S, H heavier than exponential already at t_mid while the weights become so only at the end:
    ``differs`` when a gradient matrix is not heavy at t_mid or the weights already are, ``inconclusive``
    when a fit is missing."""
    if any(v is None for v in (*grad_mid, w_mid, w_end)):
        return Verdict("inconclusive", "a fit is missing (too few tail points)")
    if all(grad_mid) and not w_mid and w_end:
        return Verdict("agrees", "C, S, H heavy at t_mid; weights heavy only at the end")
    return Verdict("differs", "the order of emergence differs")


@rule(agrees=dict(p_greater=[1e-4, 1e-3], p_less=[0.9, 0.9]), differs=dict(p_greater=[0.9, 1e-4], p_less=[1e-5, 0.9]))
def all_larger(p_greater: list, p_less: list, alpha: float = 0.05) -> Verdict:
    """Every quantity larger in one group (one-sided tests): ``agrees`` when all ``p_greater < alpha``,
    ``differs`` when any ``p_less < alpha`` (significantly smaller), else ``inconclusive``."""
    if not p_greater:
        return Verdict("not measured", "no critical connections")
    if any(p < alpha for p in p_less):
        return Verdict("differs", "at least one quantity is significantly smaller")
    if all(p < alpha for p in p_greater):
        return Verdict("agrees", "every quantity significantly larger")
    return Verdict("inconclusive", "not every difference is significant")


def claims(res: HeavyTailedResults) -> list[Claim]:
    out = []
    plrule = "power law beats the exponential and does not lose to the log-normal (p < 0.1), tail ≥ 1 decade"
    figs = {"corr_end": "4a", "w_pos": "4b", "w_neg": "4b", "wr_pos": "4b", "wr_neg": "4b", "var": "4e",
            "disp": "4e", "C_end": "4f", "S_end": "4g", "H_end": "4h", "R": "4i"}
    for name, fig in figs.items():
        t = res.tails[name]
        setting = (" (pooled over the three layers without rescaling: a mixture of scales)" if name in ("w_pos", "w_neg")
                   else " (each layer's weights × √fan-in, then pooled)" if name.startswith("wr_") else "")
        out.append(Claim.judged(f"{CHAPTER}.tail.{name}", f"{LABELS[name]} is power-law tailed (Fig {fig}){setting}; "
                                f"{plrule}", "power law", t.reading, "power_law_tail",
                                detail=t.as_dict(), **_tail_inputs(t)))
    for k, t in enumerate(res.layer_tails, 1):
        out.append(Claim.judged(f"{CHAPTER}.tail.weights.layer{k}", f"|w| of Linear layer {k} at the end is power-law "
                                f"tailed (Fig 4b, one layer); {plrule}", "power law", t.reading, "power_law_tail",
                                detail=t.as_dict(), **_tail_inputs(t)))
    out.append(Claim(f"{CHAPTER}.weights.tail_layers", "which Linear layers' final |w| are power-law / heavier than "
                     "exponential", None, {f"layer{k}": t.reading for k, t in enumerate(res.layer_tails, 1)},
                     kind="finding"))
    ev = early_vs_late(res)
    out.append(Claim.judged(f"{CHAPTER}.early_vs_late", "C, S, H are heavy tailed early (t ≈ t_mid); the weights "
                            "(× √fan-in) only late; heavy = heavier than exponential",
                            "C,S,H early; w late", {f: v["stage"] for f, v in ev.items()}, "early_then_late",
                            detail={"t_mid": res.t_mid, **ev}, grad_mid=[ev[f]["mid"] for f in ("C", "S", "H")],
                            w_mid=ev["weights (√fan-in)"]["mid"], w_end=ev["weights (√fan-in)"]["end"]))
    ratio, ci = corr_ratio(res)
    out.append(Claim.judged(f"{CHAPTER}.corr.mid_vs_end", "mean |C_ij| at t ≈ t_mid is larger than at the end "
                            "(Fig 4a); bootstrap 95 % interval over pairs", "mid > end", ratio, "exceeds",
                            detail={"t_mid": res.t_mid}, value=ratio, threshold=1.0, ci=ci))
    tests = group_tests(res)
    out.append(Claim.judged(f"{CHAPTER}.critical.vs_noncritical", "critical connections: larger Var(w), |w_T − w_0|, "
                            "slower autocorrelation decay, larger R (Figs 4e, 4i); one-sided Mann–Whitney, p < 0.05",
                            "critical > non-critical", {q: p[0] for q, p in tests.items()} or None, "all_larger",
                            detail={"medians": group_medians(res)},
                            p_greater=[p[0] for p in tests.values()], p_less=[p[1] for p in tests.values()]))
    rs = removal_summary(res)
    if rs["n_redundant"]:
        out.append(Claim.judged(f"{CHAPTER}.redundant.removal", "removing redundant connections lowers the mean "
                                "training loss (Fig 4l; weights set to zero, no retraining); paired bootstrap 95 % "
                                "interval", "lower mean loss", rs["delta"], "exceeds", detail=rs,
                                value=rs["delta"], threshold=0.0, above=False, ci=rs["delta_ci"]))
    else:
        out.append(Claim.judged(f"{CHAPTER}.redundant.removal", "removing redundant connections lowers the mean "
                                "training loss (Fig 4l)", "lower mean loss", None, "exceeds", detail=rs,
                                value=None, threshold=0.0, above=False))
    m = res.model_alpha
    env = slope_envelope(res)
    sens = {k: v.slope for k, v in res.sensitivity.items()}
    out.append(Claim.judged(f"{CHAPTER}.model.alpha_pc_slope", f"redistribution model: α = 1 + 0.6/P_C for P_C > 0.2 "
                            f"(slope within ± {res.cfg.tol_slope:g}; interval = envelope of slope ± 1.96 s.e. over "
                            "the piece size and simulated time)", m.paper_slope, m.slope, "close_to",
                            detail={**m.as_dict(), "sensitivity_slopes": sens},
                            value=m.slope, target=m.paper_slope, tol=res.cfg.tol_slope, ci=env,
                            at_bound=bool(m.at_bound.any())))
    out.append(Claim.judged(f"{CHAPTER}.model.mean_field", f"our model follows its mean-field slope 1 (α = 1 + 1/P_C, "
                            f"Lynn et al.) within ± {res.cfg.tol_slope:g}, same envelope", m.theory_slope, m.slope,
                            "close_to", kind="check", detail={"sensitivity_slopes": sens}, value=m.slope,
                            target=m.theory_slope, tol=res.cfg.tol_slope, ci=env, at_bound=bool(m.at_bound.any())))
    i = int(np.argmin(np.abs(m.p_c - 0.37)))
    for name in ("w_pos", "wr_pos"):
        w = res.tails[name]
        a_m, se_m = float(m.alpha[i]), float(m.alpha_se[i])
        if w.fitted:
            se = float(np.hypot(se_m, w.alpha_se))
            ci = (w.alpha - 1.96 * se, w.alpha + 1.96 * se)
        else:
            ci = None
        out.append(Claim.judged(f"{CHAPTER}.model.matches_weights.{name}", f"the model at P_C = {m.p_c[i]:g} has a "
                                f"weight exponent similar to the network's ({LABELS[name]}; Fig 4j vs 4b): within "
                                f"± {res.cfg.tol_alpha:g}, interval from both standard errors", "similar",
                                {"model": a_m, "weights": w.alpha}, "close_to", value=w.alpha, target=a_m,
                                tol=res.cfg.tol_alpha, ci=ci, at_bound=bool(w.at_bound or m.at_bound[i])))
    for key, by, fig, what in (("corr", "crit", "4c", f"runs with 𝓛 < {res.cfg.converged_below:g} at the end (paper)"),
                               ("corr", "acc", "4c", f"runs with test accuracy ≥ {res.cfg.min_test_acc:g}"),
                               ("w_pos", "all", "4d", "every run that trained, pooled layers"),
                               ("wr_pos", "all", "4d", "every run that trained, × √fan-in")):
        runs = converged_runs(res, by)
        fitted = [g["tails"][key] for g in runs if g["tails"][key].fitted]
        n_pl = sum(bool(t.power_law) for t in fitted)
        out.append(Claim.judged(f"{CHAPTER}.grid.{key}.{by}", f"{'|C_ij|' if key == 'corr' else LABELS[key]} at the "
                                f"end is power-law tailed over the (M, γ) grid (Fig {fig}): {what}; agrees when ≥ 80 % "
                                "of the fitted runs are", "power law", {"power_law": n_pl, "fitted": len(fitted),
                                                                         "runs": len(runs)},
                                "most_runs_power_law", n_power=n_pl, n_fitted=len(fitted), n_runs=len(runs)))
    return out


def reproduce(profile=None, device=None, progress=True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


# --------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------
def _tail_line(ax, x, t: cs.TailAssessment, color=None, style="-"):
    """The MLE power law of ``t`` over its tail, anchored on the log-binned density of ``x``."""
    if not t.fitted:
        return
    xs, p = fitting.log_binned_density(x)
    k = int(np.argmin(np.abs(xs - t.xmin)))
    ends = np.array([t.xmin, x.max()])
    ax.loglog(ends, p[k] * (ends / t.xmin) ** -t.alpha, style, color=color, lw=1, alpha=0.8)


def _pdf_with_fit(x, t: cs.TailAssessment, label, ax, color=None):
    x = x[x > 0]
    lab = label + (f" (α={t.alpha:.2f}, {t.reading})" if t.fitted else " (no fit)")
    loglog_pdf(x, ax=ax, label=lab, color=color, xlabel="")
    _tail_line(ax, x, t, color)


COLORS = ["#2a9d8f", "#e76f51", "#264653", "#8ab17d", "#9e9e9e"]

#: the distribution families of :func:`plot_distributions`: names and x label
PANELS = {
    "corr": (("corr_t0", "corr_mid", "corr_end"), "|C_ij| (dimensionless) — Fig 4a"),
    "weights": (("w_pos", "w_neg", "w_init"), "|w| (weight) — Fig 4b"),
    "weights_rescaled": (("wr_pos", "wr_neg", "wr_init"), "|w|·√fan-in (weight) — Fig 4b, rescaled"),
    "trajectory": (("var", "disp", "R"), "Var(w) (weight²), |w_T − w_0| (weight), R (weight⁴) — Fig 4e, 4i"),
    "C": (("C_t0", "C_mid", "C_end"), "|C_ij| (loss² per weight²) — Fig 4f"),
    "S": (("S_t0", "S_mid", "S_end"), "|S_ij| (loss² per weight²) — Fig 4g"),
    "H": (("H_t0", "H_mid", "H_end"), "|H_ij| (loss per weight²) — Fig 4h"),
}


def plot_distributions(res: HeavyTailedResults, *, which: str = "corr", ax=None):
    """Log-binned PDFs of one family of distributions (:data:`PANELS`) with their MLE power-law tails
    (lines) and readings — Fig 4a–b, 4e–i."""
    if which not in PANELS:
        raise ValueError(f"which must be one of {', '.join(PANELS)}, got {which!r}")
    fig, ax = axes(ax, figsize=(5.5, 3.8))
    names, xlabel = PANELS[which]
    for name, c in zip(names, COLORS):
        _pdf_with_fit(res.samples[name], res.tails[name], LABELS[name], ax, color=c)
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=6)
    return fig


def plot_layers(res: HeavyTailedResults, *, layer: int = 0, ax=None):
    """Final |w| of each Linear layer with its own tail fit (``layer`` 0: all layers, k: layer k only) —
    which layer carries the pooled tail of Fig 4b."""
    n = len(res.layer_tails)
    if not 0 <= layer <= n:
        raise ValueError(f"layer must lie in 0 … {n} (0: all), got {layer}")
    fig, ax = axes(ax, figsize=(5.5, 3.8))
    for k, (x, t) in enumerate(zip(res.layer_samples, res.layer_tails), 1):
        if layer in (0, k):
            _pdf_with_fit(x, t, f"layer {k}", ax, color=COLORS[(k - 1) % len(COLORS)])
    ax.set_xlabel("|w| at the end (weight)")
    ax.legend(fontsize=6)
    return fig


def plot_grid(res: HeavyTailedResults, *, quantity: str = "corr", by: str = "crit", ax=None):
    """|C_ij| (Fig 4c) or weights (Fig 4d) at the end of the (M, γ) grid runs selected by ``by``
    (:func:`converged_runs`), one curve per run, coloured by log10 γ."""
    if quantity not in ("corr", "w_pos", "wr_pos"):
        raise ValueError(f"quantity must be 'corr', 'w_pos' or 'wr_pos', got {quantity!r}")
    import matplotlib.pyplot as plt

    fig, ax = axes(ax, figsize=(5.5, 3.8))
    runs = converged_runs(res, by)
    gam = np.log10([g["gamma"] for g in runs]) if runs else np.zeros(0)
    norm = plt.Normalize(gam.min(), gam.max() + 1e-9) if runs else None
    for g, lg in zip(runs, gam):
        x = g["samples"][quantity]
        x = x[x > 0]
        if x.size < 2:
            continue
        xs, p = fitting.log_binned_density(x)
        ax.loglog(xs, p, "-", lw=0.8, color=plt.get_cmap("viridis")(norm(lg)),
                  label=f"M={g['M']}, γ={g['gamma']:.2g}: {g['tails'][quantity].reading}")
    ax.set_xlabel({"corr": "|C_ij| at the end — Fig 4c", "w_pos": "w > 0 at the end — Fig 4d",
                   "wr_pos": "w·√fan-in > 0 at the end — Fig 4d"}[quantity])
    ax.set_ylabel("p")
    ax.set_title(f"{len(runs)} runs ({by})", fontsize=8)
    if runs:
        ax.legend(fontsize=5)
    return fig


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
               label=f"{g} (n={len(res.groups[g].var)})")
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


def plot_redistribution(res: HeavyTailedResults, *, p_c: float = 0.37, ax=None):
    """Stationary weight distribution of the critical redistribution model at P_C, with its MLE fit, the
    mean-field tail α = 1 + 1/P_C and the paper's 1 + 0.6/P_C — Fig 4j."""
    fig, ax = axes(ax, figsize=(5, 3.8))
    m = res.model_alpha
    if p_c not in m.weights:
        raise ValueError(f"P_C = {p_c} was not simulated; choose one of {sorted(m.weights)}")
    x = m.weights[p_c]
    loglog_pdf(x, ax=ax, color=PALETTE["stage2"], label=f"model, P_C = {p_c}", xlabel="w (units of mean weight)")
    i = list(np.round(m.p_c, 6)).index(round(p_c, 6))
    a, xmin = m.alpha[i], m.xmin[i]
    xs, p = fitting.log_binned_density(x)
    k = int(np.argmin(np.abs(xs - xmin)))
    ends = np.array([xmin, x.max()])
    for expo, style, color, lab in ((a, "-", PALETTE["fit"], f"MLE α = {a:.2f}"),
                                    (1 + 1 / p_c, ":", "k", f"1 + 1/P_C = {1 + 1 / p_c:.2f}"),
                                    (1 + 0.6 / p_c, "--", "#8ab17d", f"paper 1 + 0.6/P_C = {1 + 0.6 / p_c:.2f}")):
        ax.loglog(ends, p[k] * (ends / xmin) ** -expo, style, color=color, label=lab)
    ax.legend(fontsize=7)
    return fig


def plot_alpha_vs_pc(res: HeavyTailedResults, *, variant: str = "base", ax=None):
    """α against P_C for the base model or one sensitivity ``variant``: MLE points (± s.e.), the paper's
    line 1 + 0.6/P_C, Lynn et al.'s 1 + 1/P_C and the fitted line over P_C > 0.2 — Fig 4k."""
    fits = {"base": res.model_alpha, **res.sensitivity}
    if variant not in fits:
        raise ValueError(f"variant must be one of {', '.join(fits)}, got {variant!r}")
    m = fits[variant]
    fig, ax = axes(ax, figsize=(5, 3.8))
    ax.errorbar(m.p_c, m.alpha, yerr=m.alpha_se, fmt="o", color=PALETTE["stage2"], label=f"model (MLE), {variant}")
    pc = np.linspace(max(0.05, m.p_c.min()), 1, 100)
    ax.plot(pc, 1 + 0.6 / pc, "--", color="#8ab17d", label="paper: 1 + 0.6/P_C")
    ax.plot(pc, 1 + 1 / pc, ":", color="k", label="mean field: 1 + 1/P_C")
    sel = pc > m.pc_min
    ax.plot(pc[sel], m.intercept + m.slope / pc[sel], "-", color=PALETTE["fit"],
            label=f"fit: {m.intercept:.2f} + ({m.slope:.2f} ± {m.slope_se:.2f})/P_C")
    ax.set_xlabel("critical probability P_C")
    ax.set_ylabel("tail exponent α")
    ax.legend(fontsize=7)
    return fig


def widget_controls(res: HeavyTailedResults, cfg: HeavyTailedConfig) -> dict:
    """The interactive demo's controls (first value = default)."""
    pcs = sorted(res.model_alpha.weights, key=lambda p: abs(p - 0.37))
    return {"plot_distributions": {"which": list(PANELS)},
            "plot_redistribution": {"p_c": pcs},
            "plot_alpha_vs_pc": {"variant": ["base", *res.sensitivity]},
            "plot_layers": {"layer": list(range(len(res.layer_tails) + 1))},
            "plot_grid": {"quantity": ["corr", "w_pos", "wr_pos"], "by": ["crit", "acc", "all"]}}
