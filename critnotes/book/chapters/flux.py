"""Chapter 8 — marginal probability flux of training and the potential–flux picture (paper 003 §2.5, Fig 3).

The reference run (shared with chapters 6, 7, 9, 10) gives the trajectory ensembles and the total
marginal fluxes |Ĵ_L(t)|, |Ĵ_w(t)|; the (M, γ) grid of the concentration chapter (same configs, so the
same cached trainings) gives the flux–M and flux–γ log-log slopes at t = 20 and at the end.  A 2-D
Langevin toy (:mod:`critnotes.analysis.probability_flux`) shows the steady rotational flux J_ss of Eqs 3–6.
"""
from __future__ import annotations

import dataclasses
import math
import sys

import matplotlib.pyplot as plt
import numpy as np

from critnotes.analysis import fitting
from critnotes.analysis import probability_flux as flux
from critnotes.book.chapters import concentration as ch7
from critnotes.book.chapters import summarize
from critnotes.book.plotting import axes
from critnotes.book.profiles import chapter_config
from critnotes.book.results import Claim
from critnotes.training import cache
from critnotes.training.runs import SHARED_RUN, CriticalRunConfig, critical_run
from critnotes.training.sweeps import Failed, sweep

CHAPTER = "flux"


@dataclasses.dataclass(frozen=True)
class FluxConfig:
    run: CriticalRunConfig = SHARED_RUN["quick"]
    grid: ch7.GridConfig = ch7.PROFILES["quick"].grid     # the concentration chapter's grid (shared cache)
    n_bins_loss: int = 50          # log-spaced bins in L for J(L, t)
    n_bins_weight: int = 100       # linear bins in w for J(w, t)
    t_early: float = 20.0          # Figs 3i–l
    late_from: float = 1000.0      # window of the late flux peak (paper: convergence, t ~ 10⁴)
    n_traj: int = 1000             # trajectories drawn in Figs 3a–b
    b: float = 5e-3                # ΔS settings for the converged/unconverged colouring (chapter 7)
    relative: bool = True
    converged_below: float | None = None   # as chapter 7: None → at the jump of 𝓛_end over the grid
    curl: float = 1.0              # the toy's rotational drift strength a
    toy_D: float = 0.1
    toy_walkers: int = 2000
    toy_steps: int = 3000
    toy_dt: float = 0.01
    toy_bins: int = 24


PROFILES = {
    "ci": FluxConfig(run=SHARED_RUN["ci"], grid=ch7.PROFILES["ci"].grid, n_traj=200, toy_walkers=500,
                     toy_steps=1500),
    "quick": FluxConfig(),
    "paper": FluxConfig(run=SHARED_RUN["paper"], grid=ch7.PROFILES["paper"].grid, late_from=3000.0),
}


@dataclasses.dataclass
class FluxResults:
    cfg: FluxConfig
    steps: np.ndarray
    loss_traj: np.ndarray          # (n_ckpt, n_traj) sampled L_k(t)
    weight_traj: np.ndarray        # (n_ckpt, n_traj) sampled w_i(t)
    flux_loss: dict                # {"t", "total"} |Ĵ_L(t)|
    flux_weight: dict              # {"t", "total"} |Ĵ_w(t)|
    cells: list[dict]
    slopes: dict                   # {"L_M_early": {"fit": fitting.LineFit or None, "fixed": "lr = …"}, ...}
    toy: dict                      # {0.0: estimate, curl: estimate}


def flux_cell(args) -> dict:
    """Total marginal fluxes of one grid cell (cached), with its end-of-training 𝓛 from chapter 7.

    ``args = (CriticalRunConfig, n_bins_loss, n_bins_weight, b, relative)``; module-level for joblib.
    """
    cfg, nb_l, nb_w, b, relative = args

    def compute():
        res = critical_run(cfg, progress=False)
        ls, ws = res.probes["sample_loss"], res.probes["weights"]
        ok = np.all(np.isfinite(ls.losses), axis=1) & np.all(np.isfinite(ws.weights), axis=1)
        n = int(np.argmin(ok)) if not ok.all() else len(ok)     # checkpoints before any non-finite value
        fl = flux.total_flux_series(ls.steps[:n], ls.losses[:n], n_bins=nb_l, log=True) if n >= 2 else None
        fw = flux.total_flux_series(ws.steps[:n], ws.weights[:n], n_bins=nb_w) if n >= 2 else None
        return {"width": cfg.width, "M": cfg.n_neurons, "lr": cfg.lr, "gamma": cfg.gamma,
                "diverged": bool(res.diverged), "flux_loss": fl, "flux_weight": fw}

    out = dict(cache.cached("flux-cell", (cfg, nb_l, nb_w), compute, code=(compute, flux), expect=dict))
    out["final_crit"] = ch7.grid_cell((cfg, b, relative))["final_crit"]
    return out


def _at(series, t):
    return math.nan if series is None else flux.flux_at(series["t"], series["total"], t)


def _end(series):
    return math.nan if series is None else float(series["total"][-1])


def _slope(entry: dict) -> float | None:
    """The slope of one ``FluxResults.slopes`` entry ``{"fit": LineFit | None, "fixed": …}``."""
    return None if entry["fit"] is None else entry["fit"].slope


def _slopes(cells: list[dict], cfg: FluxConfig) -> dict:
    out = {}
    usable = [c for c in cells if not c["diverged"] and c["flux_loss"] is not None]
    for which, key in (("L", "flux_loss"), ("w", "flux_weight")):
        for var, fixed, fixed_val in (("M", "lr", cfg.run.lr), ("gamma", "width", cfg.run.width)):
            sel = [c for c in usable if c[fixed] == fixed_val]
            for when in ("early", "end"):
                y = [_at(c[key], cfg.t_early) if when == "early" else _end(c[key]) for c in sel]
                try:
                    fit = fitting.loglog_fit([c[var] for c in sel], y)
                except ValueError:      # fewer than two usable runs
                    fit = None
                out[f"{which}_{var}_{when}"] = {"fit": fit, "fixed": f"{fixed} = {fixed_val}"}
    return out


def run(cfg: FluxConfig, device=None, progress: bool = True) -> FluxResults:
    res = critical_run(cfg.run, device=device, progress=progress)
    ls, ws = res.probes["sample_loss"], res.probes["weights"]
    rng = np.random.default_rng(0)
    li = rng.choice(ls.losses.shape[1], min(cfg.n_traj, ls.losses.shape[1]), replace=False)
    wi = rng.choice(ws.weights.shape[1], min(cfg.n_traj, ws.weights.shape[1]), replace=False)
    fl = flux.total_flux_series(ls.steps, ls.losses, n_bins=cfg.n_bins_loss, log=True)
    fw = flux.total_flux_series(ws.steps, ws.weights, n_bins=cfg.n_bins_weight)
    args = [(c, cfg.n_bins_loss, cfg.n_bins_weight, cfg.b, cfg.relative) for c in cfg.grid.configs()]
    cells = sweep(flux_cell, args, n_jobs=cfg.grid.n_jobs, desc="(M, γ) grid fluxes", progress=progress)
    cells = [_failed(c) if isinstance(c, Failed) else c for c in cells]
    toy = {a: toy_estimate(cfg, a) for a in (0.0, cfg.curl)}
    return FluxResults(cfg, ls.steps, ls.losses[:, li], ws.weights[:, wi], fl, fw, cells, _slopes(cells, cfg), toy)


def _failed(f: Failed) -> dict:
    c = f.config[0]
    return {"width": c.width, "M": c.n_neurons, "lr": c.lr, "gamma": c.gamma, "diverged": True,
            "flux_loss": None, "flux_weight": None, "final_crit": math.nan, "error": f.error}


def toy_estimate(cfg: FluxConfig, curl: float) -> dict:
    """Simulate the toy at ``curl`` and estimate p_ss, U and J_ss (with the exact J_ss for comparison)."""
    traj = flux.simulate_toy(curl, D=cfg.toy_D, n_walkers=cfg.toy_walkers, n_steps=cfg.toy_steps, dt=cfg.toy_dt)
    est = flux.estimate_toy_flux(traj, cfg.toy_dt, n_bins=cfg.toy_bins)
    est["exact"] = flux.exact_toy_flux(est["centers"], curl, cfg.toy_D)
    est["exact_circulation"] = float(np.sum(np.hypot(est["exact"]["Jx"], est["exact"]["Jy"]))
                                     * (est["centers"][1] - est["centers"][0]) ** 2) * np.sign(curl)
    return est


def peak_times(series: dict, late_from: float) -> dict:
    """Times of the maximum of |Ĵ(t)| (Figs 3c–d) and of its interior maximum for t ≥ ``late_from`` (None if it
    sits at the window's edge); the same for t·|Ĵ(t)|, the flux per unit ln t that a log-time axis shows."""
    t = series["t"]
    out = {}
    for name, j in (("", series["total"]), ("_per_ln_t", series["total"] * t)):
        out["peak" + name] = float(t[int(np.nanargmax(j))])
        late = None
        w = np.flatnonzero(t >= late_from)
        if w.size >= 3:
            k = int(np.nanargmax(j[w]))
            if 0 < k < w.size - 1:
                late = float(t[w[k]])
        out["late_peak" + name] = late
    return out


# --------------------------------------------------------------------------------------------------
# claims
# --------------------------------------------------------------------------------------------------
_PAPER_SIGN = {  # §2.5: early, M raises J_L and lowers J_w; γ raises both; at the end M lowers both
    "L_M_early": 1, "w_M_early": -1, "L_gamma_early": 1, "w_gamma_early": 1, "L_M_end": -1, "w_M_end": -1,
}


def final_branches(res: FluxResults, which: str) -> dict:
    """Median final |Ĵ_which| of converged and of unconverged cells along the γ slice (the Fig 3n/p bifurcation)."""
    key = "flux_loss" if which == "L" else "flux_weight"
    thr = ch7.convergence_threshold(res.cells, res.cfg.converged_below)
    sel = [c for c in res.cells if c["width"] == res.cfg.run.width and c[key] is not None]
    med = lambda cs: float(np.median([_end(c[key]) for c in cs])) if cs else None  # noqa: E731
    return {"converged": med([c for c in sel if ch7.is_converged(c, thr)]),
            "unconverged": med([c for c in sel if not ch7.is_converged(c, thr)]), "threshold": thr}


def claims(res: FluxResults) -> list[Claim]:
    out = []
    for name, sym, series in (("loss", "L", res.flux_loss), ("weight", "w", res.flux_weight)):
        pk = peak_times(series, res.cfg.late_from)
        out.append(Claim(f"flux.{name}.peak_t", f"|Ĵ_{sym}(t)| peaks at the connectivity transition", "t ~ 100",
                         pk["peak"], bool(20 <= pk["peak"] <= 500),
                         {"rule": "argmax of |Ĵ(t)|; agrees if 20 ≤ t ≤ 500", "bins": res.cfg.n_bins_loss
                          if name == "loss" else res.cfg.n_bins_weight, "peak_of_t_times_J": pk["peak_per_ln_t"]}))
        out.append(Claim(f"flux.{name}.late_peak_t", "a second flux signal at the convergence transition",
                         "t ~ 10⁴", pk["late_peak"],
                         (bool(3e3 <= pk["late_peak"] <= 3e4) if pk["late_peak"] is not None
                          else (False if res.steps[-1] >= 3e4 else None)),
                         {"rule": f"interior maximum of |Ĵ(t)| for t ≥ {res.cfg.late_from:g}; agrees if within "
                                  "3×10³–3×10⁴; no maximum counts as 'differs' only if the run passes 3×10⁴",
                          "late_peak_of_t_times_J": pk["late_peak_per_ln_t"], "last_checkpoint": int(res.steps[-1])}))
    for key, fit in res.slopes.items():
        which, var, when = key.split("_")
        sign = _PAPER_SIGN.get(key)
        t = f"t = {res.cfg.t_early:g}" if when == "early" else "the end"
        slope = _slope(fit)
        detail = {"fixed": fit["fixed"], **({} if fit["fit"] is None else fit["fit"].as_dict())}
        if sign is None:      # the final flux against γ: the paper's bifurcation, converged branch lower
            br = final_branches(res, which)
            detail["branches"] = br
            agrees = (None if br["converged"] is None or br["unconverged"] is None
                      else bool(br["converged"] < br["unconverged"]))
            paper = "bifurcates (converged branch lower)"
        else:
            agrees = None if slope is None else bool(np.sign(slope) == sign)
            paper = "> 0" if sign > 0 else "< 0"
        out.append(Claim(f"flux.slope.J{which}_vs_{var}.{when}",
                         f"log-log slope of |Ĵ_{which}| against {'M' if var == 'M' else 'γ'} at {t}",
                         paper, slope, agrees, detail))
    toy0, toy1 = res.toy[0.0], res.toy[res.cfg.curl]
    out.append(Claim("flux.toy.detailed_balance", "J_ss ≈ 0 under detailed balance, rotational otherwise (Eqs 4–5)",
                     "J_ss = 0 vs ≠ 0", {"circulation_a0": toy0["circulation"], "circulation_a": toy1["circulation"]},
                     bool(abs(toy0["circulation"]) < 0.1 * abs(toy1["circulation"])),
                     {"curl": res.cfg.curl, "exact_circulation_a": toy1["exact_circulation"]}))
    return out


def reproduce(profile=None, device=None, progress=True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


# --------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------
def plot_trajectories(res: FluxResults, axs=None):
    """Trajectory ensembles L_k(t) and w_i(t) of randomly chosen samples / weights (Figs 3a–b)."""
    fig, axs = ch7.panels(axs)
    t = np.maximum(res.steps, 0.5)
    axs[0].loglog(t, np.maximum(res.loss_traj, 1e-9), color="C0", lw=0.3, alpha=0.3)
    axs[0].set_ylabel("per-sample loss L_k (nats)")
    axs[1].semilogx(t, res.weight_traj, color="C1", lw=0.3, alpha=0.3)
    axs[1].set_ylabel("weight w_i")
    for a in axs:
        a.set_xlabel("iteration t (t = 0 drawn at 0.5)")
    return fig


def plot_total_flux(res: FluxResults, axs=None):
    """|Ĵ_L(t)| and |Ĵ_w(t)| (Figs 3c–d) with their peaks (dashed), and t·|Ĵ| (per unit ln t) on a second axis."""
    fig, axs = ch7.panels(axs)
    for a, s, name in ((axs[0], res.flux_loss, "|Ĵ_L(t)| (1/iteration)"), (axs[1], res.flux_weight, "|Ĵ_w(t)| (1/iteration)")):
        a.loglog(s["t"], s["total"], "k.-")
        a.set_ylabel(name)
        a.set_xlabel("iteration t")
        a2 = a.twinx()
        a2.loglog(s["t"], s["t"] * s["total"], "C3-", lw=1)
        a2.set_ylabel("t·|Ĵ(t)|", color="C3")
        pk = peak_times(s, res.cfg.late_from)
        for v in (pk["peak"], pk["late_peak"]):
            if v is not None:
                a.axvline(v, color="C3", ls="--", lw=0.8)
    return fig


def plot_flux_grid(res: FluxResults, which: str = "L", axs=None):
    """|Ĵ(t)| of every grid cell against t, coloured by ln M (left, at the reference γ) and ln γ (right, at the
    reference M) — Figs 3e–h."""
    key = "flux_loss" if which == "L" else "flux_weight"
    fig, axs = ch7.panels(axs)
    for a, fixed, val, var in ((axs[0], "lr", res.cfg.run.lr, "M"), (axs[1], "width", res.cfg.run.width, "gamma")):
        sel = [c for c in res.cells if c[fixed] == val and c[key] is not None]
        vals = np.log([c[var] for c in sel]) if sel else np.array([0.0])
        norm = plt.Normalize(vals.min(), vals.max() + 1e-9)
        for c in sel:
            a.loglog(c[key]["t"], c[key]["total"], color=plt.cm.viridis(norm(np.log(c[var]))), lw=1)
        fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=a, label="ln M" if var == "M" else "ln γ")
        a.set_xlabel("iteration t")
        a.set_ylabel(f"|Ĵ_{which}(t)| (1/iteration)")
        a.set_title(f"{fixed} = {val:g}", fontsize=9)
    return fig


def plot_slopes(res: FluxResults, axs=None):
    """ln|Ĵ| against ln M and ln γ at t = t_early and at the end, with the least-squares lines (Figs 3i–p);
    converged cells (chapter 7's rule) are filled, unconverged hollow."""
    if axs is None:
        fig, axs = plt.subplots(2, 4, figsize=(13, 6), constrained_layout=True)
    fig = axs[0][0].figure
    thr = ch7.convergence_threshold(res.cells, res.cfg.converged_below)
    for row, when in enumerate(("early", "end")):
        for col, (which, var) in enumerate((("L", "M"), ("L", "gamma"), ("w", "M"), ("w", "gamma"))):
            a = axs[row][col]
            key = "flux_loss" if which == "L" else "flux_weight"
            fixed, val = ("lr", res.cfg.run.lr) if var == "M" else ("width", res.cfg.run.width)
            sel = [c for c in res.cells if c[fixed] == val and not c["diverged"] and c[key] is not None]
            x = np.array([c[var] for c in sel], float)
            y = np.array([_at(c[key], res.cfg.t_early) if when == "early" else _end(c[key]) for c in sel])
            conv = np.array([ch7.is_converged(c, thr) for c in sel], dtype=bool)
            if x.size:
                a.loglog(x[conv], y[conv], "ko")
                a.loglog(x[~conv], y[~conv], "o", mfc="none", color="k")
            fit = res.slopes[f"{which}_{var}_{when}"]["fit"]
            if fit is not None:
                xs = np.array([x.min(), x.max()])
                a.loglog(xs, 10 ** (np.log10(y[np.isfinite(y) & (y > 0)]).mean()
                                    + fit.slope * (np.log10(xs) - np.log10(x).mean())), "C3--",
                         label=f"slope {fit.slope:.2f}")
                a.legend(fontsize=7)
            a.xaxis.set_minor_formatter(plt.NullFormatter())
            a.set_xlabel("M (neurons)" if var == "M" else "γ = ν/B")
            a.set_ylabel(f"|Ĵ_{which}| at {'t = %g' % res.cfg.t_early if when == 'early' else 'the end'}")
    return fig


def plot_toy(res: FluxResults, curl: float | None = None, ax=None):
    """The toy's steady flux J_ss (arrows) over U = −ln p_ss (colour), both estimated from trajectories
    (Eqs 4–5).  ``curl=None`` uses the stored estimate at ``cfg.curl``; any other value simulates anew."""
    est = res.toy[res.cfg.curl] if curl is None else (res.toy.get(curl) or toy_estimate(res.cfg, curl))
    a = res.cfg.curl if curl is None else curl
    fig, ax = axes(ax, figsize=(4.8, 4.2))
    c = est["centers"]
    u = np.where(np.isfinite(est["U"]), est["U"], np.nan)
    im = ax.pcolormesh(c, c, u.T, cmap="magma_r", shading="nearest")
    fig.colorbar(im, ax=ax, label="U = −ln p_ss")
    ax.quiver(c, c, est["Jx"].T, est["Jy"].T, color="c", scale=None)
    ax.set_aspect("equal")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_title(f"curl a = {a:g}: circulation {est['circulation']:.3f}", fontsize=9)
    return fig


def discussion(res: FluxResults) -> str:
    """The chapter's closing paragraph, every number computed from ``res``."""
    pl, pw = peak_times(res.flux_loss, res.cfg.late_from), peak_times(res.flux_weight, res.cfg.late_from)
    fmt_t = lambda v: "none" if v is None else f"{v:.0f}"  # noqa: E731
    lines = [f"**Peaks.** |Ĵ_L| peaks at t ≈ {fmt_t(pl['peak'])} and |Ĵ_w| at t ≈ {fmt_t(pw['peak'])} (paper: the "
             f"connectivity transition, t ~ 100); late interior maxima (t ≥ {res.cfg.late_from:g}): "
             f"{fmt_t(pl['late_peak'])} and {fmt_t(pw['late_peak'])} (paper: t ~ 10⁴; this run stops at t = {int(res.steps[-1])}). "
             f"Per unit ln t (t·|Ĵ|) the late maxima are at {fmt_t(pl['late_peak_per_ln_t'])} (loss) and "
             f"{fmt_t(pw['late_peak_per_ln_t'])} (weights)."]
    rows = []
    for key, fit in res.slopes.items():
        sign = _PAPER_SIGN.get(key)
        paper = "bifurcation" if sign is None else ("> 0" if sign > 0 else "< 0")
        val = "—" if fit["fit"] is None else f"{fit['fit'].slope:.2f} ({fit['fit'].n} runs, {fit['fixed']})"
        if sign is None:
            br = final_branches(res, key.split("_")[0])
            fmt_b = lambda v: "—" if v is None else f"{v:.2g}"  # noqa: E731
            val += f"; median final flux converged {fmt_b(br['converged'])} vs unconverged {fmt_b(br['unconverged'])}"
        rows.append(f"| {key} | {paper} | {val} |")
    lines.append("**Slopes** of ln|Ĵ| against ln M and ln γ:\n\n| fit | paper | measured |\n|---|---|---|\n" + "\n".join(rows))
    n_agree = sum(1 for k, f in res.slopes.items() if _PAPER_SIGN.get(k) is not None and _slope(f) is not None
                  and np.sign(_slope(f)) == _PAPER_SIGN[k])
    n_sign = sum(1 for k, f in res.slopes.items() if _PAPER_SIGN.get(k) is not None and _slope(f) is not None)
    lines.append(f"{n_agree} of the {n_sign} signs the paper states agree here. With {len(res.cells)} grid runs of "
                 f"{res.cfg.grid.steps} iterations, each slope rests on a handful of points; the paper gives signs, "
                 "not numbers, for these fits.")
    t0, t1 = res.toy[0.0], res.toy[res.cfg.curl]
    lines.append(f"**Toy.** The estimated circulation is {t0['circulation']:.3f} under detailed balance (a = 0) and "
                 f"{t1['circulation']:.3f} at a = {res.cfg.curl:g} (exact {t1['exact_circulation']:.3f}).")
    return "\n\n".join(lines)
