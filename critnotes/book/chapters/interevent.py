"""Chapter 5 — scaling of the intervals between large updates (paper 002, Fig 5).

Large updates are the top 0.5 % / 1 % of all |Δw| of a run; for every parameter the steps between its
successive large updates are pooled into one interval distribution, fitted by the paper's
least-squares line on log-binned data and by a binned maximum-likelihood power law with likelihood
ratios.  A time-shuffled null (each parameter keeps its number of events, at random steps) shows
what intervals look like without temporal clustering.
"""
from __future__ import annotations

import dataclasses
import sys

import matplotlib.pyplot as plt
import numpy as np

from critnotes.analysis import intervals
from critnotes.analysis.intervals import IntervalStats, threshold_for_quantile
from critnotes.book.chapters import summarize
from critnotes.book.plotting import PALETTE, axes
from critnotes.book.profiles import chapter_config
from critnotes.book.results import Claim
from critnotes.probes.interval_probe import IntervalProbe
from critnotes.probes.update_recorder import UpdateRecorder
from critnotes.training.data import load_dataset
from critnotes.training.loop import TrainConfig, run_data, train

CHAPTER = "interevent"
#: the paper's least-squares exponents (Fig 5 B–C)
PAPER_ALPHA = {"mlp": 2.7, "cnn": 2.5}
#: how close an exponent must be to "approximately 2.7 / 2.5" to count as agreeing
TOLERANCE = 0.3


@dataclasses.dataclass(frozen=True)
class IntereventConfig:
    mlp_model: str = "mlp-medium"       # 784-128-10, ≈10⁵ parameters (Fig 5B)
    mlp_steps: int = 30_000             # paper: steps 0–30,000
    cnn_steps: int = 30_000             # 0 → the CNN is skipped
    cnn_dataset: str = "cifar10"        # offline: the labelled stand-in 'cifar10-standin'
    n_train: int | None = None
    lr: float = 0.01
    batch_size: int = 64
    quantiles: tuple[float, ...] = (0.005, 0.01)                 # the paper's top fractions
    extra_quantiles: tuple[float, ...] = (0.001, 0.0025, 0.02, 0.05)   # for the slider
    sub_bits: int = 7                    # 2^7 histogram bins per octave for the quantile pass
    ls_min: float = 5.0                  # least-squares range: ls_min ≤ τ ≤ ls_max_frac × steps
    ls_max_frac: float = 0.1
    seed: int = 0


PROFILES = {
    "ci": IntereventConfig(mlp_steps=300, cnn_steps=0, n_train=1000, extra_quantiles=(0.02,)),
    "quick": IntereventConfig(mlp_steps=30_000, cnn_steps=1000),
    "paper": IntereventConfig(),
}


@dataclasses.dataclass
class IntereventResults:
    cfg: IntereventConfig
    models: dict       # "mlp"/"cnn" → {"train": TrainConfig, "dataset", "standin", "stats": IntervalStats}
    fits: dict         # (model, q) → {"data": fit_intervals(...), "null": fit_intervals(...), "null_counts"}

    @property
    def levels(self) -> list[float]:
        return sorted({q for _, q in self.fits})


def model_configs(cfg: IntereventConfig) -> dict:
    """The runs: ``mlp`` always, ``cnn`` when ``cnn_steps > 0`` (on CIFAR-10 or its labelled stand-in)."""
    out = {"mlp": TrainConfig(model=cfg.mlp_model, lr=cfg.lr, batch_size=cfg.batch_size, steps=cfg.mlp_steps,
                              seed=cfg.seed, n_train=cfg.n_train)}
    if cfg.cnn_steps > 0:
        data = load_dataset(cfg.cnn_dataset, fallback=True)
        out["cnn"] = TrainConfig(model="cnn", dataset=data.name, lr=cfg.lr, batch_size=cfg.batch_size,
                                 steps=cfg.cnn_steps, seed=cfg.seed, n_train=cfg.n_train)
    return out


def run(cfg: IntereventConfig, device=None, progress: bool = True) -> IntereventResults:
    """Two passes per model (quantile, then exact intervals at every level), fits and shuffled nulls."""
    levels = tuple(sorted(set(cfg.quantiles) | set(cfg.extra_quantiles)))
    models, fits = {}, {}
    for name, tcfg in model_configs(cfg).items():
        stats = large_update_intervals(tcfg, levels, sub_bits=cfg.sub_bits, device=device,
                                                 progress=progress)
        data = run_data(tcfg)
        models[name] = {"train": tcfg, "dataset": data.name, "standin": data.standin, "stats": stats}
        ls_range = (cfg.ls_min, cfg.ls_max_frac * stats.length)
        for i, q in enumerate(levels):
            null = intervals.shuffled_null(stats.events_per_param[i], stats.length)
            fits[(name, q)] = {"data": intervals.fit_intervals(stats.counts[i], ls_range),
                               "null": intervals.fit_intervals(null, ls_range), "null_counts": null}
    return IntereventResults(cfg, models, fits)


def _what(res: IntereventResults, name: str) -> str:
    m = res.models[name]
    n = m["stats"].n_params
    data = (f"{m['dataset']} (a labelled stand-in: MNIST digits padded to 32×32 and tinted, NOT CIFAR-10)"
            if m["standin"] else m["dataset"])
    return f"{m['train'].model} ({n:,} parameters) on {data}, steps 0–{m['train'].steps:,}"


def claims(res: IntereventResults) -> list[Claim]:
    out = []
    for (name, q), f in sorted(res.fits.items()):
        if q not in res.cfg.quantiles:
            continue
        stats = res.models[name]["stats"]
        i = list(stats.quantiles).index(q)
        d, n, mle = f["data"], f["null"], f["data"]["mle"]
        common = {"dataset": res.models[name]["dataset"], "standin": res.models[name]["standin"],
                  "threshold": stats.thresholds[i], "realised_fraction": stats.realised[i],
                  "n_events": stats.n_events(i), "n_intervals": int(stats.counts[i].sum())}
        paper = PAPER_ALPHA[name]
        out.append(Claim(
            id=f"{CHAPTER}.alpha_ls.{name}.top{q * 100:g}pct",
            statement=f"intervals between top-{q * 100:g}% updates: least-squares log-log slope ≈ {paper} "
                      f"({_what(res, name)})",
            paper=paper, measured=-d["ls"].slope, agrees=abs(-d["ls"].slope - paper) <= TOLERANCE,
            detail={**common, "ls_range": [res.cfg.ls_min, res.cfg.ls_max_frac * stats.length],
                    "r2": d["ls"].r2, "n_points": d["ls"].n}))
        verdict = mle["favoured"]
        out.append(Claim(
            id=f"{CHAPTER}.alpha_mle.{name}.top{q * 100:g}pct",
            statement=f"same intervals from τ ≥ {res.cfg.ls_min:g}, binned maximum-likelihood power law "
                      f"(exponent ≈ {paper}, not beaten by log-normal/exponential)",
            paper=paper, measured=mle["alpha"],
            agrees=abs(mle["alpha"] - paper) <= TOLERANCE and verdict in ("power_law", "undecided"),
            detail={**common, "alpha_se": mle["alpha_se"], "xmin": mle["xmin"], "ks": mle["ks"],
                    "n_tail": mle["n_tail"], "verdict": verdict,
                    "R_vs_lognormal": mle["comparisons"]["lognormal"],
                    "R_vs_exponential": mle["comparisons"]["exponential"],
                    "alpha_ks_xmin": d["mle_ks"]["alpha"], "xmin_ks": d["mle_ks"]["xmin"],
                    "verdict_ks_xmin": d["mle_ks"]["favoured"]}))
        out.append(Claim(
            id=f"{CHAPTER}.null.{name}.top{q * 100:g}pct",
            statement="time-shuffled null (same events per parameter, random steps): burstiness and LS slope "
                      "of the data vs the null (the paper has no null model)",
            paper=None, measured={"burstiness": d["burstiness"], "burstiness_null": n["burstiness"],
                                  "ls_alpha": -d["ls"].slope, "ls_alpha_null": -n["ls"].slope},
            agrees=None, detail={"mle_alpha_null": n["mle"]["alpha"], "verdict_null": n["mle"]["favoured"]}))
    if "cnn" not in res.models:
        out.append(Claim(id=f"{CHAPTER}.alpha_ls.cnn", statement="CNN intervals (skipped in this profile)",
                         paper=PAPER_ALPHA["cnn"], measured=None, agrees=None,
                         detail={"reason": "cnn_steps = 0 in this profile: the CNN is too slow for it on CPU"}))
    return out


def reproduce(profile=None, device=None, progress=True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


# --------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------
def plot_intervals(res: IntereventResults, model: str = "mlp", quantile: float = 0.005, null: bool = True, ax=None):
    """Log-binned density of the intervals τ between large updates (Fig 5 B–C) with the
    least-squares line over its range, the MLE power law, and the time-shuffled null."""
    if model not in res.models:
        raise ValueError(f"model {model!r} was not run in this profile; choose one of {list(res.models)}")
    q = min(res.levels, key=lambda v: abs(v - quantile))
    f = res.fits[(model, q)]
    fig, ax = axes(ax)
    d = f["data"]
    ax.loglog(d["x"], d["density"], "o", ms=4, color=PALETTE["stage2"], label="data")
    if null:
        ax.loglog(f["null"]["x"], f["null"]["density"], "s", ms=3, mfc="none", color=PALETTE["null"],
                  label=f"time-shuffled null (burstiness {f['null']['burstiness']:.2f})")
    lo, hi = res.cfg.ls_min, res.cfg.ls_max_frac * res.models[model]["stats"].length
    xs = np.geomspace(lo, hi, 20)
    ls = d["ls"]
    ax.loglog(xs, np.exp(ls.intercept) * xs ** ls.slope, "-", color=PALETTE["fit"],
              label=f"least squares: slope −{ls['alpha']:.2f}")
    mle = d["mle"]
    at = np.interp(np.log(mle["xmin"]), np.log(d["x"]), np.log(d["density"]))
    xm = np.array([mle["xmin"], d["x"].max()])
    ax.loglog(xm, np.exp(at) * (xm / mle["xmin"]) ** -mle["alpha"], "--", color=PALETTE["stage1"],
              label=f"MLE α={mle['alpha']:.2f}±{mle['alpha_se']:.2f} ({mle['favoured'].replace('_', ' ')})")
    ax.set_xlabel("interval τ between large updates (steps)")
    ax.set_ylabel("probability density (1/step)")
    m = res.models[model]
    ax.set_title(f"{m['train'].model}{' [stand-in data]' if m['standin'] else ''}, top {q * 100:g}% "
                 f"(burstiness {d['burstiness']:.2f})", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot_fig5(res: IntereventResults):
    """Fig 5 B–C: every model at the paper's two thresholds."""
    names = list(res.models)
    fig, axs = plt.subplots(len(names), len(res.cfg.quantiles), figsize=(4.6 * len(res.cfg.quantiles),
                            3.8 * len(names)), constrained_layout=True, squeeze=False)
    for i, name in enumerate(names):
        for j, q in enumerate(res.cfg.quantiles):
            plot_intervals(res, name, q, ax=axs[i, j])
    return fig


def plot_levels(res: IntereventResults, ax=None):
    """Fitted exponents (least squares and MLE) against the threshold quantile, data and null."""
    fig, ax = axes(ax)
    for k, (name, m) in enumerate(res.models.items()):
        qs = res.levels
        for key, lab, mk in (("ls", "least squares", "o"), ("mle", "MLE", "s")):
            a = [res.fits[(name, q)]["data"][key]["alpha"] for q in qs]
            ax.semilogx(np.array(qs) * 100, a, mk + "-", color=(PALETTE["stage2"], PALETTE["stage1"])[k],
                        mfc="none" if key == "mle" else None, label=f"{name}: {lab}")
        a0 = [-res.fits[(name, q)]["null"]["ls"].slope for q in qs]
        ax.semilogx(np.array(qs) * 100, a0, ":", color=PALETTE["null"], label=f"{name}: null, least squares")
    for name, a in PAPER_ALPHA.items():
        ax.axhline(a, color=PALETTE["fit"], lw=0.8, ls="--")
    ax.set_xlabel("threshold: top fraction of |Δw| (%)")
    ax.set_ylabel("interval exponent α")
    ax.legend(fontsize=6)
    return fig


def plot_rates(res: IntereventResults, quantile: float = 0.005, ax=None):
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
    """One line per model and threshold: θ, realised fraction, events, intervals, LS and MLE (τ ≥ ls_min)
    exponents with the likelihood-ratio verdict, the MLE with KS-chosen x_min, burstiness B — data and
    the shuffled null."""
    lines = [f"{'model':5} {'top%':>5} {'theta':>9} {'real%':>6} {'events':>9} {'intervals':>9} "
             f"{'LS a':>5} {'r2':>5} {'MLE a':>6} {'verdict':>11} {'KS xmin':>7} {'a':>5} {'B':>5} | "
             f"{'null LS a':>9} {'null MLE a':>10} {'null B':>6}"]
    for (name, q), f in sorted(res.fits.items()):
        st = res.models[name]["stats"]
        i = list(st.quantiles).index(q)
        d, n = f["data"], f["null"]
        lines.append(f"{name:5} {q * 100:>5g} {st.thresholds[i]:>9.3g} {st.realised[i] * 100:>6.3f} "
                     f"{st.n_events(i):>9} {int(st.counts[i].sum()):>9} {d['ls']['alpha']:>5.2f} "
                     f"{d['ls']['r2']:>5.3f} {d['mle']['alpha']:>6.2f} {d['mle']['favoured']:>11} "
                     f"{d['mle_ks']['xmin']:>7g} {d['mle_ks']['alpha']:>5.2f} {d['burstiness']:>5.2f} | {n['ls']['alpha']:>9.2f} "
                     f"{n['mle']['alpha']:>10.2f} {n['burstiness']:>6.2f}")
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
