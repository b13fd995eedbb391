"""Chapter 2 (`maxent`): the max-entropy derivation of heavy-tailed updates and its checks (paper 002,
Eqs 2–6, Fig 3A–C, S8, S13).

* a discretised entropy maximisation under the MI constraint, solved with scipy, against α = λκ (Fig 3A);
* the true output KL of real SGD updates of the 5-layer MLP vs ½ΔwᵀFΔw (Fig 3B–C, S8);
* the FIM scaling of Eq 4 along real update directions at several magnitudes;
* Gaussianity of mini-batch gradient noise (Fig S13).
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np
import scipy.stats

from critnotes.analysis import fitting
from critnotes.analysis import information as inf
from critnotes.book.chapters import summarize
from critnotes.book.plotting import axes
from critnotes.book.profiles import chapter_config
from critnotes.book.results import Claim
from critnotes.probes.activity import WeightProbe
from critnotes.probes.information_probes import KLProbe, KLRecord
from critnotes.training.loop import TrainConfig, run_data, train

CHAPTER = "maxent"


@dataclasses.dataclass(frozen=True)
class MaxentConfig:
    kappa: float = 1.5                       # direction factor of the numerical check
    lams: tuple[float, ...] = (0.5, 1.5, 3.0)  # Lagrange multipliers of the numerical check
    eps: float = 1e-3                        # cutoff ε of Eq 5
    x_max: float = 0.1                       # top of the |Δw| grid
    model: str = "mlp-small"
    lr: float = 0.01
    batch_sizes: tuple[int, ...] = (50, 500)
    steps: int = 10_000
    n_train: int | None = None
    kl_at: tuple[int, ...] = (0, 100, 1000, 5000, 9000)   # first step of each burst of recorded updates
    kl_updates: int = 20                     # consecutive updates per burst
    radii: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)   # × |Δw| (Eq 4 scan)
    n_probe: int = 1000                      # inputs over which the output KL and Fisher are averaged
    noise_steps: tuple[int, ...] = (0, 1000, 10_000)   # weights at which gradient noise is sampled
    noise_batches: int = 300
    noise_params: int = 500
    seed: int = 0


PROFILES = {
    "ci": MaxentConfig(steps=300, n_train=1000, kl_at=(0, 200), kl_updates=5, radii=(0.1, 1.0, 10.0, 100.0),
                       n_probe=200, noise_steps=(0, 300), noise_batches=40, noise_params=100),
    "quick": MaxentConfig(),
    "paper": MaxentConfig(steps=20_000, kl_at=(0, 100, 1000, 5000, 10_000, 19_000), kl_updates=50,
                          noise_steps=(0, 1000, 10_000, 20_000), noise_batches=1000, noise_params=2000),
}


@dataclasses.dataclass
class MaxentResults:
    cfg: MaxentConfig
    solutions: list[inf.MaxEntSolution]
    kl: dict[int, KLRecord]                       # batch size → record
    noise: dict[tuple[int, int], dict]                # (batch size, step) → gaussianity stats + samples
    accuracy: dict[int, float]                        # batch size → final test accuracy
    seconds: dict[int, float]                         # batch size → training + probe time


def run(cfg: MaxentConfig, device=None, progress: bool = True) -> MaxentResults:
    """The numerical max-ent check and, for each batch size, one cached training run with the probes."""
    sols = [inf.solve_maxent(cfg.kappa, lam=lam, eps=cfg.eps, x_max=cfg.x_max) for lam in cfg.lams]
    kl, noise, acc, secs = {}, {}, {}, {}
    for b in cfg.batch_sizes:
        tc = TrainConfig(model=cfg.model, lr=cfg.lr, batch_size=b, steps=cfg.steps, n_train=cfg.n_train,
                         seed=cfg.seed)
        probes = [KLProbe(at=tuple(t for t in cfg.kl_at if t < cfg.steps), n_updates=cfg.kl_updates,
                              radii=cfg.radii, n_probe=cfg.n_probe),
                  WeightProbe(steps=tuple(t for t in cfg.noise_steps if t <= cfg.steps))]
        res = train(tc, probes, device=device, progress=progress)
        kl[b], acc[b], secs[b] = res.probes["kl"], res.test_acc, res.seconds
        noise.update({(b, t): v for t, v in gradient_noise(res, cfg).items()})
    return MaxentResults(cfg, sols, kl, noise, acc, secs)


def gradient_noise(res, cfg: MaxentConfig) -> dict[int, dict]:
    """Fig S13: per-parameter mini-batch gradient samples at each weight snapshot of ``res`` and their
    normality statistics (:func:`critnotes.analysis.information.gaussianity`); keeps 4 sample columns for QQ plots."""
    import torch

    data = run_data(res.cfg)
    model, rec = res.initial_model(), res.probes["weights"]
    g = torch.Generator().manual_seed(cfg.seed)
    index = torch.randperm(res.n_params, generator=g)[:cfg.noise_params]
    out = {}
    for t, w in zip(rec.steps, rec.weights):
        s = inf.gradient_samples(model, torch.as_tensor(w), data.x_train, data.y_train, batch_size=res.cfg.batch_size,
                                 n_batches=cfg.noise_batches, index=index, seed=cfg.seed + int(t))
        stats = inf.gaussianity(s)
        stats["examples"] = s[:, stats["index"][:4]]
        out[int(t)] = stats
    return out


# ------------------------------------------------------------------ summaries used by claims and figures

def kl_agreement(rec: KLRecord) -> dict:
    """How well ½ΔwᵀFΔw predicts the true KL of real updates: median |KL/Q − 1|, Pearson r of log values."""
    ok = (rec.kl > 0) & (rec.quad > 0)
    rel = np.abs(rec.kl[ok] / rec.quad[ok] - 1)
    r = scipy.stats.pearsonr(np.log(rec.kl[ok]), np.log(rec.quad[ok]))[0] if ok.sum() > 2 else float("nan")
    return {"median_rel_err": float(np.median(rel)), "p90_rel_err": float(np.quantile(rel, 0.9)),
            "pearson_log": float(r), "n_updates": int(ok.sum())}


def scan_slopes(rec: KLRecord) -> dict:
    """Log–log slopes over the magnitude scan: of r²uᵀF(w+ru)u (Eq 4 predicts 0) and of the true
    KL D(r) (quadratic regime: 2), medians over the scanned update directions."""
    fim = [fitting.loglog_fit(r, y).slope for r, y in zip(rec.radii, rec.scan_fim) if np.all(y > 0)]
    kl = [fitting.loglog_fit(r, y).slope for r, y in zip(rec.radii, rec.scan_kl) if np.all(y > 0)]
    return {"fim_slope": float(np.median(fim)) if fim else float("nan"),
            "kl_slope": float(np.median(kl)) if kl else float("nan"), "n_directions": len(fim)}


def claims(res: MaxentResults) -> list[Claim]:
    """Max-ent α = λκ, KL ≈ ½ΔwᵀFΔw per batch size, Eq 4 scaling, Gaussian gradient noise."""
    rel = [abs(s.alpha_fit / s.alpha_theory - 1) for s in res.solutions]
    out = [Claim("maxent.alpha_equals_lambda_kappa", "entropy maximisation under the MI constraint gives "
                 "p(|Δw|) ∝ |Δw|^-α with α = λκ (Eq 6); numerical optimum vs λκ, max relative error",
                 "α = λκ", float(max(rel)), bool(max(rel) < 0.01),
                 {"lam": [s.lam for s in res.solutions], "kappa": res.cfg.kappa,
                  "alpha_fit": [s.alpha_fit for s in res.solutions], "converged": [s.success for s in res.solutions],
                  "criterion": "max relative error < 1%"})]
    for b, rec in res.kl.items():
        a = kl_agreement(rec)
        out.append(Claim(f"maxent.kl_quadratic.b{b}", f"KL between outputs before/after real SGD updates ≈ "
                         f"½ΔwᵀFΔw (Fig 3B–C, lr {res.cfg.lr}, batch {b}); median |KL/Q − 1|",
                         "on the identity line", a["median_rel_err"], bool(a["median_rel_err"] < 0.1),
                         {**a, "criterion": "median relative error < 10%"}))
    for b, rec in res.kl.items():
        s = scan_slopes(rec)
        out.append(Claim(f"maxent.fim_scaling.b{b}", "FIM along an update direction scales as |Δw|^-2 (Eq 4): "
                         "log-log slope of r²·uᵀF(w+ru)u vs r (0 if Eq 4 holds)", 0.0, s["fim_slope"],
                         bool(abs(s["fim_slope"]) < 0.3),
                         {**s, "radii_over_update": list(res.cfg.radii), "criterion": "|slope| < 0.3"}))
    for (b, t), st in res.noise.items():
        rej = float(np.mean(st["p"] < 0.05)) if len(st["p"]) else float("nan")
        out.append(Claim(f"maxent.gradient_noise_gaussian.b{b}.t{t}", "mini-batch gradient noise is Gaussian "
                         f"(Fig S13; batch {b}, step {t}); fraction of parameters where normaltest rejects at 5%",
                         "Gaussian", rej, bool(rej <= 0.10),
                         {"median_abs_skew": float(np.median(np.abs(st["skew"]))),
                          "median_excess_kurtosis": float(np.median(st["kurtosis"])),
                          "n_params": int(len(st["p"])), "n_zero_gradient": st["n_constant"],
                          "n_batches": res.cfg.noise_batches, "criterion": "rejection rate ≤ 10% (5% nominal)"}))
    return out


def reproduce(profile=None, device=None, progress: bool = True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


# ------------------------------------------------------------------ figures

def plot_maxent(lam: float = 2.0, kappa: float = 1.5, log10_eps: float = -3.0, decades: float = 2.0, ax=None):
    """Fig 3A: the numerical max-entropy optimum on a log grid and the predicted power law α = λκ."""
    fig, ax = axes(ax)
    eps = 10.0 ** log10_eps
    sol = inf.solve_maxent(kappa, lam=lam, eps=eps, x_max=eps * 10 ** decades)
    ax.loglog(sol.x, sol.density, "o", ms=4, label=f"numerical optimum (fit α={sol.alpha_fit:.3f})")
    ax.loglog(sol.x, sol.density[0] * (sol.x / sol.x[0]) ** (-lam * kappa), "--", color="#e76f51",
              label=f"Eq 6: α = λκ = {lam * kappa:.3f}")
    ax.set_xlabel("|Δw| (parameter units)")
    ax.set_ylabel("p(|Δw|) (density)")
    ax.set_title(f"λ={lam:g}, κ={kappa:g}, ε={eps:.0e}")
    ax.legend(fontsize=8)
    return fig


def plot_kl_identity(res: MaxentResults, batch_size: int = 50, ax=None):
    """Fig 3B–C/S8: true output KL of each recorded update vs ½ΔwᵀFΔw, coloured by training step."""
    fig, ax = axes(ax)
    rec = res.kl[batch_size]
    ok = (rec.kl > 0) & (rec.quad > 0)
    sc = ax.scatter(rec.quad[ok], rec.kl[ok], c=rec.steps[ok], s=10, cmap="viridis")
    lo, hi = min(rec.quad[ok].min(), rec.kl[ok].min()), max(rec.quad[ok].max(), rec.kl[ok].max())
    ax.loglog([lo, hi], [lo, hi], "k--", lw=1, label="identity")
    ax.set_xlabel("½ ΔwᵀFΔw (nats)")
    ax.set_ylabel("KL(p_w ‖ p_w+Δw) (nats)")
    ax.set_title(f"lr {res.cfg.lr}, batch {batch_size}")
    fig.colorbar(sc, ax=ax, label="training step")
    ax.legend(fontsize=8)
    return fig


def plot_fim_scaling(res: MaxentResults, batch_size: int = 50, ax=None):
    """Eq 4 test: r²·uᵀF(w+ru)u (normalised at r = |Δw|) vs r/|Δw| along real update directions; a flat
    line would mean F ∝ |Δw|⁻²; the true KL D(r) is drawn dashed for comparison."""
    fig, ax = axes(ax)
    rec = res.kl[batch_size]
    m = np.array(res.cfg.radii)
    i1 = int(np.argmin(np.abs(np.log(m))))
    for t, f, d in zip(rec.scan_steps, rec.scan_fim, rec.scan_kl):
        line, = ax.loglog(m, f / f[i1], "o-", ms=3, label=f"r²uᵀF(w+ru)u, step {t}")
        ax.loglog(m, d / d[i1], "--", color=line.get_color(), lw=1)
    ax.axhline(1, color="k", lw=0.8, ls=":")
    ax.set_xlabel("r / |Δw| (multiples of the real update)")
    ax.set_ylabel("value / value at r = |Δw|")
    ax.set_title("Eq 4: solid flat if F ∝ |Δw|⁻²; dashed: KL D(r)")
    ax.legend(fontsize=7)
    return fig


def plot_gradient_noise(res: MaxentResults, batch_size: int = 50, step: int = 0, ax=None):
    """Fig S13: QQ plots of standardised mini-batch gradients of four parameters against N(0, 1)."""
    fig, ax = axes(ax)
    st = res.noise[(batch_size, step)]
    for k in range(st["examples"].shape[1]):
        s = st["examples"][:, k]
        mu, sd = scipy.stats.norm.fit(s)
        (osm, osr), _ = scipy.stats.probplot((s - mu) / sd, dist="norm")
        ax.plot(osm, osr, ".", ms=3, label=f"param {st['index'][k]}")
    lim = ax.get_xlim()
    ax.plot(lim, lim, "k--", lw=1, label="Gaussian")
    ax.set_xlabel("N(0,1) quantile")
    ax.set_ylabel("standardised gradient quantile")
    ax.set_title(f"batch {batch_size}, step {step}")
    ax.legend(fontsize=7)
    return fig


def plot_normality_pvalues(res: MaxentResults, batch_size: int = 50, ax=None):
    """Fig S13 summary: distribution of normaltest p-values over parameters at each snapshot (uniform if
    every parameter's gradient noise were exactly Gaussian)."""
    fig, ax = axes(ax)
    for (b, t), st in res.noise.items():
        if b == batch_size:
            ax.hist(st["p"], bins=20, range=(0, 1), histtype="step", density=True, label=f"step {t}")
    ax.axhline(1, color="k", ls=":", lw=1, label="uniform (Gaussian null)")
    ax.set_xlabel("normaltest p-value")
    ax.set_ylabel("density over parameters")
    ax.set_title(f"batch {batch_size}")
    ax.legend(fontsize=7)
    return fig
