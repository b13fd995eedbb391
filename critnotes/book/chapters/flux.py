"""Chapter 8 — marginal probability flux of training and the potential–flux picture (paper 003 §2.5, Fig 3).

The reference run (shared with chapters 6, 7, 9, 10) gives the trajectory ensembles and the total
marginal fluxes |Ĵ_L(t)|, |Ĵ_w(t)|, next to the rate of change of the mean loss |dL̄/dt| (the one-bin
flux), so the chapter can say what the flux adds beyond it.  The grid of the concentration chapter
(same configs, so the same cached trainings, batch-size axis included) gives the flux–M and flux–γ
log-log slopes at t = 20 and at the end, the γ = ν/B collapse (Figs 3f/h) and the test of
J ∝ e^{−ΔL̄/γ} against a power of γ.  The weight flux of every run is taken over the same number of
randomly sampled weights (``FluxConfig.n_flux_weights``) and normalised by it, so that bins cancel alike
in small and large networks.  End-of-training claims need the paper's final stage (t ≥ 10⁴).  A 2-D Langevin toy (:mod:`critnotes.analysis.probability_flux`) shows the steady
rotational flux J_ss of Eqs 3–6.
"""
from __future__ import annotations

import dataclasses
import math
import sys

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from critnotes.analysis import fitting
from critnotes.analysis import probability_flux as flux
from critnotes.book.chapters import concentration as ch7
from critnotes.book.chapters import summarize
from critnotes.book.plotting import axes, panels
from critnotes.book.profiles import chapter_config
from critnotes.book.results import Claim
from critnotes.book.verdicts import Verdict, missing, rule
from critnotes.training import cache
from critnotes.training.runs import CriticalRunConfig, critical_run
from critnotes.training.sweeps import Failed, sweep

CHAPTER = "flux"
LATE_WINDOW = (3e3, 3e4)      # around the paper's convergence transition t ~ 10⁴ (Figs 3c–d)


@dataclasses.dataclass(frozen=True)
class FluxConfig:
    run: CriticalRunConfig = ch7.PROFILES["quick"].run
    grid: ch7.GridConfig = ch7.PROFILES["quick"].grid     # the concentration chapter's grid (shared cache)
    n_bins_loss: int = 50          # log-spaced bins in L for J(L, t)
    n_bins_weight: int = 100       # linear bins in w for J(w, t)
    t_early: float = 20.0          # Figs 3i–l
    late_from: float = 1000.0      # window of the late flux peak (paper: convergence, t ~ 10⁴)
    peak_alpha: float = 0.05       # a late peak must rise significantly above a power law in t (Bonferroni)
    final_from: float = 1e4        # the paper's final stage t = 10⁴–2×10⁵: end-of-training claims need it
    n_flux_weights: int = 5000     # weights sampled (same number in every run) for |Ĵ_w|; |Ĵ_w| is per weight
    n_traj: int = 1000             # trajectories drawn in Figs 3a–b
    b: float = 5e-3                # ΔS settings for the converged/unconverged colouring (chapter 7)
    relative: bool = False
    converged_below: float | None = None   # as chapter 7: None → at the jump of 𝓛_end over the grid
    curl: float = 1.0              # the toy's rotational drift strength a (the check's value)
    curls: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, -1.0)   # simulated for the demo (a = 0 and `curl` always)
    toy_D: float = 0.1
    toy_walkers: int = 2000
    toy_steps: int = 3000
    toy_dt: float = 0.01
    toy_bins: int = 24


PROFILES = {
    "ci": FluxConfig(run=ch7.PROFILES["ci"].run, grid=ch7.PROFILES["ci"].grid, n_traj=200, toy_walkers=500,
                     toy_steps=1500, curls=(0.0, 1.0, 2.0)),
    "quick": FluxConfig(),
    "paper": FluxConfig(run=ch7.PROFILES["paper"].run, grid=ch7.PROFILES["paper"].grid, late_from=3000.0),
    "paper-cpu": FluxConfig(run=ch7.PROFILES["paper-cpu"].run, grid=ch7.PROFILES["paper-cpu"].grid, late_from=3000.0),
}
#: what a profile changes from the paper's settings (stored with each of its results)
PROFILE_DIFFERENCES = {"paper-cpu": (
    "the grid of Figs 3e–p is chapter 7's paper-cpu grid: the paper's 6 widths × 8 learning rates on full MNIST "
    "and the batch-size axis, each cell trained 2×10⁴ iterations with 40 checkpoints, not 2×10⁵ with 60; the "
    "end-of-training statements (Figs 3m–p, read at 2×10⁵ in the paper) and chapter 7's converged/unconverged split "
    "they use are read at 2×10⁴, early in the paper's final stage (10⁴–2×10⁵); the reference run (Figs 3a–d) is the "
    "`paper` preset's",
)}


@dataclasses.dataclass(frozen=True)
class FluxCell:
    """Total marginal fluxes of one grid cell (None: fewer than two finite checkpoints), with chapter 7's
    𝓛, train accuracy and L̄ at the end (so :func:`ch7.is_converged` applies)."""

    run: CriticalRunConfig
    diverged: bool
    flux_loss: flux.FluxSeries | None
    flux_weight: flux.FluxSeries | None
    final_crit: float = math.nan          # chapter 7's 𝓛 at the end
    train_acc: float = math.nan
    final_loss: float = math.nan


@dataclasses.dataclass
class FluxResults:
    cfg: FluxConfig
    steps: np.ndarray
    losses: np.ndarray             # (n_ckpt, N) per-sample losses L_k(t) of the reference run
    loss_traj: np.ndarray          # (n_ckpt, n_traj) sampled L_k(t)
    weight_traj: np.ndarray        # (n_ckpt, n_traj) sampled w_i(t)
    flux_loss: flux.FluxSeries     # |Ĵ_L(t)|
    flux_weight: flux.FluxSeries   # |Ĵ_w(t)|
    mean_rate: flux.FluxSeries     # |dL̄/dt| (the one-bin loss flux)
    cells: list                    # FluxCell, or Failed when the training raised
    slopes: dict                   # {"L_M_early": {"fit": fitting.LineFit or None, "fixed": "lr = …"}, ...}
    toy: dict                      # {curl: flux.ToyFlux}
    toy_exact: dict                # {curl: flux.ToyFlux} closed form on the same grid


def flux_cell(args) -> FluxCell:
    """Total marginal fluxes of one grid cell (cached), with chapter 7's end-of-training 𝓛, accuracy and L̄.

    ``args = (CriticalRunConfig, n_bins_loss, n_bins_weight, b, relative, n_flux_weights)``; module-level for joblib.
    """
    cfg, nb_l, nb_w, b, relative, n_w = args

    def compute():
        res = critical_run(cfg, progress=False)
        ls, ws = res.probes["sample_loss"], res.probes["weights"]
        w = sampled_weights(ws.weights, n_w)
        ok = np.all(np.isfinite(ls.losses), axis=1) & np.all(np.isfinite(w), axis=1)
        n = int(np.argmin(ok)) if not ok.all() else len(ok)     # checkpoints before any non-finite value
        fl = flux.total_flux_series(ls.steps[:n], ls.losses[:n], n_bins=nb_l, log=True) if n >= 2 else None
        fw = flux.total_flux_series(ws.steps[:n], w[:n], n_bins=nb_w) if n >= 2 else None
        return FluxCell(cfg, bool(res.diverged), fl, fw)

    out = cache.cached("flux-cell", (cfg, nb_l, nb_w, n_w), compute, code=(compute, flux), expect=FluxCell)
    c7 = ch7.grid_cell((cfg, b, relative))
    return dataclasses.replace(out, final_crit=c7.final_crit, train_acc=c7.train_acc, final_loss=c7.final_loss)


def sampled_weights(weights: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """The snapshots ``(n_ckpt, n_weights)`` restricted to ``n`` weights drawn once without replacement, so that
    every run's |Ĵ_w| is over the same number of weights (Figs 3d, g–h, k–l, o–p)."""
    if weights.shape[1] < n:
        raise ValueError(f"the run records {weights.shape[1]} weights, fewer than n_flux_weights = {n}: lower "
                         "FluxConfig.n_flux_weights or record more weights (CriticalRunConfig.n_weights)")
    return weights[:, np.random.default_rng(seed).choice(weights.shape[1], n, replace=False)]


def _series(cell, key: str):
    return None if isinstance(cell, Failed) else getattr(cell, key)


def _at(series, t):
    return math.nan if series is None else flux.flux_at(series.t, series.total, t)


def _end(series):
    return math.nan if series is None else float(series.total[-1])


def _slope(entry: dict) -> float | None:
    """The slope of one ``FluxResults.slopes`` entry ``{"fit": LineFit | None, "fixed": …}``."""
    return None if entry["fit"] is None else entry["fit"].slope


def _slice(cells: list, cfg: FluxConfig, var: str) -> list:
    """Trained cells at B = grid.batch_size along M (at the reference ν) or γ (at the reference width)."""
    fixed, val = ("lr", cfg.run.lr) if var == "M" else ("width", cfg.run.width)
    return [c for c in ch7.main_grid(cells, cfg.grid) if getattr(ch7.cell_run(c), fixed) == val
            and not c.diverged and not isinstance(c, Failed)]


def _xvar(c, var: str) -> float:
    r = ch7.cell_run(c)
    return r.n_neurons if var == "M" else r.gamma


def _slopes(cells: list, cfg: FluxConfig) -> dict:
    out = {}
    for which, key in (("L", "flux_loss"), ("w", "flux_weight")):
        for var, fixed in (("M", f"lr = {cfg.run.lr:g}"), ("gamma", f"width = {cfg.run.width}")):
            sel = [c for c in _slice(cells, cfg, var) if getattr(c, key) is not None]
            for when in ("early", "end"):
                y = [_at(getattr(c, key), cfg.t_early) if when == "early" else _end(getattr(c, key)) for c in sel]
                try:
                    fit = fitting.loglog_fit([_xvar(c, var) for c in sel], y)
                except ValueError:      # fewer than two usable runs
                    fit = None
                out[f"{which}_{var}_{when}"] = {"fit": fit, "fixed": fixed}
    return out


def run(cfg: FluxConfig, device=None, progress: bool = True) -> FluxResults:
    res = critical_run(cfg.run, device=device, progress=progress)
    ls, ws = res.probes["sample_loss"], res.probes["weights"]
    rng = np.random.default_rng(0)
    li = rng.choice(ls.losses.shape[1], min(cfg.n_traj, ls.losses.shape[1]), replace=False)
    wi = rng.choice(ws.weights.shape[1], min(cfg.n_traj, ws.weights.shape[1]), replace=False)
    fl = flux.total_flux_series(ls.steps, ls.losses, n_bins=cfg.n_bins_loss, log=True)
    fw = flux.total_flux_series(ws.steps, sampled_weights(ws.weights, cfg.n_flux_weights), n_bins=cfg.n_bins_weight)
    rate = flux.total_flux_series(ls.steps, ls.losses, n_bins=1)
    args = [(c, cfg.n_bins_loss, cfg.n_bins_weight, cfg.b, cfg.relative, cfg.n_flux_weights) for c in cfg.grid.configs()]
    cells = sweep(flux_cell, args, n_jobs=cfg.grid.n_jobs, desc="(M, γ) grid fluxes", progress=progress)
    curls = sorted({0.0, cfg.curl, *cfg.curls})
    toy = {a: toy_estimate(cfg, a) for a in curls}
    exact = {a: flux.exact_toy_flux(toy[a].centers, a, cfg.toy_D) for a in curls}
    return FluxResults(cfg, ls.steps, ls.losses, ls.losses[:, li], ws.weights[:, wi], fl, fw, rate, cells,
                       _slopes(cells, cfg), toy, exact)


def toy_estimate(cfg: FluxConfig, curl: float) -> flux.ToyFlux:
    """Simulate the toy at ``curl`` and estimate p_ss, U and J_ss from the trajectories."""
    traj = flux.simulate_toy(curl, D=cfg.toy_D, n_walkers=cfg.toy_walkers, n_steps=cfg.toy_steps, dt=cfg.toy_dt)
    return flux.estimate_toy_flux(traj, cfg.toy_dt, n_bins=cfg.toy_bins)


def _bump(t: np.ndarray, j: np.ndarray, alpha: float) -> tuple[float | None, float | None]:
    """The interior point that rises most above a power law in t fitted to the other points (least-squares line
    in (ln t, ln j), excess in residual standard deviations): ``(t, excess)``; t is None unless the excess beats
    the one-sided t quantile at level ``alpha`` Bonferroni-corrected over the interior points."""
    best_k, best = None, -math.inf
    for k in range(1, t.size - 1):
        rest = np.delete(np.arange(t.size), k)
        fit = fitting.loglog_fit(t[rest], j[rest])
        resid = np.log(j[rest]) - fit.intercept - fit.slope * np.log(t[rest])
        sd = float(np.std(resid, ddof=2))
        rise = float(np.log(j[k]) - fit.intercept - fit.slope * np.log(t[k]))
        excess = rise / sd if sd > 0 else (math.inf if rise > 0 else 0.0)
        if excess > best:
            best_k, best = k, excess
    crit = stats.t.ppf(1 - alpha / (t.size - 2), t.size - 3)
    return (float(t[best_k]) if best > crit else None), best


def peak_times(series: flux.FluxSeries, late_from: float, alpha: float = 0.05) -> dict:
    """Times of the maximum of |Ĵ(t)| (Figs 3c–d) and of a late signal for t ≥ ``late_from``: the interior point
    that rises most above a power law in t through the window's other points, counted only if significantly
    (``late_excess`` in residual SDs against a t quantile at ``alpha``, Bonferroni over the window's points;
    needs ≥ 5 points) — a bump on the decaying flux, not just its largest value.  The same for t·|Ĵ(t)|."""
    t = series.t
    out = {}
    for name, j in (("", series.total), ("_per_ln_t", series.total * t)):
        out["peak" + name] = float(t[int(np.nanargmax(j))])
        w = np.flatnonzero((t >= late_from) & np.isfinite(j) & (j > 0))
        late, excess = _bump(t[w], j[w], alpha) if w.size >= 5 else (None, None)
        out["late_peak" + name] = late
        out["late_excess" + name] = excess
    return out


def mean_rate_tracking(res: FluxResults) -> dict:
    """How |Ĵ_L(t)| relates to the rate of the mean loss |dL̄/dt| (the one-bin flux): Spearman ρ of the two
    series, and the excess ratio |Ĵ_L|/|dL̄/dt| ≥ 1 (the part of the flux from samples whose losses move
    against, or faster than, the mean)."""
    j, r = res.flux_loss.total, res.mean_rate.total
    ok = np.isfinite(j) & np.isfinite(r) & (r > 0)
    rho = stats.spearmanr(j[ok], r[ok]) if ok.sum() >= 3 else None
    ratio = j[ok] / r[ok]
    return {"rho": None if rho is None else float(rho.statistic), "p": None if rho is None else float(rho.pvalue),
            "ratio_min": float(ratio.min()) if ratio.size else None,
            "ratio_median": float(np.median(ratio)) if ratio.size else None,
            "ratio_max": float(ratio.max()) if ratio.size else None,
            "t_ratio_max": float(res.flux_loss.t[ok][np.argmax(ratio)]) if ratio.size else None}


def _final_value(c, which: str) -> float:
    """The final flux of a cell: |Ĵ_w|, or |Ĵ_L|/L̄ (the loss flux relative to the mean loss: a converged cell's
    small L̄ alone would make |Ĵ_L| small)."""
    if which == "w":
        return _end(c.flux_weight)
    return _end(c.flux_loss) / c.final_loss if c.final_loss > 0 else math.nan


def final_branches(res: FluxResults, which: str) -> dict:
    """Final |Ĵ_w| (``which="w"``) or |Ĵ_L|/L̄ (``"L"``) of converged and of unconverged learned cells along the γ
    slice (Figs 3n/p): ranges (min, max), medians and counts (chapter 7's convergence rule)."""
    key = "flux_loss" if which == "L" else "flux_weight"
    thr = ch7.convergence_threshold(res.cells, res.cfg.converged_below)
    sel = [c for c in _slice(res.cells, res.cfg, "gamma") if getattr(c, key) is not None and ch7.learned(c)]
    conv = [v for c in sel if ch7.is_converged(c, thr) and np.isfinite(v := _final_value(c, which))]
    unconv = [v for c in sel if not ch7.is_converged(c, thr) and np.isfinite(v := _final_value(c, which))]
    rng = lambda v: (min(v), max(v)) if v else None  # noqa: E731
    med = lambda v: float(np.median(v)) if v else None  # noqa: E731
    return {"converged": rng(conv), "unconverged": rng(unconv), "n_converged": len(conv), "n_unconverged": len(unconv),
            "median_converged": med(conv), "median_unconverged": med(unconv), "threshold": thr}


def barrier_compare(gamma, j) -> dict:
    """J ∝ e^{−ΔL̄/γ} against J ∝ γ^k: least-squares lines of ln J on 1/γ and on ln γ (two parameters each) and
    ΔAIC = n ln(RSS_{1/γ}/RSS_{ln γ}) (< 0 favours the exponential form).  Needs ≥ 4 positive finite J."""
    g, y = np.asarray(gamma, float), np.asarray(j, float)
    ok = np.isfinite(y) & (y > 0) & (g > 0)
    out = {"n": int(ok.sum()), "inv_gamma": None, "log_gamma": None, "delta_aic": None}
    if ok.sum() < 4:
        return out
    inv, lg = fitting.linear_fit(1.0 / g[ok], y[ok], log_y=True), fitting.loglog_fit(g[ok], y[ok])
    rss = lambda f: max((1 - f.r ** 2) * float(np.var(np.log(y[ok]))) * ok.sum(), 1e-300)  # noqa: E731
    out.update(inv_gamma=inv, log_gamma=lg, delta_aic=float(ok.sum() * math.log(rss(inv) / rss(lg))))
    return out


def barrier_fits(res: FluxResults, which: str = "w") -> dict:
    """:func:`barrier_compare` over the converged cells at the reference width, on |Ĵ_which| at the end
    (Δw = −νĝ alone already makes J grow with γ, so only the functional form tells)."""
    key = "flux_loss" if which == "L" else "flux_weight"
    thr = ch7.convergence_threshold(res.cells, res.cfg.converged_below)
    sel = [c for c in _slice(res.cells, res.cfg, "gamma") if getattr(c, key) is not None and ch7.is_converged(c, thr)]
    return barrier_compare([_xvar(c, "gamma") for c in sel], [_end(getattr(c, key)) for c in sel])


# --------------------------------------------------------------------------------------------------
# rules and claims
# --------------------------------------------------------------------------------------------------
@rule(agrees=dict(circ0=0.002, circ=0.4, exact=0.41), differs=dict(circ0=0.3, circ=0.4, exact=0.41))
def detailed_balance(circ0: float, circ: float, exact: float) -> Verdict:
    """The toy's steady current: ≈ 0 at a = 0 (below 10 % of the exact circulation at a) and the estimate
    at a within 20 % of the closed form."""
    if missing(circ0, circ, exact) or exact == 0:
        return Verdict("not measured", "no circulation")
    if abs(circ0) < 0.1 * abs(exact) and abs(circ - exact) < 0.2 * abs(exact):
        return Verdict("agrees", "no current under detailed balance; the rotational current matches the closed form")
    return Verdict("differs", "a current at a = 0, or the estimate at a misses the closed form")


@rule(agrees=dict(converged=(1e-4, 3e-4), unconverged=(1e-3, 4e-3), n_converged=3, n_unconverged=3, last=2e5,
                  needs=1e4),
      differs=dict(converged=(1e-3, 4e-3), unconverged=(1e-4, 3e-4), n_converged=3, n_unconverged=3, last=2e5,
                   needs=1e4))
def lower_branch(converged: tuple | None, unconverged: tuple | None, n_converged: int, n_unconverged: int,
                 last: float, needs: float) -> Verdict:
    """The converged cells' final flux lies below the unconverged ones' (ranges (min, max) of each): separated
    ranges decide, overlapping ones or < 2 cells per group are inconclusive; runs that stop before the
    paper's final stage (``last`` < ``needs``) are not measured."""
    if last < needs:
        return Verdict("not measured", f"the runs stop at t = {last:g}, before the paper's final stage (t ≥ {needs:g})")
    if converged is None or unconverged is None:
        return Verdict("not measured", "one group has no cells")
    if n_converged < 2 or n_unconverged < 2:
        return Verdict("inconclusive", f"{n_converged} converged and {n_unconverged} unconverged cells")
    if converged[1] < unconverged[0]:
        return Verdict("agrees", "every converged cell's final flux below every unconverged one")
    if converged[0] > unconverged[1]:
        return Verdict("differs", "every converged cell's final flux above every unconverged one")
    return Verdict("inconclusive", "the groups overlap")


@rule(agrees=dict(slope=0.8, ci=(0.3, 1.3), sign=1), differs=dict(slope=-0.8, ci=(-1.3, -0.3), sign=1))
def slope_sign(slope: float | None, ci: tuple[float, float] | None, sign: int, x_range: tuple | None = None,
               trivial: float = 0.0, last: float | None = None, needs: float | None = None) -> Verdict:
    """The sign of a fitted log-log slope (``sign`` +1 or −1) judged on its 95 % interval: ``agrees`` when the
    interval lies beyond ``trivial`` (the slope the update rule alone gives, e.g. 1 for |Ĵ_w| against ν),
    ``differs`` when it lies on the wrong side of 0, else ``inconclusive``.  Also inconclusive: a line through
    two points (no interval) or over less than a decade of x (``x_range``); not measured: runs that stop
    before the stage the statement is about (``last`` < ``needs``)."""
    if last is not None and needs is not None and last < needs:
        return Verdict("not measured", f"the runs stop at t = {last:g}, before the paper's final stage (t ≥ {needs:g})")
    if slope is None:
        return Verdict("not measured", "too few usable runs for a line")
    if ci is None or missing(*ci):
        return Verdict("inconclusive", "a line through two points has no error estimate")
    if x_range is not None and x_range[1] < 10 * x_range[0]:
        return Verdict("inconclusive", f"x spans {x_range[0]:.3g}–{x_range[1]:.3g}, less than a decade")
    lo, hi = ci if sign > 0 else (-ci[1], -ci[0])
    t = trivial * sign
    if lo > t:
        return Verdict("agrees", f"slope interval [{ci[0]:.2g}, {ci[1]:.2g}] has the paper's sign"
                       + (f" beyond the trivial {trivial:g}" if trivial else ""))
    if hi < 0:
        return Verdict("differs", f"slope interval [{ci[0]:.2g}, {ci[1]:.2g}] has the opposite sign")
    return Verdict("inconclusive", f"slope interval [{ci[0]:.2g}, {ci[1]:.2g}] contains "
                   + (f"a value between 0 and the trivial {trivial:g}" if trivial else "0"))


@rule(agrees=dict(slope=-2.0, ci=(-3.0, -1.0), delta_aic=-6.0, n=6, last=2e5, needs=1e4),
      differs=dict(slope=-0.5, ci=(-1.0, 0.1), delta_aic=8.0, n=6, last=2e5, needs=1e4))
def barrier_form(slope: float | None, ci: tuple[float, float] | None, delta_aic: float | None, n: int,
                 last: float, needs: float) -> Verdict:
    """J ∝ e^{−ΔL̄/γ} against J ∝ γ^k: ``agrees`` when ln J on 1/γ fits better by ΔAIC < −2 with a slope interval
    below 0 (a positive barrier), ``differs`` when ln J on ln γ fits better by ΔAIC > 2 or the 1/γ slope
    interval lies above 0; else ``inconclusive``.  Not measured before the final stage or with < 4 cells."""
    if last < needs:
        return Verdict("not measured", f"the runs stop at t = {last:g}, before the paper's final stage (t ≥ {needs:g})")
    if slope is None or delta_aic is None:
        return Verdict("not measured", f"{n} converged cells with a final flux (need ≥ 4)")
    if ci is not None and ci[0] > 0:
        return Verdict("differs", f"1/γ slope interval [{ci[0]:.2g}, {ci[1]:.2g}] > 0: flux falls with γ")
    if delta_aic > 2:
        return Verdict("differs", f"a power of γ fits better (ΔAIC = {delta_aic:.1f})")
    if delta_aic < -2 and ci is not None and ci[1] < 0:
        return Verdict("agrees", f"e^{{−ΔL̄/γ}} fits better (ΔAIC = {delta_aic:.1f}), slope interval < 0")
    return Verdict("inconclusive", f"ΔAIC = {delta_aic:.1f}: the forms are not told apart")


_PAPER_SIGN = {  # §2.5: early, M raises J_L and lowers J_w; γ raises both; at the end M lowers both
    "L_M_early": 1, "w_M_early": -1, "L_gamma_early": 1, "w_gamma_early": 1, "L_M_end": -1, "w_M_end": -1,
}
_TRIVIAL = {"w_gamma_early": 1.0}   # Δw = −νĝ: |Ĵ_w| ∝ ν at fixed B before anything else changes


def claims(res: FluxResults) -> list[Claim]:
    cfg = res.cfg
    last = int(res.steps[-1])
    ours = (f"ours: {cfg.run.dataset}, inputs {cfg.run.normalize}, {cfg.run.steps} iterations (paper: MNIST, "
            f"{ch7.PAPER_STEPS})")
    grid_words = f"grid of {cfg.grid.steps} iterations on {cfg.grid.dataset} (paper: {ch7.PAPER_STEPS}, MNIST)"
    wnorm = (f"|Ĵ_w| over {cfg.n_flux_weights} randomly sampled weights per run, {cfg.n_bins_weight} bins, "
             "normalised by that number (the paper writes 1/N)")
    stated = {"dataset": cfg.run.dataset, "normalize": cfg.run.normalize, "steps": cfg.run.steps,
              "n_flux_weights": cfg.n_flux_weights}
    (lo, hi), (late_lo, late_hi) = ch7.SWITCH_WINDOW, LATE_WINDOW
    out = []
    for name, sym, series in (("loss", "L", res.flux_loss), ("weight", "w", res.flux_weight)):
        pk = peak_times(series, cfg.late_from, cfg.peak_alpha)
        bins = cfg.n_bins_loss if name == "loss" else cfg.n_bins_weight
        norm = wnorm if sym == "w" else f"{bins} log-spaced bins"
        out.append(Claim.judged(
            f"flux.{name}.peak_t", f"|Ĵ_{sym}(t)| peaks at the connectivity transition (Figs 3c–d); {norm}; {ours}",
            "t ~ 100", pk["peak"], "time_in_window",
            detail={"peak": f"argmax of |Ĵ(t)|; window {lo:g} ≤ t ≤ {hi:g}", "peak_of_t_times_J": pk["peak_per_ln_t"],
                    **stated},
            t=pk["peak"], lo=lo, hi=hi, last=last))
        out.append(Claim.judged(
            f"flux.{name}.late_peak_t", f"a second |Ĵ_{sym}| signal at the convergence transition (Figs 3c–d): the interior "
            f"point for t ≥ {cfg.late_from:g} rising most above a power law in t, significantly (level {cfg.peak_alpha:g}, Bonferroni over the window); {norm}; "
            f"{ours}", "t ~ 10⁴", pk["late_peak"], "time_in_window",
            detail={"window": f"{late_lo:g}–{late_hi:g}", "late_excess_sd": pk["late_excess"],
                    "late_peak_of_t_times_J": pk["late_peak_per_ln_t"], **stated},
            t=pk["late_peak"], lo=late_lo, hi=late_hi, last=last))
    for key, entry in res.slopes.items():
        which, var, when = key.split("_")
        t = f"t = {cfg.t_early:g}" if when == "early" else "the end"
        fit = entry["fit"]
        detail = {"fixed": entry["fixed"], **({} if fit is None else fit.as_dict()), "grid_steps": cfg.grid.steps,
                  "n_flux_weights": cfg.n_flux_weights}
        norm = f"; {wnorm}" if which == "w" else ""
        sign = _PAPER_SIGN.get(key)
        if sign is None:      # the final flux against γ (Figs 3n/p): the converged group lower
            br = final_branches(res, which)
            q = "|Ĵ_w|" if which == "w" else "|Ĵ_L|/L̄ (relative to the mean loss)"
            out.append(Claim.judged(
                f"flux.final.converged_lower.J{which}", f"at the end (paper: t = 10⁴–2×10⁵), {q} of converged cells "
                "lies below that of unconverged ones along γ (the lower branch of Figs 3n/p; whether the flux "
                f"branches in γ is not tested){norm}; chapter 7's convergence rule; {grid_words}", "converged lower",
                {k: br[k] for k in ("converged", "unconverged")}, "lower_branch",
                detail={**detail, **br, "slope": _slope(entry)},
                converged=br["converged"], unconverged=br["unconverged"], n_converged=br["n_converged"],
                n_unconverged=br["n_unconverged"], last=cfg.grid.steps, needs=cfg.final_from))
            continue
        ci = None if fit is None else fit.ci()
        triv = _TRIVIAL.get(key, 0.0)
        what = (f"log-log slope of |Ĵ_{which}| against {'M' if var == 'M' else 'γ'} at {t} (Figs 3i–m, o)"
                + (f", beyond the slope {triv:g} that Δw = −νĝ gives alone (i.e. |Ĵ_w|/ν rises with γ)" if triv else ""))
        out.append(Claim.judged(
            f"flux.slope.J{which}_vs_{var}.{when}", f"{what}{norm}; {grid_words}",
            ("> 0" if sign > 0 else "< 0") + (f" (> {triv:g})" if triv else ""), _slope(entry), "slope_sign",
            detail={**detail, "ci95": ci},
            slope=_slope(entry), ci=ci, sign=sign, x_range=None if fit is None else tuple(fit.x_range), trivial=triv,
            last=cfg.grid.steps if when == "end" else None, needs=cfg.final_from if when == "end" else None))
    for which in ("L", "w"):
        col = ch7.collapse_fit(res.cells, lambda c, w=which: _log_early(c, w, cfg.t_early), cfg.grid)
        out.append(Claim.judged(
            f"flux.gamma.collapse.J{which}", f"ν and B act on ln|Ĵ_{which}| at t = {cfg.t_early:g} through γ = ν/B alone "
            f"(Figs 3f/h): k in ln|Ĵ| = f(ln ν − k ln B) is 1, not 0 or ½ (cells compared at equal iteration count)"
            + (f"; {wnorm}" if which == "w" else "") + f"; {grid_words}", "k = 1", col.k, "collapse_k",
            detail=col.as_dict(), k=col.k, ci=col.ci))
    bf = barrier_fits(res, "w")
    inv = bf["inv_gamma"]
    ci = None if inv is None else inv.ci()
    out.append(Claim.judged(
        "flux.barrier.exp_gamma", "near convergence J ∝ e^{−ΔL̄/γ} (§2.5): over converged cells, ln|Ĵ_w| at the end is "
        "linear in 1/γ with a negative slope and fits better than a power of γ (ΔAIC); the marginal weight flux "
        f"stands in for the full flux; {wnorm}; {grid_words}", "slope < 0, e^{−ΔL̄/γ} form",
        None if inv is None else inv.slope, "barrier_form",
        detail={"inv_gamma": None if inv is None else inv.as_dict(),
                "log_gamma": None if bf["log_gamma"] is None else bf["log_gamma"].as_dict(), "ci95": ci,
                "delta_aic": bf["delta_aic"]},
        slope=None if inv is None else inv.slope, ci=ci, delta_aic=bf["delta_aic"], n=bf["n"],
        last=cfg.grid.steps, needs=cfg.final_from))
    tr = mean_rate_tracking(res)
    out.append(Claim("flux.loss.tracks_mean_rate", "|Ĵ_L(t)| against the rate of decrease of the mean loss |dL̄/dt| "
                     "(Spearman over intervals); the ratio |Ĵ_L|/|dL̄/dt| ≥ 1 is what the flux adds", None,
                     {"rho": tr["rho"], "ratio_median": tr["ratio_median"]}, kind="finding", detail=tr))
    a = cfg.curl
    out.append(Claim.judged(
        "flux.toy.detailed_balance", "toy: J_ss = 0 under detailed balance (a = 0), rotational J_ss = a R x p_ss "
        "otherwise (Eqs 4–5)", "J_ss = 0 vs a R x p_ss",
        {"circulation_a0": res.toy[0.0].circulation, "circulation_a": res.toy[a].circulation},
        "detailed_balance", kind="check", detail={"curl": a, "exact_circulation_a": res.toy_exact[a].circulation},
        circ0=res.toy[0.0].circulation, circ=res.toy[a].circulation, exact=res.toy_exact[a].circulation))
    return out


def _log_early(cell, which: str, t: float) -> float:
    v = _at(_series(cell, "flux_loss" if which == "L" else "flux_weight"), t)
    return math.log(v) if np.isfinite(v) and v > 0 else math.nan


def reproduce(profile=None, device=None, progress=True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


# --------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------
def plot_trajectories(res: FluxResults, ax=None):
    """Trajectory ensembles L_k(t) and w_i(t) of randomly chosen samples / weights (Figs 3a–b)."""
    fig, (axs,) = panels(ax, 1, 2, (9, 3.5))
    t = np.maximum(res.steps, 0.5)
    axs[0].loglog(t, np.maximum(res.loss_traj, 1e-9), color="C0", lw=0.3, alpha=0.3)
    axs[0].set_ylabel("per-sample loss L_k (nats)")
    axs[1].semilogx(t, res.weight_traj, color="C1", lw=0.3, alpha=0.3)
    axs[1].set_ylabel("weight w_i")
    for a in axs:
        a.set_xlabel("iteration t (t = 0 drawn at 0.5)")
    return fig


def plot_total_flux(res: FluxResults, ax=None):
    """|Ĵ_L(t)| with |dL̄/dt| (the one-bin flux) and |Ĵ_w(t)| (Figs 3c–d), their peaks dashed, and t·|Ĵ|
    (per unit ln t) on a second axis."""
    fig, (axs,) = panels(ax, 1, 2, (9, 3.5))
    for a, s, name in ((axs[0], res.flux_loss, "|Ĵ_L(t)| (1/iteration)"), (axs[1], res.flux_weight, "|Ĵ_w(t)| (1/iteration)")):
        a.loglog(s.t, s.total, "k.-", label=name.split(" ")[0])
        a.set_ylabel(name)
        a.set_xlabel("iteration t")
        a2 = a.twinx()
        a2.loglog(s.t, s.t * s.total, "C3-", lw=1)
        a2.set_ylabel("t·|Ĵ(t)|", color="C3")
        pk = peak_times(s, res.cfg.late_from)
        for v in (pk["peak"], pk["late_peak"]):
            if v is not None:
                a.axvline(v, color="C3", ls="--", lw=0.8)
    axs[0].loglog(res.mean_rate.t, res.mean_rate.total, "C0:", label="|dL̄/dt| (one bin)")
    axs[0].legend(fontsize=7, loc="lower left")
    return fig


def plot_flux_grid(res: FluxResults, *, which: str = "L", ax=None):
    """|Ĵ(t)| of every grid cell against t, coloured by ln M (left, at the reference ν) and ln γ (right, at the
    reference width; extra batch sizes dashed) — Figs 3e–h."""
    if which not in ("L", "w"):
        raise ValueError(f"which must be 'L' (per-sample losses) or 'w' (weights), got {which!r}")
    key = "flux_loss" if which == "L" else "flux_weight"
    fig, (axs,) = panels(ax, 1, 2, (9, 3.5))
    wc = res.cfg.grid.collapse_width or max(res.cfg.grid.widths)
    for a, var in ((axs[0], "M"), (axs[1], "gamma")):
        sel = [c for c in _slice(res.cells, res.cfg, var) if getattr(c, key) is not None]
        if var == "gamma":
            sel += [c for c in res.cells if not isinstance(c, Failed) and getattr(c, key) is not None
                    and ch7.cell_run(c).width == wc and ch7.cell_run(c).batch_size != res.cfg.grid.batch_size]
        vals = np.log([_xvar(c, var) for c in sel]) if sel else np.array([0.0])
        norm = plt.Normalize(vals.min(), vals.max() + 1e-9)
        for c in sel:
            ls = "-" if ch7.cell_run(c).batch_size == res.cfg.grid.batch_size else "--"
            a.loglog(getattr(c, key).t, getattr(c, key).total, ls, color=plt.cm.viridis(norm(np.log(_xvar(c, var)))), lw=1)
        fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=a, label="ln M" if var == "M" else "ln γ")
        a.set_xlabel("iteration t")
        a.set_ylabel(f"|Ĵ_{which}(t)| (1/iteration)")
        a.set_title(f"ν = {res.cfg.run.lr:g}" if var == "M" else f"width {res.cfg.run.width} (dashed: other B)", fontsize=9)
    return fig


def plot_slopes(res: FluxResults, ax=None):
    """ln|Ĵ| against ln M and ln γ at t = t_early and at the end, with the least-squares lines (Figs 3i–p);
    converged cells (chapter 7's rule) are filled, unconverged hollow."""
    fig, axs = panels(ax, 2, 4, (13, 6))
    thr = ch7.convergence_threshold(res.cells, res.cfg.converged_below)
    for row, when in enumerate(("early", "end")):
        for col, (which, var) in enumerate((("L", "M"), ("L", "gamma"), ("w", "M"), ("w", "gamma"))):
            a = axs[row][col]
            key = "flux_loss" if which == "L" else "flux_weight"
            sel = [c for c in _slice(res.cells, res.cfg, var) if getattr(c, key) is not None]
            x = np.array([_xvar(c, var) for c in sel], float)
            y = np.array([_at(getattr(c, key), res.cfg.t_early) if when == "early" else _end(getattr(c, key)) for c in sel])
            conv = np.array([ch7.is_converged(c, thr) for c in sel], dtype=bool)
            if x.size:
                a.loglog(x[conv], y[conv], "ko")
                a.loglog(x[~conv], y[~conv], "o", mfc="none", color="k")
            fit = res.slopes[f"{which}_{var}_{when}"]["fit"]
            if fit is not None:
                xs = np.array([x.min(), x.max()])
                a.loglog(xs, np.exp(fit.intercept) * xs ** fit.slope, "C3--", label=f"slope {fit.slope:.2f}")
                a.legend(fontsize=7)
            a.xaxis.set_minor_formatter(plt.NullFormatter())
            a.set_xlabel("M (neurons)" if var == "M" else "γ = ν/B")
            a.set_ylabel(f"|Ĵ_{which}| at {'t = %g' % res.cfg.t_early if when == 'early' else 'the end'}")
    return fig


def plot_toy(res: FluxResults, *, curl: float = 1.0, ax=None):
    """The toy's steady flux J_ss (arrows) over U = −ln p_ss (colour), both estimated from trajectories
    (Eqs 4–5), for one of the simulated curl strengths a (``cfg.curls``)."""
    if curl not in res.toy:
        raise ValueError(f"curl a = {curl} was not simulated; choose one of {sorted(res.toy)} (FluxConfig.curls)")
    est = res.toy[curl]
    fig, ax = axes(ax, figsize=(4.8, 4.2))
    c = est.centers
    u = np.where(np.isfinite(est.U), est.U, np.nan)
    im = ax.pcolormesh(c, c, u.T, cmap="magma_r", shading="nearest")
    fig.colorbar(im, ax=ax, label="U = −ln p_ss")
    ax.quiver(c, c, est.Jx.T, est.Jy.T, color="c", scale=None)
    ax.set_aspect("equal")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_title(f"curl a = {curl:g}: circulation {est.circulation:.3f} (exact {res.toy_exact[curl].circulation:.3f})",
                 fontsize=9)
    return fig


def widget_controls(res: FluxResults, cfg: FluxConfig) -> dict:
    """The interactive controls (first value = default): the toy's curl strength; losses or weights in the grid."""
    return {"plot_toy": {"curl": [cfg.curl] + [a for a in sorted(res.toy) if a != cfg.curl]},
            "plot_flux_grid": {"which": ["L", "w"]}}


def _tracking_words(tr: dict) -> str:
    """How |Ĵ_L(t)| follows |dL̄/dt|, in words chosen by the measured Spearman ρ and its p-value."""
    if tr["rho"] is None:
        return "cannot be compared (fewer than three intervals)"
    if tr["p"] >= 0.05:
        return "does not follow it significantly"
    if tr["rho"] < 0:
        return "runs against it (a significant negative rank correlation)"
    return "tracks it closely" if tr["rho"] >= 0.8 else "follows it only partly"


def discussion(res: FluxResults) -> str:
    """The chapter's closing paragraph, every number and every outcome computed from ``res``."""
    cfg = res.cfg
    pl = peak_times(res.flux_loss, cfg.late_from, cfg.peak_alpha)
    pw = peak_times(res.flux_weight, cfg.late_from, cfg.peak_alpha)
    fmt_t = lambda v: "none" if v is None else f"{v:.0f}"  # noqa: E731
    fmt = lambda v: "—" if v is None else f"{v:.2g}"  # noqa: E731
    tr = mean_rate_tracking(res)
    lines = [f"**Peaks.** |Ĵ_L| peaks at t ≈ {fmt_t(pl['peak'])} and |Ĵ_w| at t ≈ {fmt_t(pw['peak'])} (paper: the "
             f"connectivity transition, t ~ 100). Late peaks (t ≥ {cfg.late_from:g}, rising significantly "
             f"above a power law in t): {fmt_t(pl['late_peak'])} (loss) and {fmt_t(pw['late_peak'])} (weights) "
             f"(paper: t ~ 10⁴; this run stops at t = {int(res.steps[-1])}).",
             f"**What the loss flux adds.** Over the intervals, |Ĵ_L(t)| and the rate of the mean loss |dL̄/dt| have "
             f"Spearman ρ = {fmt(tr['rho'])} (p = {fmt(tr['p'])}): the loss flux {_tracking_words(tr)}. The ratio "
             f"|Ĵ_L|/|dL̄/dt| ranges from {fmt(tr['ratio_min'])} to {fmt(tr['ratio_max'])} (largest at t ≈ "
             f"{fmt_t(tr['t_ratio_max'])}); its excess over 1 is flux from samples whose losses rise while the mean "
             "falls, or move faster than it."]
    rows = []
    for key, fit in res.slopes.items():
        sign = _PAPER_SIGN.get(key)
        paper = "converged lower" if sign is None else ("> 0" if sign > 0 else "< 0")
        val = "—" if fit["fit"] is None else f"{fit['fit'].slope:.2f} ({fit['fit'].n} runs, {fit['fixed']})"
        if sign is None:
            br = final_branches(res, key.split("_")[0])
            val += (f"; median final {'|Ĵ_L|/L̄' if key.startswith('L') else '|Ĵ_w|'}: converged "
                    f"{fmt(br['median_converged'])} ({br['n_converged']}) vs unconverged {fmt(br['median_unconverged'])} "
                    f"({br['n_unconverged']})")
        rows.append(f"| {key} | {paper} | {val} |")
    lines.append("**Slopes** of ln|Ĵ| against ln M and ln γ:\n\n| fit | paper | measured |\n|---|---|---|\n" + "\n".join(rows))
    lines.append(f"{len(res.cells)} grid runs of {cfg.grid.steps} iterations"
                 + (f", shorter than the paper's final stage (t ≥ {cfg.final_from:g}): the end-of-training statements are "
                    "not measured" if cfg.grid.steps < cfg.final_from else "")
                 + "; the paper gives signs, not numbers, for these fits, and the box judges each sign on its 95 % interval.")
    t0, t1 = res.toy[0.0], res.toy[cfg.curl]
    lines.append(f"**Toy.** The estimated circulation is {t0.circulation:.3f} under detailed balance (a = 0) and "
                 f"{t1.circulation:.3f} at a = {cfg.curl:g} (exact {res.toy_exact[cfg.curl].circulation:.3f}).")
    return "\n\n".join(lines)
