"""Chapter 5 — scaling of the intervals between large updates (paper 002, Fig 5).

Large updates are the top 0.5 % / 1 % of all |Δw| of a run; for every parameter the steps between its
successive large updates are pooled into one interval distribution, fitted by the paper's
least-squares line on log-log data and by a discrete maximum-likelihood power law with the window
factor, both on a restricted range of τ (paper 002 Methods, "Data Fitting"), with likelihood ratios.
A time-shuffled null (each parameter keeps its number of events, at steps drawn from the pooled
event-time profile) shows what intervals look like without temporal clustering.
"""
from __future__ import annotations

import dataclasses
import sys

import matplotlib.pyplot as plt
import numpy as np

from critnotes.analysis import fitting, intervals
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
#: the paper's window (steps 0–30,000) and parameter counts (Fig 5 B–C: "10^5" MLP, "10^4" CNN)
PAPER_STEPS = 30_000
PAPER_PARAMS = {"mlp": "10^5", "cnn": "10^4"}


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
    fit_min: int = 5                     # every exponent is fitted on fit_min ≤ τ ≤ fit_max_frac × steps (away from
    fit_max_frac: float = 0.1            # the window's cutoff), from bins holding >= min_count intervals
    min_count: int = 20
    linear_bins: int = 50                # linear bins over the window for the linear-bin variant (our choice: the
                                         # paper gives no bin width)
    null_draws: int = 1                  # Monte Carlo draws of the time-shuffled null
    seed: int = 0


PROFILES = {
    "ci": IntereventConfig(mlp_steps=300, cnn_steps=0, n_train=1000, extra_quantiles=(0.02,)),
    "quick": IntereventConfig(mlp_steps=30_000, cnn_steps=1000),
    "paper": IntereventConfig(mlp_dataset="mnist"),
    "paper-cpu": IntereventConfig(mlp_dataset="mnist", cnn_steps=0),
}
#: what a profile changes from the paper's settings (stored with each of its results)
PROFILE_DIFFERENCES = {"paper-cpu": (
    "the CNN on CIFAR-10 (Fig 5C) is not run: CIFAR-10 cannot be downloaded here (the labelled stand-in would give "
    "findings only)",
)}


@dataclasses.dataclass(frozen=True)
class LevelFits:
    """One model at one threshold: fits of the data and of the time-shuffled null (its expected histogram)."""

    data: IntervalFit
    null: IntervalFit
    null_counts: np.ndarray
    groups: dict         # per parameter group (index mod N_GROUPS): "burstiness", "frac_one" → (data, null) arrays


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
        fit_range = (cfg.fit_min, cfg.fit_max_frac * stats.length)
        fit = dict(linear_width=max(1, stats.length // cfg.linear_bins), min_count=cfg.min_count)
        for i, q in enumerate(levels):
            g_null = [intervals.profile_null(e, stats.profile[i], seed=cfg.seed + g, draws=cfg.null_draws)
                      for g, e in enumerate(stats.group_events[i])]
            null = np.sum(g_null, axis=0)
            groups = {"burstiness": (np.array([intervals.burstiness(c) for c in stats.group_counts[i]]),
                                     np.array([intervals.burstiness(c) for c in g_null])),
                      "frac_one": (np.array([c[1] / c[1:].sum() for c in stats.group_counts[i]]),
                                   np.array([c[1] / c[1:].sum() for c in g_null]))}
            fits[(name, q)] = LevelFits(intervals.fit_intervals(stats.counts[i], fit_range, **fit),
                                        intervals.fit_intervals(null, fit_range, **fit), null, groups)
    return IntereventResults(cfg, models, fits)


def _what(res: IntereventResults, name: str) -> str:
    m = res.models[name]
    n = m["stats"].n_params
    data = (f"{m['dataset']} (a labelled stand-in: MNIST digits padded to 32×32 and tinted, NOT CIFAR-10)"
            if m["standin"] else m["dataset"])
    return (f"{m['train'].model} ({n:,} parameters; paper: {PAPER_PARAMS[name]}) on {data}, inputs "
            f"{m['train'].normalize!r}, steps 0–{m['train'].steps:,} (paper: 0–{PAPER_STEPS:,})")


def not_comparable(res: IntereventResults, name: str) -> str | None:
    """Why a model's run cannot test the paper's Fig 5 numbers (stand-in data, another window), else None."""
    m = res.models[name]
    why = (["stand-in data, not CIFAR-10"] if m["standin"] else []) + (
        [f"a window of {m['stats'].length:,} steps, not the paper's {PAPER_STEPS:,}"]
        if m["stats"].length != PAPER_STEPS else [])
    return "; ".join(why) or None


@rule(agrees=dict(value=2.7, target=2.7, tol=0.3, ci=(2.6, 2.8), decades=1.5),
      differs=dict(value=1.2, target=2.7, tol=0.3, ci=(1.1, 1.3), decades=1.5))
def exponent_on_range(value: float | None, target: float, tol: float, ci=None, decades: float | None = None,
                      at_bound: bool = False, min_decades: float = 1.0) -> Verdict:
    """The paper's exponent ``target ± tol`` (:func:`~critnotes.book.verdicts.close_to` on the 95 % interval),
    ``inconclusive`` when the fit covers less than ``min_decades`` of τ."""
    if not missing(value) and decades is not None and decades < min_decades:
        return Verdict("inconclusive", f"the fit covers {decades:.2g} decades of τ (< {min_decades:g})")
    return close_to(value, target, tol, ci=ci, at_bound=at_bound)


@rule(agrees=dict(d_burst=0.3, d_burst_ci=(0.2, 0.4), d_one=0.1, d_one_ci=(0.05, 0.15)),
      differs=dict(d_burst=-0.1, d_burst_ci=(-0.15, -0.05), d_one=-0.02, d_one_ci=(-0.03, -0.01)))
def clustered(d_burst: float | None, d_burst_ci, d_one: float | None, d_one_ci) -> Verdict:
    """Large updates clustered in time beyond the time-shuffled null: the data − null differences of the
    burstiness (``d_burst``) and of the share of τ = 1 (``d_one``) with their 95 % intervals over parameter
    groups.  ``agrees`` when both intervals lie above 0, ``differs`` when neither reaches above 0 (the null is
    as bursty and as back-to-back), ``inconclusive`` otherwise."""
    if missing(d_burst, d_one) or d_burst_ci is None or d_one_ci is None:
        return Verdict("not measured", "no null comparison")
    if d_burst_ci[0] > 0 and d_one_ci[0] > 0:
        return Verdict("agrees", "burstier than the null and more back-to-back large updates (95 % intervals > 0)")
    if d_burst_ci[1] <= 0 and d_one_ci[1] <= 0:
        return Verdict("differs", "the time-shuffled null is as bursty and as back-to-back as the data")
    return Verdict("inconclusive", "an interval of a data − null difference includes 0, or the two disagree")


def family_reading(fit, p_threshold: float = 0.1) -> tuple[str, bool]:
    """The paper's contrast on a :func:`~critnotes.analysis.intervals.fit_window_powerlaw` fit: power law against
    random timing (the windowed exponential), ``(favoured, decisive)``; ``"lognormal"`` when the log-normal
    beats the power law significantly (a log-normal with large σ mimics a power law on a finite range, so a
    tie there is not held against it); ``"at_bound"`` for an exponent on its search bound."""
    if fit.at_bound:
        return "at_bound", False
    R_ln, p_ln = fit.comparisons["lognormal"]
    R_ex, p_ex = fit.comparisons["exponential"]
    tie = 1e-6 * max(fit.n_tail, 1)
    if R_ln < 0 and p_ln < p_threshold and abs(R_ln) >= tie:
        return "lognormal", True
    return ("power_law" if R_ex > 0 else "exponential"), bool(p_ex < p_threshold)


def _diff_ci(pair) -> tuple[float, tuple[float, float]]:
    d = pair[0] - pair[1]
    se = float(np.std(d, ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("inf")
    m = float(np.mean(d))
    return m, (m - 1.96 * se, m + 1.96 * se)


def claims(res: IntereventResults) -> list[Claim]:
    """Per model and paper threshold: the least-squares exponent and the MLE exponent on the fit range, the
    power law against random timing, the linear-bin slope (a finding), and clustering beyond the
    time-shuffled null.  Runs that cannot test Fig 5 (stand-in data, a window other than 30,000 steps) give
    findings only."""
    out, cfg = [], res.cfg
    for (name, q), f in sorted(res.fits.items()):
        if q not in cfg.quantiles:
            continue
        stats = res.models[name]["stats"]
        i = list(stats.quantiles).index(q)
        d, n, paper = f.data, f.null, PAPER_ALPHA[name]
        tag = f"{name}.top{q * 100:g}pct"
        lo, hi = d.fit_range
        why = not_comparable(res, name)
        kind_note = f" — a finding, not a test of Fig 5: {why}" if why else ""
        common = {"dataset": res.models[name]["dataset"], "standin": res.models[name]["standin"],
                  "threshold": stats.thresholds[i], "realised_fraction": stats.realised[i],
                  "n_events": stats.n_events(i), "n_intervals": int(stats.counts[i].sum()), "fit_range": [lo, hi]}

        def claim(cid, statement, paper_value, measured, rule_name, detail, **inputs):
            if why:
                return Claim(cid, statement + kind_note, None, measured, kind="finding",
                             detail={**detail, "paper": paper_value, "not_comparable": why})
            return Claim.judged(cid, statement, paper_value, measured, rule_name, detail=detail, **inputs)

        ls, lin = d.ls, d.ls_linear
        out.append(claim(
            f"{CHAPTER}.alpha_paperfit.{tag}",
            (f"intervals between top-{q * 100:g}% updates: least squares on log-log points of log bins inside "
             f"τ = {lo}–{hi} (a tenth of the window; bins with >= {cfg.min_count} intervals, τ = "
             f"{ls.x_range[0]:.3g}–{ls.x_range[1]:.3g}) has slope ≈ −{paper} ({_what(res, name)}; the paper's "
             f"range and bins are not given)"),
            paper, -ls.slope, "exponent_on_range",
            {**common, "tau_range": list(ls.x_range), "r2": ls.r2, "n_bins": ls.n, "null_alpha": -n.ls.slope},
            value=-ls.slope, target=paper, tol=TOLERANCE,
            ci=(-ls.slope - 1.96 * ls.stderr, -ls.slope + 1.96 * ls.stderr), decades=fitting.decades(*ls.x_range)))
        mle = d.mle
        out.append(claim(
            f"{CHAPTER}.alpha_mle.{tag}",
            (f"same intervals, discrete maximum-likelihood power law P(τ) ∝ τ^−α (1 − τ/T) on τ = {lo}–{hi} "
             f"(T = {stats.length:,}-step window): exponent ≈ {paper} (95 % interval from the fit's standard error)"),
            paper, mle.alpha, "exponent_on_range",
            {**common, "alpha_se": mle.alpha_se, "ks": mle.ks, "n_tail": mle.n_tail, "null_alpha": n.mle.alpha},
            value=mle.alpha, target=paper, tol=TOLERANCE, ci=(mle.alpha - 1.96 * mle.alpha_se,
                                                            mle.alpha + 1.96 * mle.alpha_se),
            decades=fitting.decades(lo, hi), at_bound=mle.at_bound))
        fav, decisive = family_reading(mle)
        out.append(claim(
            f"{CHAPTER}.family.{tag}",
            (f"the intervals on τ = {lo}–{hi} follow a power law rather than random timing (exponential), and no "
             f"log-normal fits significantly better; all three with the window factor (1 − τ/T), Vuong tests"),
            "power law", fav if decisive else f"undecided ({fav} ahead)", "family",
            {"R_vs_lognormal": mle.comparisons["lognormal"], "R_vs_exponential": mle.comparisons["exponential"],
             "lognormal": mle.details["lognormal"]},
            favoured=fav, expected="power_law", alternatives=("lognormal", "exponential"), decisive=decisive))
        out.append(Claim(
            f"{CHAPTER}.alpha_linear_bins.{tag}", kind="finding",
            statement=(f"least-squares slope on linear bins of {d.linear_width} steps (our width; the paper's is not "
                       f"given) inside τ = {lo}–{hi}, bins with >= {cfg.min_count} intervals, data and null"),
            paper=None, measured={"data": None if lin is None else -lin.slope,
                                  "null": None if n.ls_linear is None else -n.ls_linear.slope},
            detail={"tau_range": None if lin is None else list(lin.x_range), "n_bins": 0 if lin is None else lin.n}))
        bd, bci = _diff_ci(f.groups["burstiness"])
        od, oci = _diff_ci(f.groups["frac_one"])
        out.append(claim(
            f"{CHAPTER}.clustered.{tag}",
            ("large updates are temporally clustered rather than uniform in time: burstiness and share of "
             "back-to-back intervals τ = 1 above the time-shuffled null (each parameter keeps its number of "
             "events, at steps drawn from the pooled event-time profile, so a changing overall rate is not "
             f"clustering); 95 % intervals over {len(f.groups['burstiness'][0])} parameter groups; the paper "
             "has no null model"),
            "clustered", {"burstiness": d.burstiness, "burstiness_null": n.burstiness,
                          "frac_tau1": d.frac_one, "frac_tau1_null": n.frac_one}, "clustered",
            {"d_burstiness": bd, "d_burstiness_ci": list(bci), "d_frac_tau1": od, "d_frac_tau1_ci": list(oci),
             "mean_interval": d.mean, "mean_interval_null": n.mean, "mle_alpha_null": n.mle.alpha},
            d_burst=bd, d_burst_ci=bci, d_one=od, d_one_ci=oci))
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
    """Density of the intervals τ between large updates (Fig 5 B–C) with the time-shuffled null, on
    ``binning="log"`` or ``"linear"`` bins, with the least-squares line on those bins over the fit range
    (bins with enough intervals) and, on log bins, the windowed MLE power law (dashed)."""
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
    if ls is not None:
        xs = np.geomspace(*ls.x_range, 20)
        how = f"linear bins of {d.linear_width}" if lin else "log bins"
        ax.loglog(xs, np.exp(ls.intercept) * xs ** ls.slope, "-", color=PALETTE["fit"],
                  label=f"least squares ({how}): slope −{-ls.slope:.2f}, τ {ls.x_range[0]:.3g}–{ls.x_range[1]:.3g}")
    if not lin:
        mle, (lo, hi) = d.mle, d.fit_range
        at = np.interp(np.log(lo), np.log(d.x), np.log(d.density))
        xm = np.array([lo, hi])
        fav, decisive = family_reading(mle)
        ax.loglog(xm, np.exp(at) * (xm / lo) ** -mle.alpha, "--", color=PALETTE["stage1"],
                  label=f"MLE α={mle.alpha:.2f}±{mle.alpha_se:.2f} on τ {lo}–{hi} "
                        f"({fav.replace('_', ' ')}{'' if decisive else ', undecided'})")
    for edge in d.fit_range:
        ax.axvline(edge, color=PALETTE["null"], ls=":", lw=0.8)
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
    """Fitted exponents (least squares on log bins and the windowed MLE, both on the fit range) against the
    threshold quantile, data and null."""
    fig, ax = axes(ax)
    qs = np.array(res.levels) * 100
    for k, name in enumerate(res.models):
        col = (PALETTE["stage2"], PALETTE["stage1"])[k]
        ax.semilogx(qs, [-res.fits[(name, q)].data.ls.slope for q in res.levels], "o-", color=col,
                    label=f"{name}: least squares (log bins)")
        ax.semilogx(qs, [res.fits[(name, q)].data.mle.alpha for q in res.levels], "s-", mfc="none", color=col,
                    label=f"{name}: MLE")
        ax.semilogx(qs, [-res.fits[(name, q)].null.ls.slope for q in res.levels], ":", color=PALETTE["null"],
                    label=f"{name}: null, least squares")
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
    """One line per model and threshold: θ, realised fraction, events, intervals; the fit range, the
    least-squares exponent on log bins, the windowed MLE with the power law vs random timing reading;
    burstiness B, share of τ = 1 and mean interval — data | time-shuffled null."""
    lines = [f"{'model':5} {'top%':>5} {'theta':>9} {'real%':>6} {'events':>9} {'intervals':>9} {'fit tau':>9} "
             f"{'LS a':>6} {'MLE a':>6} {'verdict':>11} {'B':>5} {'tau=1':>6} {'mean':>7} | "
             f"{'LS a':>6} {'MLE a':>6} {'B':>5} {'tau=1':>6} {'mean':>7}"]
    for (name, q), f in sorted(res.fits.items()):
        st = res.models[name]["stats"]
        i = list(st.quantiles).index(q)
        d, n = f.data, f.null
        fav, decisive = family_reading(d.mle)
        lines.append(f"{name:5} {q * 100:>5g} {st.thresholds[i]:>9.3g} {st.realised[i] * 100:>6.3f} "
                     f"{st.n_events(i):>9} {int(st.counts[i].sum()):>9} {f'{d.fit_range[0]}-{d.fit_range[1]}':>9} "
                     f"{-d.ls.slope:>6.2f} {d.mle.alpha:>6.2f} {fav if decisive else 'undecided':>11} "
                     f"{d.burstiness:>5.2f} {d.frac_one:>6.3f} {d.mean:>7.1f} | {-n.ls.slope:>6.2f} "
                     f"{n.mle.alpha:>6.2f} {n.burstiness:>5.2f} {n.frac_one:>6.3f} {n.mean:>7.1f}")
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
