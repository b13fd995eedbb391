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

from critnotes.book.chapters import summarize
from critnotes.book.plotting import axes
from critnotes.book.profiles import chapter_config
from critnotes.book.results import Claim
from critnotes.probes.information_probes import InfoProbe, InfoRecord
from critnotes.training.loop import TrainConfig, train

CHAPTER = "mutual-information"
PAPER_RHO = {(0.01, 50): 0.94, (0.01, 500): 0.91}


@dataclasses.dataclass(frozen=True)
class MIConfig:
    runs: tuple[tuple[float, int], ...] = ((0.01, 50), (0.01, 500), (0.1, 50))   # (lr, batch) of Fig 3D
    model: str = "mlp-small"
    steps: int = 20_000
    n_train: int | None = None
    windows: tuple[int, ...] = (200, 400)        # PCA window lengths recorded (paper: 200)
    window: int = 200                             # the one the claims use
    mi_every: int = 100
    bins: tuple[int, ...] = (16, 32, 64)
    n_bins: int = 32                              # the binning the claims use
    pairing: str = "post"                         # "post" | "pre" (see InfoProbe)
    deltas: tuple[int, ...] = (1, 2, 5)           # Δ in windows for Fig 3E / S10
    n_probe: int = 500
    seed: int = 0


PROFILES = {
    "ci": MIConfig(steps=800, n_train=1000, windows=(50, 100), window=50, mi_every=25, bins=(16, 32),
                   n_bins=32, n_probe=100),
    "quick": MIConfig(),
    "paper": MIConfig(windows=(100, 200, 500), bins=(16, 32, 64, 128), n_probe=1000, mi_every=20),
}


@dataclasses.dataclass
class MIResults:
    cfg: MIConfig
    records: dict[tuple[float, int], InfoRecord]
    accuracy: dict[tuple[float, int], float]
    seconds: dict[tuple[float, int], float]     # training + MI/κ pipeline, per run
    diverged: dict[tuple[float, int], bool]


def run(cfg: MIConfig, device=None, progress: bool = True) -> MIResults:
    """One cached training run with an InfoProbe per (lr, batch) configuration."""
    if cfg.window not in cfg.windows or cfg.n_bins not in cfg.bins:
        raise ValueError(f"window {cfg.window} must be in windows {cfg.windows} and n_bins {cfg.n_bins} in bins "
                         f"{cfg.bins}")
    recs, acc, secs, div = {}, {}, {}, {}
    probe = InfoProbe(steps=cfg.steps, windows=cfg.windows, mi_every=cfg.mi_every, bins=cfg.bins, n_probe=cfg.n_probe)
    for lr, b in cfg.runs:
        res = train(TrainConfig(model=cfg.model, lr=lr, batch_size=b, steps=cfg.steps, n_train=cfg.n_train,
                                seed=cfg.seed), [probe], device=device, progress=progress)
        key = (lr, b)
        recs[key], acc[key], secs[key], div[key] = res.probes["info"], res.test_acc, res.seconds, res.diverged
    return MIResults(cfg, recs, acc, secs, div)


def series(rec: InfoRecord, window: int, n_bins: int, pairing: str = "post") -> dict[str, np.ndarray]:
    """Per PCA window j ≥ 1: end step, κ_j = |cos(PC_{j−1}, PC_j)|, MI_j = mean MI over the window's
    measurements, and the product MI_j·κ_j (the α proxy of Fig 3E)."""
    ends, kappa, _ = rec.kappa[window]
    mi = rec.mi[:, rec.pairings.index(pairing), rec.bins.index(n_bins)]
    t = rec.mi_steps + 1                               # MI measured after update mi_steps

    def window_mean(y):
        return np.array([y[m].mean() if m.any() else np.nan for m in ((t > e - window) & (t <= e) for e in ends)])

    mi_w, h_w = window_mean(mi), window_mean(rec.h_update[:, rec.bins.index(n_bins)])
    return {"step": ends, "kappa": kappa, "mi": mi_w, "product": mi_w * kappa, "entropy": h_w}


def stability(product: np.ndarray, delta: int) -> dict:
    """Fig 3E/S10/S11: Spearman ρ between the product at window j and j+Δ, and the two-sided one-sample
    t-test of the differences against 0."""
    p = product[np.isfinite(product)]
    a, b = p[:-delta], p[delta:]
    if len(a) < 3:
        return {"rho": float("nan"), "rho_p": float("nan"), "t": float("nan"), "p": float("nan"), "n": len(a)}
    rho, rho_p = scipy.stats.spearmanr(a, b)
    tt = scipy.stats.ttest_1samp(b - a, 0.0)
    return {"rho": float(rho), "rho_p": float(rho_p), "t": float(tt.statistic), "p": float(tt.pvalue), "n": len(a),
            "mean_diff": float(np.mean(b - a))}


def trend(step: np.ndarray, y: np.ndarray) -> dict:
    """Spearman ρ of a series against the training step (its trend sign) and its p-value."""
    ok = np.isfinite(y)
    rho, p = scipy.stats.spearmanr(step[ok], y[ok])
    return {"rho": float(rho), "p": float(p), "n": int(ok.sum())}


def _name(key) -> str:
    return f"lr{key[0]:g}.b{key[1]}"


def claims(res: MIResults) -> list[Claim]:
    """ρ and t-test of the product per run, MI and κ trend signs, and the MI–entropy competition (S12)."""
    cfg, out = res.cfg, []
    for key, rec in res.records.items():
        s = series(rec, cfg.window, cfg.n_bins, cfg.pairing)
        common = {"window": cfg.window, "bins": cfg.n_bins, "pairing": cfg.pairing, "steps": cfg.steps,
                  "test_acc": res.accuracy[key], "run_seconds": res.seconds[key], "diverged": res.diverged[key]}
        st = stability(s["product"], 1)
        other = {f"delta{d}": stability(s["product"], d) for d in cfg.deltas}
        paper = PAPER_RHO.get(key)
        out.append(Claim(f"mutual-information.rho.{_name(key)}", f"Spearman ρ of MI·κ at t vs t+Δ (Δ = one "
                         f"{cfg.window}-step window; lr {key[0]}, batch {key[1]})", paper, st["rho"],
                         None if paper is None else bool(st["rho"] >= paper - 0.1),
                         {**st, **common, "other_deltas": other, "criterion": "ρ ≥ paper − 0.1"}))
        out.append(Claim(f"mutual-information.ttest.{_name(key)}", "two-sided one-sample t-test of "
                         "MI·κ(t+Δ) − MI·κ(t): no significant deviation from 0 (Fig S11)", "p > 0.05", st["p"],
                         bool(st["p"] > 0.05) if np.isfinite(st["p"]) else None, {**st, **common}))
        tm, tk = trend(s["step"], s["mi"]), trend(s["step"], s["kappa"])
        out.append(Claim(f"mutual-information.mi_trend.{_name(key)}", "MI between updates and activations "
                         "increases over training (Fig 3D); Spearman ρ(MI, step)", "increases", tm["rho"],
                         bool(tm["rho"] > 0 and tm["p"] < 0.05), {**tm, **common}))
        out.append(Claim(f"mutual-information.kappa_trend.{_name(key)}", "directional proxy κ declines over "
                         "training (Fig 3D); Spearman ρ(κ, step)", "declines", tk["rho"],
                         bool(tk["rho"] < 0 and tk["p"] < 0.05), {**tk, **common}))
        ok = np.isfinite(s["mi"]) & np.isfinite(s["entropy"])
        rho, p = scipy.stats.spearmanr(s["mi"][ok], s["entropy"][ok])
        out.append(Claim(f"mutual-information.mi_vs_entropy.{_name(key)}", "MI and the entropy of the update "
                         "distribution compete (Fig S12); Spearman ρ(MI, H)", "negative", float(rho),
                         bool(rho < 0 and p < 0.05), {"p": float(p), **common}))
    return out


def reproduce(profile=None, device=None, progress: bool = True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


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


def plot_mi_kappa(res: MIResults, run: str = "lr0.01.b50", window: int | None = None, n_bins: int | None = None,
                  pairing: str | None = None, ax=None):
    """Fig 3D: MI (red, left axis) and κ (blue, right axis) per PCA window over training."""
    fig, ax = axes(ax, figsize=(6, 3.5))
    cfg = res.cfg
    s = series(res.records[_key(res, run)], window or cfg.window, n_bins or cfg.n_bins, pairing or cfg.pairing)
    ax.plot(s["step"], s["mi"], color="#d62828", label="MI")
    ax.set_xlabel("training step")
    ax.set_ylabel("MI(Δw; a) (nats)", color="#d62828")
    ax2 = ax.twinx()
    ax2.plot(s["step"], s["kappa"], color="#1d4e89", label="κ")
    ax2.set_ylabel("κ = |cos(PC_j−1, PC_j)|", color="#1d4e89")
    ax.set_title(f"{_name(_key(res, run))}, window {window or cfg.window}")
    return fig


def plot_product(res: MIResults, run: str = "lr0.01.b50", window: int | None = None, delta: int = 1,
                 n_bins: int | None = None, pairing: str | None = None, ax=None):
    """Fig 3E/S10: MI·κ at window j vs j+Δ, coloured by training step, with the identity line."""
    fig, ax = axes(ax)
    cfg = res.cfg
    s = series(res.records[_key(res, run)], window or cfg.window, n_bins or cfg.n_bins, pairing or cfg.pairing)
    p, st = s["product"], stability(s["product"], delta)
    sc = ax.scatter(p[:-delta], p[delta:], c=s["step"][:-delta], cmap="viridis_r", s=12)
    lo, hi = np.nanmin(p), np.nanmax(p)
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel("MI·κ at t (nats)")
    ax.set_ylabel(f"MI·κ at t + {delta}×{window or cfg.window} steps (nats)")
    ax.set_title(f"{_name(_key(res, run))}: ρ={st['rho']:.2f}, t-test p={st['p']:.2g}")
    fig.colorbar(sc, ax=ax, label="training step t")
    return fig


def plot_bins_sensitivity(res: MIResults, run: str = "lr0.01.b50", pairing: str | None = None, ax=None):
    """MI over training for every recorded bin count (the estimator's binning sensitivity, Fig S9)."""
    fig, ax = axes(ax)
    rec = res.records[_key(res, run)]
    j = rec.pairings.index(pairing or res.cfg.pairing)
    for i, b in enumerate(rec.bins):
        ax.plot(rec.mi_steps + 1, rec.mi[:, j, i], lw=1, label=f"{b} bins")
    ax.set_xlabel("training step")
    ax.set_ylabel("MI(Δw; a) (nats)")
    ax.set_title(f"{_name(_key(res, run))}, pairing '{pairing or res.cfg.pairing}'")
    ax.legend(fontsize=7)
    return fig


def plot_entropy_vs_mi(res: MIResults, run: str = "lr0.01.b50", ax=None):
    """Fig S12: entropy of the binned update distribution vs MI, one point per PCA window."""
    fig, ax = axes(ax)
    cfg = res.cfg
    s = series(res.records[_key(res, run)], cfg.window, cfg.n_bins, cfg.pairing)
    sc = ax.scatter(s["mi"], s["entropy"], c=s["step"], cmap="viridis_r", s=12)
    ax.set_xlabel("MI(Δw; a) (nats)")
    ax.set_ylabel("H(Δw) binned (nats)")
    ax.set_title(_name(_key(res, run)))
    fig.colorbar(sc, ax=ax, label="training step")
    return fig
