"""Chapter 9 — heavy-tailed connectivity and the critical redistribution model (paper 003 §3, Fig 4).

From the shared paper-003 run (:data:`critnotes.training.runs.SHARED_RUN`): the distributions of |C_ij|, weights
(pooled, per layer and fan-in rescaled) against their initial values, and — in the fan-in rescaled
coordinates u = w·√fan-in, so that layers of different fan-in share one scale — Var(u) along the
trajectory, u_T − u_0, the irreversibility R, the gradient-noise covariance C, the squared mean
gradient S and the Hessian H (exact on a parameter subset), each fitted by MLE with model comparison
(:mod:`critnotes.analysis.connections`); |C_ij| and weights at the end over chapter 7's (M, γ) grid,
converged against unconverged runs by chapter 7's definition (Fig 4c–d); critical / non-critical /
redundant connections and retaining the redundant ones at their transition values (Fig 4l); and the
critical redistribution model with its α–P_C relation and the slope's sensitivity to the piece size
and the simulated time (:mod:`critnotes.analysis.redistribution`, Fig 4j–k).

Paper 003 has no methods section; our choices are stated next to each claim: "heavy tailed" means the
power law beats the exponential (likelihood ratio, p < 0.1) over at least a decade, "power-law tailed"
in addition that the log-normal does not win (an undecided comparison counts only on ≥ 1000 tail points,
where a log-normal tail is recognised), and a fit on less than a decade of range, on too few tail
points or on its search bound is inconclusive.  The transition time t_mid is the run's own ‖C‖_F peak (chapter 6; the
paper's run has t = 100).
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np
import torch
from scipy.stats import fisher_exact, mannwhitneyu

from critnotes.analysis import connections as cs
from critnotes.analysis.criticality import correlation_frobenius
from critnotes.analysis import fitting, graphs, redistribution
from critnotes.book.chapters import concentration as conc_ch
from critnotes.book.chapters import summarize
from critnotes.book.chapters.concentration import GridConfig
from critnotes.book.chapters.connectivity import transition_index
from critnotes.book.plotting import PALETTE, axes, loglog_pdf
from critnotes.book.profiles import chapter_config
from critnotes.book.results import Claim
from critnotes.book.verdicts import Verdict, close_to, rule
from critnotes.training.loop import run_data
from critnotes.training.runs import SHARED_RUN, CriticalRunConfig, critical_run, model_at
from critnotes.training.sweeps import Failed, sweep

CHAPTER = "heavy-tailed-connectivity"

#: the distributions of Fig 4 and their labels (|x| is fitted; u = w·√fan-in)
LABELS = {
    "corr_t0": "|C_ij|, t = 0", "corr_mid": "|C_ij|, t ≈ t_mid", "corr_end": "|C_ij|, end",
    "w_init": "|w|, t = 0", "w_mid": "|w|, t ≈ t_mid", "w_pos": "w > 0, end", "w_neg": "|w|, w < 0, end",
    "wr_init": "|u| = |w|·√fan-in, t = 0", "wr_mid": "|u|, t ≈ t_mid",
    "wr_pos": "u = w·√fan-in > 0, end", "wr_neg": "|u|, u < 0, end",
    "var": "Var(u) along trajectory", "disp": "|u_T − u_0|", "R": "irreversibility R of u",
    "C_t0": "|C| grad-noise cov (in u), t = 0", "C_mid": "|C| (in u), t ≈ t_mid", "C_end": "|C| (in u), end",
    "S_t0": "|S| = |ḡḡᵀ| (in u), t = 0", "S_mid": "|S| (in u), t ≈ t_mid", "S_end": "|S| (in u), end",
    "H_t0": "|H| Hessian (in u), t = 0", "H_mid": "|H| (in u), t ≈ t_mid", "H_end": "|H| (in u), end",
}


def _shared_with_chapter7(profile: str) -> dict:
    """Chapter 7's grid and convergence settings of ``profile``: same runs, same "converged"."""
    c = conc_ch.PROFILES[profile]
    return dict(grid=c.grid, b=c.b, relative=c.relative, converged_below=c.converged_below)


@dataclasses.dataclass(frozen=True)
class HeavyTailedConfig:
    run: CriticalRunConfig = SHARED_RUN["quick"]
    grid: GridConfig = conc_ch.PROFILES["quick"].grid    # chapter 7's (M, γ) grid (runs shared): Fig 4c–d
    b: float = conc_ch.PROFILES["quick"].b              # chapter 7's 𝓛 settings, for its "converged" …
    relative: bool = conc_ch.PROFILES["quick"].relative
    converged_below: float | None = conc_ch.PROFILES["quick"].converged_below   # … (None: 𝓛's jump)
    t_mid: int | None = None              # None: the run's ‖C‖_F peak t_c (chapter 6); the paper's run: t = 100
    c_th: float = 0.5                     # critical connection: C_ij >= c_th between its two neurons
    n_per_layer: int = 100                # weights per Linear layer in the C/S/H subset
    n_grad_samples: int = 1000            # training samples for C, S, H
    window: int = 8                       # checkpoints per window of the irreversibility R
    max_fit: int = 50_000                 # samples per MLE fit (random subsample above that)
    min_decades: float = 1.0              # a tail fit on less range is inconclusive
    min_tail: int = 50                    # … and on fewer tail points
    n_removal: int | None = None          # training samples for the retention experiment (None: all)
    n_boot: int = 500                     # bootstrap resamples for intervals
    pc_values: tuple[float, ...] = (0.1, 0.2, 0.3, 0.37, 0.5, 0.6, 0.7, 0.8, 0.9)
    model: redistribution.RedistributionConfig = redistribution.RedistributionConfig()
    quanta: tuple[float, ...] = (0.1, 0.5)       # sensitivity of the α–1/P_C slope: other piece sizes …
    sweep_factors: tuple[float, ...] = (2.0,)    # … and longer simulated times (× model.sweeps)
    tol_slope: float = 0.15               # the mean-field slope check: within ± tol_slope
    tol_alpha: float = 0.3                # model α(0.37) "similar" to the weights' α within ± tol_alpha
    seed: int = 0


PROFILES = {
    "ci": HeavyTailedConfig(run=SHARED_RUN["ci"], **_shared_with_chapter7("ci"), n_per_layer=20, n_grad_samples=100,
                            window=4, max_fit=3000, n_removal=1000, n_boot=200, pc_values=(0.3, 0.5, 0.9),
                            model=redistribution.RedistributionConfig(n_neurons=20, n_matrices=20, sweeps=10)),
    "quick": HeavyTailedConfig(**_shared_with_chapter7("quick")),
    "paper": HeavyTailedConfig(run=SHARED_RUN["paper"], **_shared_with_chapter7("paper"),
                               n_per_layer=200, n_grad_samples=2000, max_fit=200_000),
    "paper-cpu": HeavyTailedConfig(run=SHARED_RUN["paper"], **_shared_with_chapter7("paper-cpu"),
                                   n_per_layer=200, n_grad_samples=2000, max_fit=200_000),
}
#: what a profile changes from the paper's settings (stored with each of its results)
PROFILE_DIFFERENCES = {"paper-cpu": (
    "the (M, γ) grid of Figs 4c–d is chapter 7's paper-cpu grid: the paper's 6 widths × 8 learning rates on full "
    "MNIST and the batch-size axis, each cell trained 2×10⁴ iterations with 40 checkpoints, not 2×10⁵ with 60 (its "
    "end-of-training |C_ij| and weight tails, and which cells count as converged, are read at 2×10⁴, where the "
    "paper reads them at 2×10⁵); the reference run is the `paper` preset's (2×10⁵ iterations, full MNIST)",
)}


@dataclasses.dataclass
class HeavyTailedResults:
    cfg: HeavyTailedConfig
    steps: np.ndarray
    t_mid: int                            # the recorded checkpoint used for "t ≈ t_mid"
    t_mid_measured: bool                  # True: the run's ‖C‖_F peak; False: cfg.t_mid
    act_mid: np.ndarray                   # probe activity (n_probe, M) at t_mid and at the end (Fig 4a ratio)
    act_end: np.ndarray
    samples: dict                         # name → |values| (subsampled to max_fit) for the figures
    tails: dict                           # name → cs.TailAssessment
    layer_samples: list                   # per Linear layer: |w| at the end (subsampled)
    layer_tails: list                     # per Linear layer: cs.TailAssessment of |w| at the end
    subset: dict                          # the C/S/H parameter subset: sizes and layers
    groups: dict                          # group → cs.TrajectoryStats for critical / noncritical / redundant
    retention: dict                       # Fig 4l: per-sample losses final / redundant or random retained / removed
    model_alpha: redistribution.AlphaVsPc
    sensitivity: dict                     # variant name → AlphaVsPc (other quantum / longer simulation)
    grid: list                            # per (M, γ) run: grid_point dict (+ chapter 7's verdict), or Failed
    threshold: float                      # chapter 7's 𝓛_end threshold of "converged" over the grid
    test_acc: float


def _sub(x: np.ndarray, n: int, rng) -> np.ndarray:
    x = np.abs(np.asarray(x, dtype=float).ravel())
    return x if x.size <= n else rng.choice(x, n, replace=False)


def _abs_corr(activity) -> np.ndarray:
    """|C_ij| of the live neurons; empty when fewer than two neurons vary (a dead network)."""
    try:
        return cs.abs_correlations(activity)
    except ValueError:
        return np.zeros(0)


def grid_point(args) -> dict:
    """|C_ij| and weights at the end of one (M, γ) grid run and their tail fits (Fig 4c–d); module level
    so joblib can ship it."""
    rc, max_fit, seed = args
    res = critical_run(rc, progress=False)
    out = {"width": rc.width, "M": rc.n_neurons, "lr": rc.lr, "gamma": rc.gamma, "test_acc": res.test_acc,
           "diverged": bool(res.diverged)}
    if res.diverged:
        return out
    rng = np.random.default_rng(seed)
    w = np.concatenate(cs.layer_weights(res.model()))
    wr = np.concatenate(cs.layer_weights(res.model(), rescale=True))
    samples = {"corr": _abs_corr(res.probes["activity"].activity[-1]), "w_pos": w[w > 0], "wr_pos": wr[wr > 0]}
    samples = {k: _sub(v, max_fit, rng) for k, v in samples.items()}
    out.update(samples=samples, tails={k: cs.assess_tail(v, max_samples=max_fit, seed=seed) for k, v in samples.items()})
    return out


def transition_step(act) -> int:
    """The run's connectivity transition: the checkpoint of the ‖C‖_F peak (chapter 6's t_c)."""
    return int(act.steps[transition_index(correlation_frobenius(act.activity))])


def run(cfg: HeavyTailedConfig, device=None, progress: bool = True) -> HeavyTailedResults:
    res = critical_run(cfg.run, device=device, progress=progress)
    rng = np.random.default_rng(cfg.seed)
    act, wrec = res.probes["activity"], res.probes["weights"]
    t_target = transition_step(act) if cfg.t_mid is None else cfg.t_mid
    k_mid = int(np.argmin(np.abs(wrec.steps - t_target)))
    t_mid = int(wrec.steps[k_mid])
    final = res.model()
    wmask, scale = cs.fan_in_scale(final)
    rec_w = wmask[wrec.index]
    w = wrec.weights[:, rec_w].astype(float)
    wr = w * scale[wrec.index][rec_w]

    samples = {"corr_t0": _abs_corr(act.activity[0]), "corr_mid": _abs_corr(act.at(t_mid)),
               "corr_end": _abs_corr(act.activity[-1]),
               "w_init": w[0], "w_mid": w[k_mid], "w_pos": w[-1][w[-1] > 0], "w_neg": w[-1][w[-1] < 0],
               "wr_init": wr[0], "wr_mid": wr[k_mid], "wr_pos": wr[-1][wr[-1] > 0], "wr_neg": wr[-1][wr[-1] < 0]}
    traj = cs.trajectory_stats(wrec.steps, wr, cfg.window)            # in u = w·√fan-in
    samples.update(var=traj.var, disp=traj.disp, R=traj.R)

    data = run_data(cfg.run.train_config())
    gidx = torch.as_tensor(rng.choice(len(data.y_train), min(cfg.n_grad_samples, len(data.y_train)), replace=False))
    subset = cs.param_subset(final, cfg.n_per_layer, cfg.seed)
    su = np.outer(scale[subset], scale[subset])                          # C, S, H in u: divide by √fan_i·√fan_j
    iu = np.triu_indices(len(subset))
    for tag, t in (("t0", 0), ("mid", t_mid), ("end", int(wrec.steps[-1]))):
        mats = cs.gradient_matrices(model_at(res, t), data.x_train[gidx], data.y_train[gidx], subset)
        for name in ("C", "S", "H"):
            samples[f"{name}_{tag}"] = (mats[name] / su)[iu]

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

    # Fig 4l: the final model with the redundant connections retained at their t_mid values, against as
    # many random non-critical connections retained at theirs (moving any weight off the optimum costs loss)
    n_eval = len(data.y_train) if cfg.n_removal is None else min(cfg.n_removal, len(data.y_train))
    x, y = data.x_train[:n_eval], data.y_train[:n_eval]
    w_mid = wrec.weights[k_mid, pos].astype(float)
    red = np.flatnonzero(cls["redundant"])
    nonc = np.flatnonzero(cls["noncritical"])
    rand = rng.choice(nonc, size=min(len(red), len(nonc)), replace=False)
    retention = {"final": cs.set_connections(final, [], x, y),
                 "redundant_retained": cs.set_connections(final, table.flat[red], x, y, values=w_mid[red]),
                 "random_retained": cs.set_connections(final, table.flat[rand], x, y, values=w_mid[rand]),
                 "redundant_removed": cs.set_connections(final, table.flat[red], x, y),
                 "n_redundant": int(len(red)), "n_critical": int(cls["critical"].sum()),
                 "n_connections": int(len(table.flat))}

    av = redistribution.alpha_vs_pc(cfg.pc_values, cfg.model, n_fit=cfg.max_fit)
    variants = {f"quantum={q:g}": dataclasses.replace(cfg.model, quantum=q) for q in cfg.quanta}
    variants.update({f"sweeps={cfg.model.sweeps * f:g}": dataclasses.replace(cfg.model, sweeps=cfg.model.sweeps * f)
                     for f in cfg.sweep_factors})
    sensitivity = {k: redistribution.alpha_vs_pc(cfg.pc_values, m, n_fit=cfg.max_fit) for k, m in variants.items()}

    # chapter 7's cells (cached, shared) decide "converged"; the tails come from the same cached runs
    configs = cfg.grid.configs()
    cells = sweep(conc_ch.grid_cell, [(c, cfg.b, cfg.relative) for c in configs], n_jobs=cfg.grid.n_jobs,
                  desc="(M, γ) grid: 𝓛", progress=progress)
    threshold = conc_ch.convergence_threshold(cells, cfg.converged_below)
    grid = sweep(grid_point, [(c, cfg.max_fit, cfg.seed) for c in configs], n_jobs=cfg.grid.n_jobs,
                 desc="(M, γ) grid: tails", progress=progress)
    for g, c in zip(grid, cells):
        if not isinstance(g, Failed):
            g.update(converged=conc_ch.is_converged(c, threshold), crit_end=conc_ch.final_crit(c))
    return HeavyTailedResults(cfg, wrec.steps, t_mid, cfg.t_mid is None, act.at(t_mid), act.activity[-1], samples,
                              tails, layer_samples, layer_tails,
                              {"n_per_layer": cfg.n_per_layer, "size": int(len(subset)), "n_samples": int(len(gidx))},
                              groups, retention, av, sensitivity, grid, threshold, res.test_acc)


# --------------------------------------------------------------------------------------------------
# derived numbers
# --------------------------------------------------------------------------------------------------
FAMILIES = {"corr": ("corr_t0", "corr_mid", "corr_end"), "weights (u)": ("wr_init", "wr_mid", "wr_pos"),
            "C": ("C_t0", "C_mid", "C_end"), "S": ("S_t0", "S_mid", "S_end"), "H": ("H_t0", "H_mid", "H_end")}


def heavy(t: cs.TailAssessment, min_decades: float = 1.0, min_tail: int = 50) -> bool | None:
    """Heavier than exponential (:attr:`~critnotes.analysis.connections.TailAssessment.heavy_tailed`) on a
    tail fit that can tell: ``None`` (undecided) without a fit, on the search bound, on less than
    ``min_decades`` decades or fewer than ``min_tail`` tail points."""
    if not t.fitted or t.at_bound or t.decades < min_decades or t.n_tail < min_tail:
        return None
    return t.heavy_tailed


def early_vs_late(res: HeavyTailedResults) -> dict:
    """For |C_ij|, |u|, C, S, H: heavy (:func:`heavy`: True / False / None undecided) at t = 0, at t_mid and
    at the end, and the first stage where it is."""
    out = {}
    for f, names in FAMILIES.items():
        hv = [heavy(res.tails[n], res.cfg.min_decades, res.cfg.min_tail) for n in names]
        stage = next((s for s, h in zip(("init", "early", "late"), hv) if h), "never")
        out[f] = {"t0": hv[0], "mid": hv[1], "end": hv[2], "stage": stage}
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


def retention_summary(res: HeavyTailedResults) -> dict:
    """Mean per-sample training losses of Fig 4l: the final model, with the redundant connections retained
    at their t_mid values, with as many random non-critical connections retained at theirs, and with the
    redundant ones zeroed; ``excess`` = redundant retained − random retained (paired, 95 % bootstrap
    interval over samples)."""
    r = res.retention
    out = {k: float(r[k].mean()) for k in ("final", "redundant_retained", "random_retained", "redundant_removed")}
    d = r["redundant_retained"] - r["random_retained"]
    out.update(excess=float(d.mean()), excess_ci=fitting.bootstrap_interval(d, n_boot=res.cfg.n_boot, seed=res.cfg.seed),
               delta_redundant=float((r["redundant_retained"] - r["final"]).mean()),
               delta_random=float((r["random_retained"] - r["final"]).mean()),
               n_redundant=r["n_redundant"], n_critical=r["n_critical"], n_connections=r["n_connections"])
    return out


def corr_ratio(res: HeavyTailedResults) -> tuple[float, tuple[float, float]]:
    """Mean |C_ij| at t_mid over mean |C_ij| at the end (Fig 4a), with a 95 % interval from a paired
    bootstrap over probe samples (the same samples at both times; correlations recomputed)."""
    a, b = res.act_mid, res.act_end
    ratio = float(_abs_corr(a).mean() / _abs_corr(b).mean())
    rng = np.random.default_rng(res.cfg.seed)
    boots = []
    for _ in range(res.cfg.n_boot):
        i = rng.integers(0, len(a), len(a))
        ca, cb = _abs_corr(a[i]), _abs_corr(b[i])
        if ca.size and cb.size:
            boots.append(ca.mean() / cb.mean())
    return ratio, tuple(np.percentile(boots, [2.5, 97.5]).tolist())


def slope_envelope(res: HeavyTailedResults) -> tuple[float, float]:
    """The α–1/P_C slope's 95 % envelope over the base model and every sensitivity variant (slope ± 1.96 s.e.)."""
    fits = [res.model_alpha, *res.sensitivity.values()]
    return (float(min(f.slope - 1.96 * f.slope_se for f in fits)), float(max(f.slope + 1.96 * f.slope_se for f in fits)))


def grid_runs(res: HeavyTailedResults, by: str = "converged") -> list[dict]:
    """Grid runs that trained (not failed, not diverged): ``by="converged"`` those chapter 7 counts as
    converged (:func:`critnotes.book.chapters.concentration.is_converged`), ``"unconverged"`` the others."""
    if by not in ("converged", "unconverged"):
        raise ValueError(f"by must be 'converged' or 'unconverged', got {by!r}")
    ok = [g for g in res.grid if not isinstance(g, Failed) and not g["diverged"]]
    return [g for g in ok if g["converged"] == (by == "converged")]


def grid_contrast(res: HeavyTailedResults, key: str) -> dict:
    """Runs with a decided tail (:func:`heavy`) and how many are heavy tailed, converged vs unconverged."""
    out = {}
    for by in ("converged", "unconverged"):
        hv = [heavy(g["tails"][key], res.cfg.min_decades, res.cfg.min_tail) for g in grid_runs(res, by)]
        dec = [h for h in hv if h is not None]
        out[by] = {"heavy": int(sum(dec)), "decided": len(dec), "runs": len(hv)}
    return out


def run_setting(res: HeavyTailedResults) -> str:
    """The reference run's settings, stated next to the verdicts they may move."""
    r = res.cfg.run
    t = f"t_mid = {res.t_mid} ({'the run’s ‖C‖_F peak' if res.t_mid_measured else 'fixed'})"
    return (f"our run: M = {r.n_neurons}, {r.steps} steps on {r.dataset} ({r.normalize} inputs), {t}; "
            "paper: 2×10⁵ steps on MNIST, t = 100")


# --------------------------------------------------------------------------------------------------
# rules and claims
# --------------------------------------------------------------------------------------------------
@rule(agrees=dict(fitted=True, heavy=True, lognormal_wins=False, lognormal_decided=False, at_bound=False,
                  decades=2.0, n_tail=5000),
      differs=dict(fitted=True, heavy=False, lognormal_wins=False, lognormal_decided=False, at_bound=False,
                   decades=2.0, n_tail=5000))
def power_law_tail(fitted: bool, heavy: bool | None, lognormal_wins: bool | None, lognormal_decided: bool | None,
                   at_bound: bool, decades: float | None, n_tail: int | None, min_decades: float = 1.0,
                   min_tail: int = 50, min_tail_undecided: int = 1000) -> Verdict:
    """A power-law tail (the paper's reading) from a :class:`~critnotes.analysis.connections.TailAssessment`:
    ``differs`` when the power law does not beat the exponential or the log-normal beats it;
    ``agrees`` when it beats the exponential and the log-normal does not win — decisively beaten, or
    undecided on at least ``min_tail_undecided`` tail points (a pure power law never beats a log-normal
    decisively, but a log-normal tail that large is recognised; below it an undecided comparison is
    absence of evidence: ``inconclusive``); ``inconclusive`` also on the search bound, on less than
    ``min_decades`` decades or fewer than ``min_tail`` tail points."""
    if not fitted:
        return Verdict("not measured", "too few tail points to fit")
    if at_bound:
        return Verdict("inconclusive", "the power-law fit sits on its search bound")
    if decades is None or decades < min_decades:
        return Verdict("inconclusive", f"the tail spans {decades or 0:.2f} < {min_decades:g} decade(s)")
    if n_tail is None or n_tail < min_tail:
        return Verdict("inconclusive", f"only {n_tail} tail points (< {min_tail})")
    if not heavy:
        return Verdict("differs", "the power law does not beat the exponential")
    if lognormal_wins:
        return Verdict("differs", "heavier than exponential, but the log-normal beats the power law")
    if not lognormal_decided and n_tail < min_tail_undecided:
        return Verdict("inconclusive", f"heavier than exponential; power law vs log-normal undecided on {n_tail} "
                                       f"< {min_tail_undecided} tail points")
    return Verdict("agrees", "the power law beats the exponential and the log-normal does not win"
                   + ("" if lognormal_decided else f" on {n_tail} tail points"))


def _tail_inputs(t: cs.TailAssessment) -> dict:
    return dict(fitted=t.fitted, heavy=t.heavy_tailed, lognormal_wins=t.lognormal_wins,
                lognormal_decided=None if not t.fitted else bool(t.p_vs_lognormal < t.p_threshold),
                at_bound=t.at_bound, decades=t.decades, n_tail=t.n_tail)


@rule(agrees=dict(k_conv=8, n_conv=8, k_unconv=0, n_unconv=8), differs=dict(k_conv=0, n_conv=8, k_unconv=8, n_unconv=8))
def converged_contrast(k_conv: int, n_conv: int, k_unconv: int, n_unconv: int, alpha: float = 0.05,
                       min_runs: int = 2, share: float = 0.5) -> Verdict:
    """Heavy tails "unique to the converged model" (Fig 4c–d): ``k`` heavy-tailed of ``n`` runs with a decided
    tail, converged vs unconverged.  ``agrees`` when converged runs are heavy tailed more often (one-sided
    Fisher exact test, p < ``alpha``) and at least ``share`` of them are; ``differs`` when the unconverged
    ones are significantly more often, or at most 20 % of the converged ones are; ``inconclusive``
    otherwise or with fewer than ``min_runs`` runs in a group."""
    if n_conv == 0 or n_unconv == 0:
        return Verdict("not measured", f"{n_conv} converged and {n_unconv} unconverged runs with a decided tail")
    if min(n_conv, n_unconv) < min_runs:
        return Verdict("inconclusive", f"{n_conv} converged and {n_unconv} unconverged runs (< {min_runs} in a group)")
    table = [[k_conv, n_conv - k_conv], [k_unconv, n_unconv - k_unconv]]
    p_more = float(fisher_exact(table, alternative="greater").pvalue)
    p_less = float(fisher_exact(table, alternative="less").pvalue)
    counts = f"{k_conv}/{n_conv} converged vs {k_unconv}/{n_unconv} unconverged runs heavy tailed"
    if p_less < alpha:
        return Verdict("differs", f"{counts}: unconverged more often (p = {p_less:.2g})")
    if k_conv / n_conv <= 0.2:
        return Verdict("differs", f"{counts}: the converged runs are not heavy tailed")
    if p_more < alpha and k_conv / n_conv >= share:
        return Verdict("agrees", f"{counts} (p = {p_more:.2g})")
    return Verdict("inconclusive", f"{counts} (p = {p_more:.2g})")


@rule(agrees=dict(grad_t0=[False, False, False], grad_mid=[True, True, True], w_t0=False, w_mid=False, w_end=True),
      differs=dict(grad_t0=[True, False, False], grad_mid=[True, True, True], w_t0=False, w_mid=False, w_end=True))
def early_then_late(grad_t0: list, grad_mid: list, w_t0: bool | None, w_mid: bool | None,
                    w_end: bool | None) -> Verdict:
    """C, S, H *develop* heavy tails early (not heavy at t = 0, heavy at t_mid) while the weights become heavy
    only late (not at t = 0 or t_mid, heavy at the end): ``differs`` when any decided reading contradicts
    that, ``inconclusive`` when none does but one is undecided (None)."""
    got = [*grad_t0, *grad_mid, w_t0, w_mid, w_end]
    want = [False] * len(grad_t0) + [True] * len(grad_mid) + [False, False, True]
    if any(g is not None and g != w for g, w in zip(got, want)):
        return Verdict("differs", "a decided reading contradicts the order (C, S, H at t = 0 / t_mid; weights)")
    if any(g is None for g in got):
        return Verdict("inconclusive", "no contradiction, but a reading is undecided (< 1 decade, bound or no fit)")
    return Verdict("agrees", "C, S, H not heavy at t = 0 and heavy at t_mid; weights heavy only at the end")


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


@rule(agrees=dict(value=3.0, target=3.1, tol=0.3, ci=(2.9, 3.2), tail_verdict="agrees"),
      differs=dict(value=5.0, target=3.1, tol=0.3, ci=(4.7, 5.3), tail_verdict="agrees"))
def exponent_if_power_law(value: float | None, target: float, tol: float, ci: tuple[float, float] | None,
                          tail_verdict: str, at_bound: bool = False) -> Verdict:
    """A tail exponent compared with ``target`` (:func:`critnotes.book.verdicts.close_to`) only when the tail
    was judged a power law (``tail_verdict`` of :func:`power_law_tail` is ``agrees``): an exponent of a
    tail the chapter refuses is not measured."""
    if tail_verdict != "agrees":
        return Verdict("not measured", f"the tail is not judged a power law ({tail_verdict}): no exponent to compare")
    return close_to(value, target, tol, ci=ci, at_bound=at_bound)


def claims(res: HeavyTailedResults) -> list[Claim]:
    out = []
    cfg = res.cfg
    setting = run_setting(res)
    plrule = (f"power law beats the exponential (p < 0.1) and the log-normal does not win (undecided counts only on "
              f"≥ 1000 tail points), tail ≥ {cfg.min_decades:g} decade and ≥ {cfg.min_tail} points")
    gates = dict(min_decades=cfg.min_decades, min_tail=cfg.min_tail)
    # Fig 4b fits the positive weights: judged in u = w·√fan-in (one scale for all layers); the raw pooled
    # tail, the negative weights and single layers are findings
    figs = {"corr_end": "4a", "wr_pos": "4b", "var": "4e", "disp": "4e", "C_end": "4f", "S_end": "4g", "H_end": "4h",
            "R": "4i"}
    tail_verdicts = {}
    for name, fig in figs.items():
        t = res.tails[name]
        where = (" (each layer's weights × √fan-in, then pooled: no mixture of layer scales)" if name == "wr_pos"
                 else " (in u = w·√fan-in: each layer's scale removed before pooling)"
                 if name in ("var", "disp", "R", "C_end", "S_end", "H_end") else "")
        c = Claim.judged(f"{CHAPTER}.tail.{name}", f"{LABELS[name]} is power-law tailed (Fig {fig}){where}; {plrule}; "
                         f"{setting}", "power law", t.reading, "power_law_tail", detail=t.as_dict(), **_tail_inputs(t),
                         **gates)
        tail_verdicts[name] = c.verdict
        out.append(c)
    for name, why in (("w_pos", "pooled over layers without rescaling: a mixture of layer scales"),
                      ("w_neg", "negative weights; the paper fits only the positive ones"),
                      ("wr_neg", "negative weights × √fan-in")):
        t = res.tails[name]
        out.append(Claim(f"{CHAPTER}.tail.{name}", f"reading of {LABELS[name]} ({why})", None, t.reading,
                         kind="finding", detail={**t.as_dict(), "power_law_tail": power_law_tail(**_tail_inputs(t),
                                                                                               **gates).verdict}))
    out.append(Claim(f"{CHAPTER}.weights.tail_layers", "which Linear layers' final |w| are power-law / heavier than "
                     "exponential (one layer each)", None,
                     {f"layer{k}": t.reading for k, t in enumerate(res.layer_tails, 1)}, kind="finding",
                     detail={f"layer{k}": t.as_dict() for k, t in enumerate(res.layer_tails, 1)}))
    ev = early_vs_late(res)
    out.append(Claim.judged(f"{CHAPTER}.early_vs_late", "C, S, H develop heavy tails early (not heavy at t = 0, heavy "
                            "at t ≈ t_mid); the weights (u = w·√fan-in) only late (not at t = 0 or t_mid, heavy at the "
                            f"end); heavy = beats the exponential over ≥ {cfg.min_decades:g} decade, ≥ {cfg.min_tail} "
                            f"tail points, off the search bound (else undecided); {setting}",
                            "C,S,H early; w late", {f: v["stage"] for f, v in ev.items()}, "early_then_late",
                            detail={"t_mid": res.t_mid, **ev}, grad_t0=[ev[f]["t0"] for f in ("C", "S", "H")],
                            grad_mid=[ev[f]["mid"] for f in ("C", "S", "H")], w_t0=ev["weights (u)"]["t0"],
                            w_mid=ev["weights (u)"]["mid"], w_end=ev["weights (u)"]["end"]))
    ratio, ci = corr_ratio(res)
    out.append(Claim.judged(f"{CHAPTER}.corr.mid_vs_end", "mean |C_ij| at t ≈ t_mid is larger than at the end "
                            "(Fig 4a); 95 % interval from a paired bootstrap over probe samples; " + setting,
                            "mid > end", ratio, "exceeds", detail={"t_mid": res.t_mid}, value=ratio, threshold=1.0,
                            ci=ci))
    tests = group_tests(res)
    out.append(Claim.judged(f"{CHAPTER}.critical.vs_noncritical", "critical connections: larger Var(w), |w_T − w_0|, "
                            "slower autocorrelation decay, larger R (Figs 4e, 4i); one-sided Mann–Whitney, p < 0.05; "
                            + setting, "critical > non-critical", {q: p[0] for q, p in tests.items()} or None,
                            "all_larger", detail={"medians": group_medians(res)},
                            p_greater=[p[0] for p in tests.values()], p_less=[p[1] for p in tests.values()]))
    rs = retention_summary(res)
    has = rs["n_redundant"] > 0
    out.append(Claim.judged(f"{CHAPTER}.redundant.retention", "retaining the redundant connections in the final model "
                            "(their weights put back to the t_mid values, no retraining) raises the mean training loss "
                            "more than retaining as many random non-critical connections the same way (Fig 4l); "
                            "paired bootstrap 95 % interval over samples; " + setting,
                            "higher mean loss", rs["excess"] if has else None, "exceeds", detail=rs,
                            value=rs["excess"] if has else None, threshold=0.0, ci=rs["excess_ci"] if has else None))
    out.append(Claim(f"{CHAPTER}.redundant.removal", "change of the mean training loss when the redundant connections "
                     "are zeroed (not the paper's experiment: zeroing trained weights raises the loss almost always)",
                     None, {"redundant_removed": rs["redundant_removed"] - rs["final"]} if has else None,
                     kind="finding", detail=rs))
    m = res.model_alpha
    env = slope_envelope(res)
    sens = {k: v.slope for k, v in res.sensitivity.items()}
    out.append(Claim(f"{CHAPTER}.model.alpha_pc_slope", "our redistribution model's α–1/P_C line over P_C > 0.2 "
                     "(paper: α = 1 + 0.6/P_C for its own model, rules unpublished; ours has the mean-field slope 1 by "
                     "design, so this does not test the paper): free intercept and slope, and the slope with the "
                     "paper's intercept 1", m.paper_slope,
                     {"slope": m.slope, "intercept": m.intercept, "slope_intercept_1": m.slope_fixed},
                     kind="finding", detail={**m.as_dict(), "sensitivity_slopes": sens, "envelope": env}))
    out.append(Claim.judged(f"{CHAPTER}.model.mean_field", f"our model follows its mean-field slope 1 (α = 1 + 1/P_C, "
                            f"Lynn et al.) within ± {cfg.tol_slope:g}; interval = envelope of slope ± 1.96 s.e. over "
                            "the piece size and simulated time", m.theory_slope, m.slope,
                            "close_to", kind="check", detail={"sensitivity_slopes": sens}, value=m.slope,
                            target=m.theory_slope, tol=cfg.tol_slope, ci=env, at_bound=bool(m.at_bound.any())))
    i = int(np.argmin(np.abs(m.p_c - 0.37)))
    for name in ("w_pos", "wr_pos"):
        w = res.tails[name]
        a_m, se_m = float(m.alpha[i]), float(m.alpha_se[i])
        verdict = tail_verdicts.get(name) or power_law_tail(**_tail_inputs(w), **gates).verdict
        ci = (w.alpha - 1.96 * float(np.hypot(se_m, w.alpha_se)), w.alpha + 1.96 * float(np.hypot(se_m, w.alpha_se))) \
            if w.fitted else None
        out.append(Claim.judged(f"{CHAPTER}.model.matches_weights.{name}", f"our model at P_C = {m.p_c[i]:g} has a "
                                f"weight exponent similar to the network's ({LABELS[name]}; Fig 4j vs 4b): within "
                                f"± {cfg.tol_alpha:g}, interval from both standard errors; compared only when that "
                                "tail is judged a power law; a check of our model, whose rules are ours", "similar",
                                {"model": a_m, "weights": w.alpha}, "exponent_if_power_law", kind="check",
                                value=w.alpha, target=a_m, tol=cfg.tol_alpha, ci=ci, tail_verdict=verdict,
                                at_bound=bool(w.at_bound or m.at_bound[i])))
    n21 = sum(1 for g in res.grid if not isinstance(g, Failed) and np.isfinite(g.get("crit_end", np.nan))
              and g["crit_end"] < -21)
    conv_def = (f"converged as in chapter 7 (𝓛_end < {res.threshold:.3g}, its threshold over the grid; the paper's "
                f"Fig 4c cut 𝓛 < −21 holds for {n21} of our runs); heavy = beats the exponential over ≥ "
                f"{cfg.min_decades:g} decade; grid: {cfg.grid.steps} steps on {cfg.grid.dataset}, "
                f"{cfg.grid.n_probe} probe samples")
    for key, fig, kind in (("corr", "4c", "reproduction"), ("wr_pos", "4d", "reproduction"), ("w_pos", "4d", "finding")):
        gc = grid_contrast(res, key)
        what = "|C_ij|" if key == "corr" else LABELS[key]
        stmt = (f"{what} at the end is heavy tailed in converged runs, not in unconverged ones (Fig {fig}: 'unique to "
                f"the converged model'); one-sided Fisher exact test; {conv_def}")
        if kind == "finding":
            out.append(Claim(f"{CHAPTER}.grid.{key}.contrast", stmt + " (raw pooled weights: a mixture of layer scales)",
                             None, gc, kind="finding"))
            continue
        out.append(Claim.judged(f"{CHAPTER}.grid.{key}.contrast", stmt, "converged only", gc, "converged_contrast",
                                k_conv=gc["converged"]["heavy"], n_conv=gc["converged"]["decided"],
                                k_unconv=gc["unconverged"]["heavy"], n_unconv=gc["unconverged"]["decided"]))
    return out


def reproduce(profile=None, device=None, progress=True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


# --------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------
def _tail_line(ax, x, exponent: float, xmin: float, style="-", **kw):
    """A power law of ``exponent`` from ``xmin`` to max(x), anchored on the log-binned density of ``x`` at
    ``xmin``."""
    xs, p = fitting.log_binned_density(x)
    k = int(np.argmin(np.abs(xs - xmin)))
    ends = np.array([xmin, x.max()])
    ax.loglog(ends, p[k] * (ends / xmin) ** -exponent, style, **kw)


def _pdf_with_fit(x, t: cs.TailAssessment, label, ax, color=None):
    x = x[x > 0]
    lab = label + (f" (α={t.alpha:.2f}, {t.reading})" if t.fitted else " (no fit)")
    loglog_pdf(x, ax=ax, label=lab, color=color, xlabel="")
    if t.fitted:
        _tail_line(ax, x, t.alpha, t.xmin, color=color, lw=1, alpha=0.8)


COLORS = ["#2a9d8f", "#e76f51", "#264653", "#8ab17d", "#9e9e9e"]

#: the distribution families of :func:`plot_distributions`: names and x label
PANELS = {
    "corr": (("corr_t0", "corr_mid", "corr_end"), "|C_ij| (dimensionless) — Fig 4a"),
    "weights": (("w_pos", "w_neg", "w_init"), "|w| (weight) — Fig 4b"),
    "weights_rescaled": (("wr_pos", "wr_neg", "wr_init"), "|u| = |w|·√fan-in (weight) — Fig 4b, rescaled"),
    "trajectory": (("var", "disp", "R"), "Var(u) (weight²), |u_T − u_0| (weight), R (weight⁴); u = w·√fan-in — "
                                         "Fig 4e, 4i"),
    "C": (("C_t0", "C_mid", "C_end"), "|C_ij| in u (loss² per weight²) — Fig 4f"),
    "S": (("S_t0", "S_mid", "S_end"), "|S_ij| in u (loss² per weight²) — Fig 4g"),
    "H": (("H_t0", "H_mid", "H_end"), "|H_ij| in u (loss per weight²) — Fig 4h"),
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


def plot_grid(res: HeavyTailedResults, *, quantity: str = "corr", by: str = "converged", ax=None):
    """|C_ij| (Fig 4c) or weights (Fig 4d) at the end of the (M, γ) grid runs that chapter 7 counts as
    converged or not (:func:`grid_runs`), one curve per run, coloured by log10 γ."""
    if quantity not in ("corr", "w_pos", "wr_pos"):
        raise ValueError(f"quantity must be 'corr', 'w_pos' or 'wr_pos', got {quantity!r}")
    import matplotlib.pyplot as plt

    fig, ax = axes(ax, figsize=(5.5, 3.8))
    runs = grid_runs(res, by)
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
    ax.set_title(f"{len(runs)} {by} runs (chapter 7: 𝓛_end < {res.threshold:.3g})", fontsize=8)
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


def plot_retention(res: HeavyTailedResults, ax=None):
    """P(L ≥ b) of the per-sample training loss of the final model, with the redundant connections retained
    at their t_mid values, with as many random non-critical ones retained, and with the redundant ones
    zeroed — Fig 4l; the legend gives the mean losses."""
    fig, ax = axes(ax, figsize=(5, 3.8))
    for key, c in (("final", "#264653"), ("redundant_retained", "#e76f51"), ("random_retained", "#9e9e9e"),
                   ("redundant_removed", "#8ab17d")):
        x, p = fitting.ccdf(res.retention[key])
        ax.loglog(x, p, color=c, label=f"{key.replace('_', ' ')} (mean L = {res.retention[key].mean():.4f})")
    ax.set_xlabel("per-sample loss b (nats)")
    ax.set_ylabel("P(L ≥ b)")
    ax.set_title(f"{res.retention['n_redundant']} redundant of {res.retention['n_connections']} connections; "
                 f"t_mid = {res.t_mid}", fontsize=8)
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
    for expo, style, color, lab in ((a, "-", PALETTE["fit"], f"MLE α = {a:.2f}"),
                                    (1 + 1 / p_c, ":", "k", f"1 + 1/P_C = {1 + 1 / p_c:.2f}"),
                                    (1 + 0.6 / p_c, "--", "#8ab17d", f"paper 1 + 0.6/P_C = {1 + 0.6 / p_c:.2f}")):
        _tail_line(ax, x, expo, xmin, style, color=color, label=lab)
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
    ax.plot(pc[sel], 1 + m.slope_fixed / pc[sel], "-.", color=PALETTE["fit"], lw=0.8,
            label=f"fit, intercept 1: 1 + ({m.slope_fixed:.2f} ± {m.slope_fixed_se:.2f})/P_C")
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
            "plot_grid": {"quantity": ["corr", "wr_pos", "w_pos"], "by": ["converged", "unconverged"]}}
