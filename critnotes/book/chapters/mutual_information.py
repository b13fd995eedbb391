"""Chapter 3 (`mutual-information`): MI between updates and activations, the directional proxy κ and the
stability of the product MI·κ (paper 002, Fig 3D–E, S9–S12).

Each configuration (lr, batch) is one cached training run of the 5-layer MLP with an
:class:`~critnotes.probes.information_probes.InfoProbe`; everything else is analysis of its record.
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np
import scipy.stats

from critnotes.analysis import fitting
from critnotes.book.chapters import summarize
from critnotes.book.plotting import axes
from critnotes.book.profiles import chapter_config
from critnotes.book.results import Claim
from critnotes.book.verdicts import Verdict, missing, rule, trend as trend_rule
from critnotes.probes.activity import WeightProbe, WeightRecord
from critnotes.probes.information_probes import InfoProbe, InfoRecord
from critnotes.training.loop import TrainConfig, train

CHAPTER = "mutual-information"
PAPER_RHO = {(0.01, 50): 0.94, (0.01, 500): 0.91}


@dataclasses.dataclass(frozen=True)
class MIConfig:
    runs: tuple[tuple[float, int], ...] = ((0.01, 50), (0.01, 500), (0.1, 50))   # (lr, batch) of Fig 3D–E
    model: str = "mlp-small"
    dataset: str = "mnist-10k"
    normalize: str = "pm1"                        # (x − 0.5)/0.5, paper 002's released code
    steps: int = 20_000
    n_train: int | None = None
    windows: tuple[int, ...] = (200, 400)        # PCA window lengths recorded (paper: 200)
    window: int = 200                             # the one the claims use
    mi_every: int = 100
    bins: tuple[int, ...] = (25, 50, 100)
    n_bins: int = 50                              # the binning the claims use
    pairing: str = "post"                         # "post" | "pre" (see InfoProbe)
    magnitude: bool = False                       # signed Δw (paper 002's released mi_gradient.py); True: |Δw|
    deltas: tuple[int, ...] = (1, 2, 5)           # Δ in windows for Fig 3E / S10
    rho_tol: float = 0.1                          # ρ agrees within paper − rho_tol
    drift_bound: float = 0.3                      # ours: |Spearman ρ(P, step)| below which P has no trend
    ttest_level: float = 0.05                     # Fig S11's two-sided one-sample t-test
    n_probe: int = 500
    seed: int = 0


PROFILES = {
    # ci only has to run fast: each window's tail fit costs about a second, so one window length, 600 steps
    "ci": MIConfig(steps=600, n_train=1000, windows=(50,), window=50, mi_every=25,
                   bins=(25, 50), n_bins=50, n_probe=100),
    "quick": MIConfig(),
    # the paper: full MNIST, lr 0.01, batch 50 and 500, steps 0–20,000, 200-step windows (Fig 3D–E)
    "paper": MIConfig(dataset="mnist", windows=(100, 200, 500), bins=(25, 50, 100), n_probe=1000, mi_every=20),
}

#: settings that differ from, or are not stated in, the paper (shown next to the verdicts they may move)
DIFFERENCES = ("pairing, bins and sign as in the paper's released code (scripts/validation/mi_gradient.py: signed "
               "standardised Δw, 50 range bins, each weight paired with its post-synaptic unit's mean activation); "
               "ours: the activations are means over one class-balanced probe batch (released: per-digit means), "
               "biases are included (paired with their unit), the PC is a randomised SVD; the lr 0.1 run is the "
               "paper's own configuration (released label 'r=0.1 bs=50')")


@dataclasses.dataclass
class MIResults:
    cfg: MIConfig
    records: dict[tuple[float, int], InfoRecord]
    accuracy: dict[tuple[float, int], float]
    seconds: dict[tuple[float, int], float]     # training + MI/κ pipeline, per run
    diverged: dict[tuple[float, int], bool]
    first_windows: WeightRecord                 # first run: weights after 0 … 2·window updates (method by hand)


def run(cfg: MIConfig, device=None, progress: bool = True) -> MIResults:
    """One cached training run with an InfoProbe per (lr, batch) configuration; the first also keeps the weights
    of its first two PCA windows (the notebook's method by hand)."""
    if cfg.window not in cfg.windows or cfg.n_bins not in cfg.bins:
        raise ValueError(f"window {cfg.window} must be in windows {cfg.windows} and n_bins {cfg.n_bins} in bins "
                         f"{cfg.bins}")
    recs, acc, secs, div = {}, {}, {}, {}
    probe = InfoProbe(steps=cfg.steps, windows=cfg.windows, mi_every=cfg.mi_every, bins=cfg.bins, n_probe=cfg.n_probe,
                      magnitude=cfg.magnitude, check_bins=cfg.n_bins)
    first = WeightProbe(steps=tuple(range(2 * cfg.window + 1)), name="first_windows")
    for key in cfg.runs:
        res = train(train_config(cfg, key), [probe] + ([first] if key == cfg.runs[0] else []), device=device,
                    progress=progress)
        recs[key], acc[key], secs[key], div[key] = res.probes["info"], res.test_acc, res.seconds, res.diverged
        if key == cfg.runs[0]:
            weights = res.probes["first_windows"]
    return MIResults(cfg, recs, acc, secs, div, weights)


def train_config(cfg: MIConfig, key: tuple[float, int]) -> TrainConfig:
    """The training run of configuration ``key`` = (lr, batch)."""
    lr, b = key
    return TrainConfig(model=cfg.model, dataset=cfg.dataset, normalize=cfg.normalize, lr=lr, batch_size=b,
                       steps=cfg.steps, n_train=cfg.n_train, seed=cfg.seed)


@dataclasses.dataclass(frozen=True)
class Series:
    """Per PCA window j ≥ 1 (Fig 3D–E): end step, κ_j, mean MI over the window's measurements, the product
    P_j = MI_j·κ_j (the α proxy), the entropy of the window's |Δw| in fixed log bins (Fig S12), κ's noise
    (explained variance, σ₂/σ₁), the tail α, and the MI cross-checks (equal-frequency bins; shuffled pairing)."""

    step: np.ndarray
    kappa: np.ndarray
    mi: np.ndarray
    product: np.ndarray
    entropy: np.ndarray
    mi_quantile: np.ndarray
    mi_shuffled: np.ndarray
    explained: np.ndarray
    sv_ratio: np.ndarray
    alpha: np.ndarray
    alpha_at_bound: np.ndarray


def series(rec: InfoRecord, window: int, n_bins: int, pairing: str = "post") -> Series:
    """The :class:`Series` of one window length and binning from a record."""
    ws = rec.kappa[window]
    mi = rec.mi[:, rec.pairings.index(pairing), rec.bins.index(n_bins)]
    t = rec.mi_steps + 1                               # MI measured after update mi_steps

    def window_mean(y):
        return np.array([y[m].mean() if m.any() else np.nan for m in ((t > e - window) & (t <= e) for e in ws.end)])

    mi_w = window_mean(mi)
    return Series(ws.end, ws.kappa, mi_w, mi_w * ws.kappa, ws.entropy, window_mean(rec.mi_quantile),
                  window_mean(rec.mi_shuffled), ws.explained, ws.sv_ratio, ws.alpha, ws.alpha_at_bound)


@dataclasses.dataclass(frozen=True)
class Stability:
    """Fig 3E/S10/S11: P_j against P_{j+Δ}.  ρ measures persistence (a steadily drifting product has ρ near 1,
    a constant product plus noise has ρ near 0), not invariance.  The mean of the differences that the paper's
    t-test (Fig S11) tests is (sum of the last Δ values − sum of the first Δ)/(n − Δ): it only sees the ends."""

    rho: float                   # Spearman ρ of (P_j, P_{j+Δ})
    rho_p: float
    rho_ci: tuple[float, float]  # 95 % Fisher-z interval
    mean_diff: float             # mean of P_{j+Δ} − P_j (Fig S11)
    ttest_p: float               # two-sided one-sample t-test of the differences against 0 (Fig S11)
    n: int


def stability(product: np.ndarray, delta: int) -> Stability:
    """:class:`Stability` of the product series at lag ``delta`` (windows)."""
    p = np.asarray(product, float)
    p = p[np.isfinite(p)]
    a, b = p[:-delta], p[delta:]
    rho, rho_p, ci, n = dataclasses.astuple(fitting.spearman(a, b))
    if n < 3:
        return Stability(rho, rho_p, ci, float("nan"), float("nan"), n)
    return Stability(rho, rho_p, ci, float(np.mean(b - a)), float(scipy.stats.ttest_1samp(b - a, 0.0).pvalue), n)


def trend(step: np.ndarray, y: np.ndarray) -> fitting.RankCorrelation:
    """Spearman ρ of ``y`` over ``step`` (a drift test: a 5σ drift is a significant ρ, not a passed t-test)."""
    return fitting.spearman(step, y)


def partial_spearman(x, y, z) -> fitting.RankCorrelation:
    """Spearman ρ of ``x`` and ``y`` controlling for ``z`` (Pearson ρ of the rank residuals after a linear fit on
    rank z), p-value from t with n − 3 degrees of freedom and a 95 % Fisher-z interval: two series that both
    trend with the step are not correlated beyond that shared trend."""
    x, y, z = (np.asarray(v, float) for v in (x, y, z))
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(z)
    n = int(ok.sum())
    nan = float("nan")
    if n < 5:
        return fitting.RankCorrelation(nan, nan, (nan, nan), n)
    rx, ry, rz = (scipy.stats.rankdata(v[ok]) for v in (x, y, z))
    res = [r - np.polyval(np.polyfit(rz, r, 1), rz) for r in (rx, ry)]
    if min(np.ptp(r) for r in res) == 0:
        return fitting.RankCorrelation(nan, nan, (nan, nan), n)
    rho = float(np.corrcoef(*res)[0, 1])
    t = rho * np.sqrt((n - 3) / max(1e-300, 1 - rho ** 2))
    zf, h = np.arctanh(np.clip(rho, -0.999999, 0.999999)), 1.96 / np.sqrt(n - 4) if n > 4 else np.inf
    return fitting.RankCorrelation(rho, float(2 * scipy.stats.t.sf(abs(t), n - 3)),
                                   (float(np.tanh(zf - h)), float(np.tanh(zf + h))), n)


@rule(agrees=dict(p=0.6, n=50), differs=dict(p=1e-4, n=50))
def no_mean_shift(p: float | None, n: int, level: float = 0.05, min_n: int = 5) -> Verdict:
    """Fig S11's test: a two-sided one-sample t-test of the differences P(t+Δ) − P(t) against 0 finds no
    significant deviation (``agrees`` when p ≥ ``level``); with fewer than ``min_n`` differences ``inconclusive``."""
    if missing(p):
        return Verdict("not measured", "no differences")
    if n < min_n:
        return Verdict("inconclusive", f"only {n} differences (< {min_n})")
    if p >= level:
        return Verdict("agrees", f"no significant mean difference (p = {p:.2g} ≥ {level:g})")
    return Verdict("differs", f"significant mean difference (p = {p:.2g} < {level:g})")


@rule(agrees=dict(rho=0.9, p=1e-6, rho_check=0.8, p_check=1e-4, sign=+1),
      differs=dict(rho=-0.8, p=1e-5, rho_check=-0.7, p_check=1e-3, sign=+1))
def trend_cross_checked(rho: float | None, p: float | None, rho_check: float | None, p_check: float | None,
                        sign: int) -> Verdict:
    """:func:`~critnotes.book.verdicts.trend` of the main estimate, kept only when the cross-check estimate
    (equal-frequency bins) gives the same verdict; otherwise ``inconclusive`` (the verdict rests on the binning)."""
    v, c = trend_rule(rho, p, sign), trend_rule(rho_check, p_check, sign)
    if v.verdict == c.verdict:
        return Verdict(v.verdict, v.reason + "; equal-frequency bins agree")
    return Verdict("inconclusive", f"range bins say {v.verdict}, equal-frequency bins say {c.verdict}")


def _name(key) -> str:
    return f"lr{key[0]:g}.b{key[1]}"


def _halves(step, y) -> tuple[float, float]:
    """Spearman ρ(y, step) over the first and the second half of the windows."""
    h = len(step) // 2
    return fitting.spearman(step[:h], y[:h]).rho, fitting.spearman(step[h:], y[h:]).rho


def claims(res: MIResults) -> list[Claim]:
    """Per run: ρ of P at t vs t+Δ (Fig 3E/S10), the paper's t-test of the differences (S11) and our stricter
    trend bound; MI and κ trends (Fig 3D, lr 0.01 runs); the tail α against MI·κ beyond their shared trend;
    findings: MI against the window entropy (S12), κ's noise, and the lr 0.1 run's MI and κ trends."""
    cfg, out = res.cfg, []
    sign = "|Δw|" if cfg.magnitude else "signed Δw"
    setting = (f"{cfg.dataset}{'' if cfg.dataset == 'mnist' else ' (paper: full MNIST)'}, inputs '{cfg.normalize}', "
               f"steps 0–{cfg.steps:,} (paper: 0–20,000), MI of {sign} with {cfg.n_bins} bins, {cfg.window}-step "
               f"windows (paper: 200); differences from the paper: {DIFFERENCES}")
    rho_lo = min(PAPER_RHO.values()) - cfg.rho_tol
    for key, rec in res.records.items():
        s = series(rec, cfg.window, cfg.n_bins, cfg.pairing)
        common = {"window": cfg.window, "bins": cfg.n_bins, "pairing": cfg.pairing, "steps": cfg.steps,
                  "magnitude": cfg.magnitude, "test_acc": res.accuracy[key], "run_seconds": res.seconds[key],
                  "diverged": res.diverged[key], "note": DIFFERENCES}
        st = stability(s.product, 1)
        other = {f"delta{d}": dataclasses.asdict(stability(s.product, d)) for d in cfg.deltas}
        paper, name, run_s = PAPER_RHO.get(key), _name(key), f"lr {key[0]}, batch {key[1]}"
        fig3d = paper is not None                    # Fig 3D–E are the lr 0.01 runs; lr 0.1 is Fig S10–S11
        detail = {**dataclasses.asdict(st), **common, "other_deltas": other}
        persistence = "ρ measures persistence of P between adjacent windows, not that P is invariant"
        if fig3d:
            out.append(Claim.judged(f"mutual-information.rho.{name}", f"Spearman ρ of MI·κ at t vs t+Δ, Δ = 1 window "
                                    f"(Fig 3E; {run_s}; {setting}); agrees within paper − {cfg.rho_tol:g}; "
                                    f"{persistence}", paper, st.rho, "in_range", detail=detail, value=st.rho,
                                    lo=paper - cfg.rho_tol, hi=1.0, ci=st.rho_ci))
        else:
            out.append(Claim.judged(f"mutual-information.rho.{name}", f"'similar results' for the paper's lr 0.1 "
                                    f"run (Fig S10; {run_s}; {setting}): Spearman ρ of MI·κ at t vs t+Δ, Δ = 1 "
                                    f"window, at least the smaller Fig 3E value − {cfg.rho_tol:g}; {persistence}",
                                    f"similar to {min(PAPER_RHO.values()):g}–{max(PAPER_RHO.values()):g}", st.rho,
                                    "in_range", detail=detail, value=st.rho, lo=rho_lo, hi=1.0, ci=st.rho_ci))
        out.append(Claim.judged(f"mutual-information.s11_ttest.{name}", "no significant deviation of MI·κ(t+Δ) − "
                                f"MI·κ(t) from zero (Fig S11's two-sided one-sample t-test, Δ = 1 window, p ≥ "
                                f"{cfg.ttest_level:g}; {run_s}; {setting}) — a near-tautology: the mean difference is "
                                "(P_last − P_first) over the number of differences, so even a steady drift rarely "
                                "fails it", "p > 0.05",
                                st.ttest_p, "no_mean_shift", detail=detail, p=st.ttest_p, n=st.n,
                                level=cfg.ttest_level))
        tp = trend(s.step, s.product)
        out.append(Claim.judged(f"mutual-information.no_trend.{name}", "MI·κ approximately invariant over training "
                                f"(Fig 3E/S11; {run_s}; {setting}), our stricter reading: Spearman ρ(P, step) within "
                                f"±{cfg.drift_bound:g} (the bound is ours, not the paper's)", 0.0, tp.rho, "in_range",
                                detail={**dataclasses.asdict(tp), **common}, value=tp.rho, lo=-cfg.drift_bound,
                                hi=cfg.drift_bound, ci=tp.ci))
        tm, tk, tq = trend(s.step, s.mi), trend(s.step, s.kappa), trend(s.step, s.mi_quantile)
        mi_detail = {**dataclasses.asdict(tm), "equal_frequency_bins": dataclasses.asdict(tq),
                     "mi_window_mean": float(np.nanmean(s.mi)),
                     "mi_shuffled_pairing_mean": float(np.nanmean(s.mi_shuffled)), **common}
        if fig3d:
            out.append(Claim.judged(f"mutual-information.mi_trend.{name}", f"MI between {sign} and activations "
                                    f"increases over training (Fig 3D; {run_s}; {setting}); Spearman ρ(MI, step), kept only if "
                                    "equal-frequency bins give the same verdict", "increases", tm.rho,
                                    "trend_cross_checked", detail=mi_detail, rho=tm.rho, p=tm.p, rho_check=tq.rho,
                                    p_check=tq.p, sign=+1))
            out.append(Claim.judged(f"mutual-information.kappa_trend.{name}", "directional proxy κ declines over "
                                    f"training (Fig 3D; {run_s}; {setting}); Spearman ρ(κ, step)", "declines", tk.rho, "trend",
                                    detail={**dataclasses.asdict(tk), **common}, rho=tk.rho, p=tk.p, sign=-1))
        else:
            out.append(Claim(f"mutual-information.mi_trend.{name}", f"Spearman ρ(MI, step) of the paper's lr 0.1 run "
                             f"({run_s}; Fig 3D's 'MI increases' is stated for lr 0.01)", None, tm.rho,
                             kind="finding", detail=mi_detail))
            out.append(Claim(f"mutual-information.kappa_trend.{name}", f"Spearman ρ(κ, step) of the paper's lr 0.1 "
                             f"run ({run_s}; Fig 3D's 'κ declines' is stated for lr 0.01)", None, tk.rho,
                             kind="finding", detail={**dataclasses.asdict(tk), **common}))
        th = trend(s.step, s.entropy)
        h_early, h_late = _halves(s.step, s.entropy)
        mi_early, mi_late = _halves(s.step, s.mi)
        out.append(Claim(f"mutual-information.mi_vs_entropy.{name}", "Fig S12 (no statistic in the paper: H 'increased "
                         "initially but later stabilizes', MI rises and saturates): Spearman ρ(H, step) and ρ(MI, step) "
                         f"over the first and second half of training ({run_s}); H is the entropy of each window's |Δw| "
                         "in fixed global log bins, independent of the MI's bins", None,
                         {"h_rho_early": h_early, "h_rho_late": h_late, "mi_rho_early": mi_early,
                          "mi_rho_late": mi_late}, kind="finding",
                         detail={"h_trend": dataclasses.asdict(th),
                                 "rho_mi_h": fitting.spearman(s.mi, s.entropy).rho, **common}))
        ok = ~s.alpha_at_bound
        pa = partial_spearman(s.product[ok], s.alpha[ok], s.step[ok])
        out.append(Claim.judged(f"mutual-information.alpha_vs_product.{name}", "our test of the theory's prediction "
                                "α = λκ with λ increasing in MI (the paper: α 'cannot be directly estimated'): the "
                                f"per-entry tail exponent α_j of window j's |Δw| rises with MI·κ beyond their shared "
                                f"trend with the step ({run_s}; {setting}); partial Spearman ρ(α_j, P_j | step)", "positive",
                                pa.rho, "trend", detail={**dataclasses.asdict(pa), "plain_spearman":
                                                         fitting.spearman(s.product[ok], s.alpha[ok]).rho,
                                                         "n_alpha_at_bound": int((~ok).sum()), **common},
                                rho=pa.rho, p=pa.p, sign=+1))
        out.append(Claim(f"mutual-information.kappa_noise.{name}", f"how well the leading PC of each window is "
                         f"defined ({run_s}): median explained-variance ratio and median σ₂/σ₁", None,
                         {"explained": float(np.nanmedian(s.explained)), "sv_ratio": float(np.nanmedian(s.sv_ratio)),
                          "median_kappa": float(np.nanmedian(s.kappa))}, kind="finding",
                         detail={"explained_iqr": [float(q) for q in np.nanquantile(s.explained, [0.25, 0.75])],
                                 "sv_ratio_iqr": [float(q) for q in np.nanquantile(s.sv_ratio, [0.25, 0.75])],
                                 **common}))
    return out


def reproduce(profile=None, device=None, progress: bool = True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


def widget_controls(res: MIResults, cfg: MIConfig) -> dict[str, dict[str, list]]:
    """The controls of the chapter's interactive figures (first value = default)."""
    runs, wins = run_names(res), [cfg.window] + [w for w in cfg.windows if w != cfg.window]
    bins = [cfg.n_bins] + [b for b in cfg.bins if b != cfg.n_bins]
    pair = [cfg.pairing] + [p for p in res.records[next(iter(res.records))].pairings if p != cfg.pairing]
    return {"plot_product": {"run": runs, "window": wins, "delta": list(cfg.deltas), "n_bins": bins, "pairing": pair},
            "plot_mi_kappa": {"run": runs, "window": wins, "n_bins": bins, "pairing": pair},
            "plot_differences": {"run": runs, "window": wins, "delta": list(cfg.deltas)},
            "plot_alpha_vs_product": {"run": runs, "window": wins, "n_bins": bins},
            "plot_bins_sensitivity": {"run": runs, "pairing": pair},
            "plot_entropy_vs_mi": {"run": runs, "n_bins": bins}}


# ------------------------------------------------------------------ figures

def _key(res: MIResults, run: str | tuple) -> tuple:
    if isinstance(run, tuple):
        return run
    for key in res.records:
        if _name(key) == run:
            return key
    raise ValueError(f"unknown run {run!r}; choose one of {[_name(k) for k in res.records]}")


def run_names(res: MIResults) -> list[str]:
    """Names of the runs (``lr0.01.b50`` …) for widgets."""
    return [_name(k) for k in res.records]


def _dw(res: MIResults) -> str:
    return "|Δw|" if res.cfg.magnitude else "Δw"


def _series(res, run, window=None, n_bins=None, pairing=None) -> Series:
    cfg = res.cfg
    return series(res.records[_key(res, run)], window or cfg.window, n_bins or cfg.n_bins, pairing or cfg.pairing)


def plot_mi_kappa(res: MIResults, *, run: str = "lr0.01.b50", window: int | None = None, n_bins: int | None = None,
                  pairing: str | None = None, ax=None):
    """Fig 3D: MI (red, left axis) and κ (blue, right axis) per PCA window over training."""
    fig, ax = axes(ax, figsize=(6, 3.5))
    s = _series(res, run, window, n_bins, pairing)
    ax.plot(s.step, s.mi, color="#d62828", label="MI")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"MI({_dw(res)}; a) (nats)", color="#d62828")
    ax2 = ax.twinx()
    ax2.plot(s.step, s.kappa, color="#1d4e89", label="κ")
    ax2.set_ylabel("κ = |cos(PC_j−1, PC_j)|", color="#1d4e89")
    ax.set_title(f"{_name(_key(res, run))}, window {window or res.cfg.window}")
    return fig


def plot_product(res: MIResults, *, run: str = "lr0.01.b50", window: int | None = None, delta: int = 1,
                 n_bins: int | None = None, pairing: str | None = None, ax=None):
    """Fig 3E/S10: MI·κ at window j vs j+Δ, coloured by training step, with the identity line."""
    fig, ax = axes(ax)
    s = _series(res, run, window, n_bins, pairing)
    p, st = s.product, stability(s.product, delta)
    sc = ax.scatter(p[:-delta], p[delta:], c=s.step[:-delta], cmap="viridis_r", s=12)
    if np.isfinite(p).any():
        lo, hi = np.nanmin(p), np.nanmax(p)
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel("MI·κ at t (nats)")
    ax.set_ylabel(f"MI·κ at t + {delta}×{window or res.cfg.window} steps (nats)")
    ax.set_title(f"{_name(_key(res, run))}: ρ={st.rho:.2f} (persistence, not invariance)")
    fig.colorbar(sc, ax=ax, label="training step t")
    return fig


def plot_differences(res: MIResults, *, run: str = "lr0.01.b50", window: int | None = None, delta: int = 1, ax=None):
    """Fig S11: the differences P(t+Δ) − P(t) over training (a drift shows as a trend of P, not as a shifted
    mean of the differences)."""
    fig, ax = axes(ax)
    s = _series(res, run, window)
    d = s.product[delta:] - s.product[:-delta]
    ax.plot(s.step[delta:], d, ".", ms=5, label="P(t+Δ) − P(t)")
    ax.axhline(0, color="k", lw=0.8, ls=":")
    tp = trend(s.step, s.product)
    ax.set_xlabel("training step t + Δ")
    ax.set_ylabel("difference of MI·κ (nats)")
    ax.set_title(f"{_name(_key(res, run))}, Δ={delta}: t-test p={stability(s.product, delta).ttest_p:.2g}, "
                 f"trend of P ρ={tp.rho:.2f}")
    ax.legend(fontsize=7)
    return fig


def plot_alpha_vs_product(res: MIResults, *, run: str = "lr0.01.b50", window: int | None = None,
                          n_bins: int | None = None, ax=None):
    """The direct test: tail exponent α of each window's |Δw| against the window's MI·κ (windows whose α
    fit sits on its search bound are drawn hollow)."""
    fig, ax = axes(ax)
    s = _series(res, run, window, n_bins)
    ok = ~s.alpha_at_bound
    sc = ax.scatter(s.product[ok], s.alpha[ok], c=s.step[ok], cmap="viridis_r", s=14)
    ax.scatter(s.product[~ok], s.alpha[~ok], facecolors="none", edgecolors="grey", s=14, label="α on its bound")
    ax.set_xlabel("MI·κ of the window (nats)")
    ax.set_ylabel("tail exponent α of the window's |Δw|")
    pa = partial_spearman(s.product[ok], s.alpha[ok], s.step[ok])
    ax.set_title(f"{_name(_key(res, run))}: partial ρ(α, P | step) = {pa.rho:.2f}")
    fig.colorbar(sc, ax=ax, label="training step")
    if (~ok).any():
        ax.legend(fontsize=7)
    return fig


def plot_bins_sensitivity(res: MIResults, *, run: str = "lr0.01.b50", pairing: str | None = None, ax=None):
    """MI over training for every recorded bin count (the estimator's binning sensitivity, Fig S9)."""
    fig, ax = axes(ax)
    rec = res.records[_key(res, run)]
    j = rec.pairings.index(pairing or res.cfg.pairing)
    for i, b in enumerate(rec.bins):
        ax.plot(rec.mi_steps + 1, rec.mi[:, j, i], lw=1, label=f"{b} bins")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"MI({_dw(res)}; a) (nats)")
    ax.set_title(f"{_name(_key(res, run))}, pairing '{pairing or res.cfg.pairing}'")
    ax.legend(fontsize=7)
    return fig


def plot_entropy_vs_mi(res: MIResults, *, run: str = "lr0.01.b50", n_bins: int | None = None, ax=None):
    """Fig S12: entropy of each window's |Δw| (fixed global log bins) and MI over training (left), and against
    each other, one point per PCA window (right)."""
    import matplotlib.pyplot as plt

    s = _series(res, run, None, n_bins)
    if ax is None:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    else:
        fig, a2 = ax.figure, ax
        a1 = None
    if a1 is not None:
        a1.plot(s.step, s.entropy, color="#2a9d8f", label="H(|Δw|)")
        a1.set_xlabel("training step")
        a1.set_ylabel("H(|Δw|), log bins (nats)", color="#2a9d8f")
        b1 = a1.twinx()
        b1.plot(s.step, s.mi, color="#d62828")
        b1.set_ylabel("MI (nats)", color="#d62828")
    sc = a2.scatter(s.mi, s.entropy, c=s.step, cmap="viridis_r", s=12)
    a2.set_xlabel(f"MI({_dw(res)}; a) (nats)")
    a2.set_ylabel("H(|Δw|), log bins (nats)")
    a2.set_title(_name(_key(res, run)))
    fig.colorbar(sc, ax=a2, label="training step")
    return fig
