"""Chapter 5 — scaling of the intervals between large updates (paper 002, Fig 5).

Large updates are the top 0.5 % / 1 % of all |Δw| of a run; for every parameter the steps between its
successive large updates are pooled into one interval distribution, fitted by the paper's
least-squares line on log-binned data and by a binned maximum-likelihood power law with likelihood
ratios.  A time-shuffled null (each parameter keeps its number of events, at random steps) shows
what intervals look like without temporal clustering.
"""
from __future__ import annotations

import dataclasses
import math
import sys

import matplotlib.pyplot as plt
import numpy as np

from critnotes.analysis import intervals
from critnotes.analysis.intervals import IntervalFit, IntervalStats, threshold_for_quantile
from critnotes.book.chapters import summarize
from critnotes.book.plotting import PALETTE, axes
from critnotes.book.profiles import chapter_config
from critnotes.book.results import Claim
from critnotes.book.verdicts import Verdict, close_to, missing, rule
from critnotes.probes.interval_probe import IntervalProbe
from critnotes.probes.update_recorder import UpdateRecorder
from critnotes.training.data import load_dataset
from critnotes.training.loop import TrainConfig, run_data, train

CHAPTER = "interevent"
#: the paper's least-squares exponents (Fig 5 B–C)
PAPER_ALPHA = {"mlp": 2.7, "cnn": 2.5}
#: how close an exponent must be to "approximately 2.7 / 2.5" to count as agreeing
TOLERANCE = 0.3
#: the paper's linear bins: ≈600 steps over its window of 30,000 steps, i.e. a 50th of the window
PAPER_BINS = 50


@dataclasses.dataclass(frozen=True)
class IntereventConfig:
    mlp_model: str = "mlp-medium"       # 784-128-10, ≈10⁵ parameters (Fig 5B)
    mlp_dataset: str = "mnist-10k"
    normalize: str = "pm1"              # input normalisation (paper 002's released code: (x − 0.5)/0.5)
    mlp_steps: int = 30_000             # paper: steps 0–30,000
    cnn_steps: int = 30_000             # 0 → the CNN is skipped
    cnn_dataset: str = "cifar10"        # offline: the labelled stand-in 'cifar10-standin'
    n_train: int | None = None
    lr: float = 0.01
    batch_size: int = 64
    quantiles: tuple[float, ...] = (0.005, 0.01)                 # the paper's top fractions
    extra_quantiles: tuple[float, ...] = (0.001, 0.0025, 0.02, 0.05)   # for the slider
    sub_bits: int = 7                    # 2^7 histogram bins per octave for the quantile pass
    linear_bins: int = PAPER_BINS        # the paper's fit: this many linear bins over the window (600 steps at 30,000)
    ls_min: float = 5.0                  # log-binned least squares: ls_min ≤ τ ≤ ls_max_frac × steps; MLE from ls_min
    ls_max_frac: float = 0.1
    clustering_margin: float = 0.05      # how far the data must exceed the shuffled null to count as clustered
    seed: int = 0


PROFILES = {
    "ci": IntereventConfig(mlp_steps=300, cnn_steps=0, n_train=1000, extra_quantiles=(0.02,)),
    "quick": IntereventConfig(mlp_steps=30_000, cnn_steps=1000),
    "paper": IntereventConfig(mlp_dataset="mnist"),
}


@dataclasses.dataclass(frozen=True)
class LevelFits:
    """One model at one threshold: fits of the data and of the time-shuffled null (its expected histogram)."""

    data: IntervalFit
    null: IntervalFit
    null_counts: np.ndarray


@dataclasses.dataclass
class IntereventResults:
    cfg: IntereventConfig
    models: dict       # "mlp"/"cnn" → {"train": TrainConfig, "dataset", "standin", "stats": IntervalStats}
    fits: dict         # (model, q) → LevelFits

    @property
    def levels(self) -> list[float]:
        return sorted({q for _, q in self.fits})


def model_configs(cfg: IntereventConfig) -> dict:
    """The runs: ``mlp`` always, ``cnn`` when ``cnn_steps > 0`` (on CIFAR-10 or its labelled stand-in)."""
    out = {"mlp": TrainConfig(model=cfg.mlp_model, dataset=cfg.mlp_dataset, lr=cfg.lr, batch_size=cfg.batch_size,
                              steps=cfg.mlp_steps, seed=cfg.seed, n_train=cfg.n_train, normalize=cfg.normalize)}
    if cfg.cnn_steps > 0:
        data = load_dataset(cfg.cnn_dataset, fallback=True)
        out["cnn"] = TrainConfig(model="cnn", dataset=data.name, lr=cfg.lr, batch_size=cfg.batch_size,
                                 steps=cfg.cnn_steps, seed=cfg.seed, n_train=cfg.n_train, normalize=cfg.normalize)
    return out


def run(cfg: IntereventConfig, device=None, progress: bool = True) -> IntereventResults:
    """Two passes per model (quantile, then exact intervals at every level), fits and shuffled nulls."""
    levels = tuple(sorted(set(cfg.quantiles) | set(cfg.extra_quantiles)))
    models, fits = {}, {}
    for name, tcfg in model_configs(cfg).items():
        stats = large_update_intervals(tcfg, levels, sub_bits=cfg.sub_bits, device=device, progress=progress)
        data = run_data(tcfg)
        models[name] = {"train": tcfg, "dataset": data.name, "standin": data.standin, "stats": stats}
        ls_range = (cfg.ls_min, cfg.ls_max_frac * stats.length)
        width = max(1, stats.length // cfg.linear_bins)
        for i, q in enumerate(levels):
            null = intervals.shuffled_null(stats.events_per_param[i], stats.length)
            fits[(name, q)] = LevelFits(intervals.fit_intervals(stats.counts[i], ls_range, linear_width=width),
                                        intervals.fit_intervals(null, ls_range, linear_width=width), null)
    return IntereventResults(cfg, models, fits)


def _what(res: IntereventResults, name: str) -> str:
    m = res.models[name]
    n = m["stats"].n_params
    data = (f"{m['dataset']} (a labelled stand-in: MNIST digits padded to 32×32 and tinted, NOT CIFAR-10)"
            if m["standin"] else m["dataset"])
    return (f"{m['train'].model} ({n:,} parameters) on {data}, inputs {m['train'].normalize!r}, "
            f"steps 0–{m['train'].steps:,}")


def decades(x_range) -> float:
    """Decades spanned by a fit's range ``(lo, hi)``."""
    lo, hi = x_range
    return float(math.log10(hi / lo)) if lo > 0 and hi > lo else 0.0


@rule(agrees=dict(value=2.7, target=2.7, tol=0.3, ci=(2.6, 2.8), decades=1.5),
      differs=dict(value=1.2, target=2.7, tol=0.3, ci=(1.1, 1.3), decades=1.5))
def exponent_on_range(value: float | None, target: float, tol: float, ci=None, decades: float | None = None,
                      at_bound: bool = False, min_decades: float = 1.0) -> Verdict:
    """The paper's exponent ``target ± tol`` (:func:`~critnotes.book.verdicts.close_to` on the 95 % interval),
    ``inconclusive`` when the fit covers less than ``min_decades`` of τ."""
    if not missing(value) and decades is not None and decades < min_decades:
        return Verdict("inconclusive", f"the fit covers {decades:.2g} decades of τ (< {min_decades:g})")
    return close_to(value, target, tol, ci=ci, at_bound=at_bound)


@rule(agrees=dict(b_data=0.6, b_null=0.2, f1_data=0.3, f1_null=0.05),
      differs=dict(b_data=0.2, b_null=0.21, f1_data=0.05, f1_null=0.05))
def clustered(b_data: float | None, b_null: float | None, f1_data: float | None, f1_null: float | None,
              margin: float = 0.05) -> Verdict:
    """Large updates clustered in time beyond what each parameter's own rate explains: the data's
    burstiness exceeds the shuffled null's by more than ``margin`` *and* its share of τ = 1 exceeds the
    null's by more than the factor ``1 + margin`` (``agrees``); neither (``differs``); one only (``inconclusive``)."""
    if missing(b_data, b_null, f1_data, f1_null):
        return Verdict("not measured", "no null comparison")
    burst, ones = b_data - b_null > margin, f1_data > (1 + margin) * f1_null
    if burst and ones:
        return Verdict("agrees", "burstier than the null and more back-to-back large updates")
    if not burst and not ones:
        return Verdict("differs", "the time-shuffled null is as bursty and as back-to-back as the data")
    return Verdict("inconclusive", "burstiness and the share of τ = 1 disagree about clustering")


def claims(res: IntereventResults) -> list[Claim]:
    """Per model and paper threshold: the paper's linear-bin exponent, the MLE exponent and family, the
    log-binned exponent of data and null (a finding), and clustering beyond the shuffled null."""
    out, cfg = [], res.cfg
    for (name, q), f in sorted(res.fits.items()):
        if q not in cfg.quantiles:
            continue
        stats = res.models[name]["stats"]
        i = list(stats.quantiles).index(q)
        d, n, paper = f.data, f.null, PAPER_ALPHA[name]
        tag = f"{name}.top{q * 100:g}pct"
        common = {"dataset": res.models[name]["dataset"], "standin": res.models[name]["standin"],
                  "threshold": stats.thresholds[i], "realised_fraction": stats.realised[i],
                  "n_events": stats.n_events(i), "n_intervals": int(stats.counts[i].sum())}
        lin = d.ls_linear
        out.append(Claim.judged(
            f"{CHAPTER}.alpha_paperfit.{tag}",
            statement=(f"intervals between top-{q * 100:g}% updates: the paper's fit — least squares on log-log "
                       f"points of linear bins of {d.linear_width} steps, τ = {lin.x_range[0]:g}–{lin.x_range[1]:g} "
                       f"— has slope ≈ −{paper} ({_what(res, name)})"),
            paper=paper, measured=-lin.slope, rule="exponent_on_range", value=-lin.slope, target=paper, tol=TOLERANCE,
            ci=(-lin.slope - 1.96 * lin.stderr, -lin.slope + 1.96 * lin.stderr), decades=decades(lin.x_range),
            detail={**common, "tau_range": list(lin.x_range), "r2": lin.r2, "n_bins": lin.n,
                    "null_alpha": -n.ls_linear.slope}))
        mle = d.mle
        out.append(Claim.judged(
            f"{CHAPTER}.alpha_mle.{tag}",
            statement=(f"same intervals, binned maximum-likelihood power law on τ = {mle.xmin + 0.5:g}–{stats.length - 1:,}: "
                       f"exponent ≈ {paper} (95 % interval from the fit's standard error)"),
            paper=paper, measured=mle.alpha, rule="exponent_on_range", value=mle.alpha, target=paper, tol=TOLERANCE,
            ci=(mle.alpha - 1.96 * mle.alpha_se, mle.alpha + 1.96 * mle.alpha_se),
            decades=decades((mle.xmin + 0.5, stats.length - 1)), at_bound=mle.at_bound,
            detail={**common, "alpha_se": mle.alpha_se, "xmin": mle.xmin, "ks": mle.ks, "n_tail": mle.n_tail,
                    "alpha_ks_xmin": d.mle_ks.alpha, "xmin_ks": d.mle_ks.xmin}))
        fav = mle.favoured()
        out.append(Claim.judged(
            f"{CHAPTER}.family.{tag}",
            statement=(f"the intervals from τ ≥ {mle.xmin + 0.5:g} follow a power law: likelihood ratios against "
                       f"log-normal and exponential (Virkar & Clauset)"),
            paper="power law", measured=fav, rule="family", favoured=fav, expected="power_law",
            alternatives=("lognormal", "exponential"), decisive=fav != "undecided",
            detail={"R_vs_lognormal": mle.comparisons["lognormal"], "R_vs_exponential": mle.comparisons["exponential"],
                    "verdict_ks_xmin": d.mle_ks.favoured()}))
        out.append(Claim(
            f"{CHAPTER}.alpha_ls_logbins.{tag}", kind="finding",
            statement=(f"least-squares slope on log bins over τ = {d.ls.x_range[0]:g}–{d.ls.x_range[1]:g}, data and "
                       f"time-shuffled null (a variant of the paper's fit; the null has no temporal clustering)"),
            paper=None, measured={"data": -d.ls.slope, "null": -n.ls.slope},
            detail={"r2": d.ls.r2, "r2_null": n.ls.r2, "decades": decades(d.ls.x_range)}))
        out.append(Claim.judged(
            f"{CHAPTER}.clustered.{tag}",
            statement=("large updates are temporally clustered rather than uniform in time: beyond the tail, the data "
                       "against the time-shuffled null (same events per parameter, random steps) — burstiness and "
                       f"the share of back-to-back intervals τ = 1 (margin {cfg.clustering_margin:g}; the paper has "
                       "no null model)"),
            paper="clustered", measured={"burstiness": d.burstiness, "burstiness_null": n.burstiness,
                                         "frac_tau1": d.frac_one, "frac_tau1_null": n.frac_one},
            rule="clustered", b_data=d.burstiness, b_null=n.burstiness, f1_data=d.frac_one, f1_null=n.frac_one,
            margin=cfg.clustering_margin,
            detail={"mean_interval": d.mean, "mean_interval_null": n.mean,
                    "paperfit_alpha": -d.ls_linear.slope, "paperfit_alpha_null": -n.ls_linear.slope,
                    "mle_alpha_null": n.mle.alpha}))
    if "cnn" not in res.models:
        out.append(Claim.judged(
            f"{CHAPTER}.alpha_paperfit.cnn", statement="CNN intervals (skipped in this profile: cnn_steps = 0)",
            paper=PAPER_ALPHA["cnn"], measured=None, rule="exponent_on_range", value=None,
            target=PAPER_ALPHA["cnn"], tol=TOLERANCE,
            detail={"reason": "cnn_steps = 0 in this profile: the CNN is too slow for it on CPU"}))
    return out


def reproduce(profile=None, device=None, progress=True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


# --------------------------------------------------------------------------------------------------
# figures (each redraws from results; nothing is recomputed)
# --------------------------------------------------------------------------------------------------
def widget_controls(res: IntereventResults, cfg: IntereventConfig) -> dict:
    """The interactive demo's controls (first value = default)."""
    levels = [cfg.quantiles[0]] + [q for q in res.levels if q != cfg.quantiles[0]]
    return {"plot_intervals": {"model": list(res.models), "quantile": levels, "binning": ["linear", "log"],
                               "null": [True, False]},
            "plot_rates": {"quantile": levels}}


def plot_intervals(res: IntereventResults, *, model: str = "mlp", quantile: float = 0.005, binning: str = "linear",
                   null: bool = True, ax=None):
    """Density of the intervals τ between large updates (Fig 5 B–C) with the time-shuffled null:
    ``binning="linear"`` — the paper's linear bins and its least-squares line over the range it covers;
    ``"log"`` — log bins, the log-binned least squares over its range and the MLE power law."""
    if model not in res.models:
        raise ValueError(f"model {model!r} was not run in this profile; choose one of {list(res.models)}")
    if binning not in ("linear", "log"):
        raise ValueError(f"binning must be 'linear' or 'log', got {binning!r}")
    q = min(res.levels, key=lambda v: abs(v - quantile))
    f = res.fits[(model, q)]
    d, n = f.data, f.null
    fig, ax = axes(ax)
    lin = binning == "linear"
    ax.loglog(*((d.x_linear, d.density_linear) if lin else (d.x, d.density)), "o", ms=4, color=PALETTE["stage2"],
              label="data")
    if null:
        ax.loglog(*((n.x_linear, n.density_linear) if lin else (n.x, n.density)), "s", ms=3, mfc="none",
                  color=PALETTE["null"], label=f"time-shuffled null (burstiness {n.burstiness:.2f})")
    ls = d.ls_linear if lin else d.ls
    xs = np.geomspace(*ls.x_range, 20)
    how = f"paper: linear bins of {d.linear_width}" if lin else "log bins"
    ax.loglog(xs, np.exp(ls.intercept) * xs ** ls.slope, "-", color=PALETTE["fit"],
              label=f"least squares ({how}): slope −{-ls.slope:.2f}, τ {ls.x_range[0]:g}–{ls.x_range[1]:g}")
    if not lin:
        mle = d.mle
        at = np.interp(np.log(mle.xmin), np.log(d.x), np.log(d.density))
        xm = np.array([mle.xmin, d.x.max()])
        ax.loglog(xm, np.exp(at) * (xm / mle.xmin) ** -mle.alpha, "--", color=PALETTE["stage1"],
                  label=f"MLE α={mle.alpha:.2f}±{mle.alpha_se:.2f} ({mle.favoured().replace('_', ' ')})")
    ax.set_xlabel("interval τ between large updates (steps)")
    ax.set_ylabel("probability density (1/step)")
    m = res.models[model]
    ax.set_title(f"{m['train'].model}{' [stand-in data]' if m['standin'] else ''}, top {q * 100:g}% "
                 f"(burstiness {d.burstiness:.2f}, τ=1: {d.frac_one:.1%})", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot_fig5(res: IntereventResults, binning: str = "linear"):
    """Fig 5 B–C: every model at the paper's two thresholds."""
    names = list(res.models)
    fig, axs = plt.subplots(len(names), len(res.cfg.quantiles), figsize=(4.6 * len(res.cfg.quantiles),
                            3.8 * len(names)), constrained_layout=True, squeeze=False)
    for i, name in enumerate(names):
        for j, q in enumerate(res.cfg.quantiles):
            plot_intervals(res, model=name, quantile=q, binning=binning, ax=axs[i, j])
    return fig


def plot_levels(res: IntereventResults, ax=None):
    """Fitted exponents (the paper's linear-bin fit and the MLE) against the threshold quantile, data and null."""
    fig, ax = axes(ax)
    qs = np.array(res.levels) * 100
    for k, name in enumerate(res.models):
        col = (PALETTE["stage2"], PALETTE["stage1"])[k]
        ax.semilogx(qs, [-res.fits[(name, q)].data.ls_linear.slope for q in res.levels], "o-", color=col,
                    label=f"{name}: paper's fit (linear bins)")
        ax.semilogx(qs, [res.fits[(name, q)].data.mle.alpha for q in res.levels], "s-", mfc="none", color=col,
                    label=f"{name}: MLE")
        ax.semilogx(qs, [-res.fits[(name, q)].null.ls_linear.slope for q in res.levels], ":", color=PALETTE["null"],
                    label=f"{name}: null, paper's fit")
    for a in PAPER_ALPHA.values():
        ax.axhline(a, color=PALETTE["fit"], lw=0.8, ls="--")
    ax.set_xlabel("threshold: top fraction of |Δw| (%)")
    ax.set_ylabel("interval exponent α")
    ax.legend(fontsize=6)
    return fig


def plot_rates(res: IntereventResults, *, quantile: float = 0.005, ax=None):
    """How many large updates each parameter has (log-log): the heterogeneity of rates that the
    shuffled null keeps, and that alone makes the pooled intervals broad."""
    fig, ax = axes(ax)
    for k, (name, m) in enumerate(res.models.items()):
        st = m["stats"]
        i = int(np.argmin(np.abs(st.quantiles - quantile)))
        e = st.events_per_param[i]
        n = np.flatnonzero(e[1:]) + 1
        ax.loglog(n, e[n] / st.n_params, "o", ms=3, color=(PALETTE["stage2"], PALETTE["stage1"])[k],
                  label=f"{name}: {e[0] / st.n_params:.0%} of parameters have none")
    ax.set_xlabel(f"large updates per parameter (top {quantile * 100:g}%)")
    ax.set_ylabel("fraction of parameters")
    ax.legend(fontsize=7)
    return fig


def fit_table(res: IntereventResults) -> str:
    """One line per model and threshold: θ, realised fraction, events, intervals; the paper's linear-bin fit
    with the τ range it covers, the MLE from its x_min with the likelihood-ratio verdict; burstiness B, share
    of τ = 1 and mean interval — data | time-shuffled null."""
    lines = [f"{'model':5} {'top%':>5} {'theta':>9} {'real%':>6} {'events':>9} {'intervals':>9} "
             f"{'paper a':>7} {'tau range':>13} {'MLE a':>6} {'from':>5} {'verdict':>11} {'B':>5} {'tau=1':>6} "
             f"{'mean':>7} | {'paper a':>7} {'MLE a':>6} {'B':>5} {'tau=1':>6} {'mean':>7}"]
    for (name, q), f in sorted(res.fits.items()):
        st = res.models[name]["stats"]
        i = list(st.quantiles).index(q)
        d, n = f.data, f.null
        rng = f"{d.ls_linear.x_range[0]:g}-{d.ls_linear.x_range[1]:g}"
        lines.append(f"{name:5} {q * 100:>5g} {st.thresholds[i]:>9.3g} {st.realised[i] * 100:>6.3f} "
                     f"{st.n_events(i):>9} {int(st.counts[i].sum()):>9} {-d.ls_linear.slope:>7.2f} {rng:>13} "
                     f"{d.mle.alpha:>6.2f} {d.mle.xmin + 0.5:>5g} {d.mle.favoured():>11} {d.burstiness:>5.2f} "
                     f"{d.frac_one:>6.3f} {d.mean:>7.1f} | {-n.ls_linear.slope:>7.2f} {n.mle.alpha:>6.2f} "
                     f"{n.burstiness:>5.2f} {n.frac_one:>6.3f} {n.mean:>7.1f}")
    return "\n".join(lines)


def large_update_intervals(cfg: TrainConfig, quantiles, window: tuple[int, int] | None = None, *,
                           sub_bits: int = 7, device=None, progress: bool = True) -> IntervalStats:
    """Exact intervals between large updates at each top-``q`` quantile: pass 1 streams the |Δw|
    histogram, pass 2 replays the deterministic run with :class:`IntervalProbe` (both cached)."""
    window = (0, cfg.steps) if window is None else tuple(window)
    rec = UpdateRecorder(windows=(window,), sub_bits=sub_bits)
    first = train(cfg, [rec], device=device, progress=progress)
    if first.diverged:
        raise RuntimeError(f"training diverged at step {first.diverged_step}; intervals are undefined: {cfg}")
    picks = [threshold_for_quantile(first.probes[rec.name], q) for q in quantiles]
    probe = IntervalProbe(thresholds=tuple(th for th, _ in picks), window=window)
    stats = train(cfg, [probe], device=device, progress=progress).probes[probe.name]
    stats.quantiles = np.array(quantiles, dtype=float)
    stats.realised = np.array([f for _, f in picks])
    return stats
