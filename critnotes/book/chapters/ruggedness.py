"""Chapter 4 — multiscale ruggedness of the loss landscape (paper 002, Fig 4, S14–S18).

Train the 5-layer MLP to convergence, perturb random single parameters by ±ε, and look at the
distribution of |ΔL| on the whole training set: exponential at small ε (semi-log), power law at
large ε (log-log)?  Each ε gets the paper's least-squares slope and a maximum-likelihood fit with
a three-family comparison (power law / exponential / log-normal).  Synthetic paraboloids with a
planted curvature distribution check that the method recovers what was planted.
"""
from __future__ import annotations

import dataclasses
import sys

import matplotlib.pyplot as plt
import numpy as np

from critnotes.analysis import fitting, landscape
from critnotes.book.chapters import summarize
from critnotes.book.plotting import PALETTE, axes
from critnotes.book.profiles import chapter_config
from critnotes.book.results import Claim
from critnotes.training import cache
from critnotes.training.data import load_dataset
from critnotes.training.device import resolve_device
from critnotes.training.loop import TrainConfig, run_data, train

CHAPTER = "ruggedness"
#: the family the paper reports at each ε (Fig 4 B–E)
PAPER_FAMILY = {0.01: "exponential", 1.0: "power_law"}
#: the family a correct method should name for each planted curvature family.  A Gaussian is not
#: among the three candidates; its light tail should come out as the lightest one, exponential.
EXPECTED_FAMILY = {"gaussian": "exponential", "power_law": "power_law", "exponential": "exponential",
                   "lognormal": "lognormal"}


@dataclasses.dataclass(frozen=True)
class RuggednessConfig:
    model: str = "mlp-small"
    dataset: str = "mnist-10k"
    n_train: int | None = None          # training subset (None → all); the loss is on all of it
    lr: float = 0.01
    batch_size: int = 64
    epochs: tuple[int, ...] = (50, 100)  # checkpoints scanned (paper: 50 and 100 epochs)
    eps: tuple[float, ...] = (0.01, 1.0)            # scanned at every checkpoint (paper's two scales)
    eps_grid: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)   # scanned at the last checkpoint
    per_layer: int = 5000               # random parameters per layer (paper: 5,000)
    seed: int = 0
    synthetic_D: int = 100_000          # dimension of the synthetic paraboloids
    synthetic_delta: tuple[float, ...] = (0.1, 10.0)   # coordinate-wise perturbations δ (the paper's value is lost)
    synthetic_alpha: float = 2.5        # exponent of the planted power-law curvatures
    synthetic_replicates: int = 3       # independent landscapes per family and δ
    p_threshold: float = 0.1            # significance of a likelihood-ratio test


PROFILES = {
    "ci": RuggednessConfig(n_train=1000, epochs=(2, 4), eps_grid=(0.01, 0.1, 1.0), per_layer=40,
                           synthetic_D=10_000, synthetic_replicates=1),
    "quick": RuggednessConfig(per_layer=1000),
    "paper": RuggednessConfig(dataset="mnist"),
}


@dataclasses.dataclass
class RuggednessResults:
    cfg: RuggednessConfig
    layer_names: list[str]
    trials: landscape.Trials
    runs: dict                 # epoch → {"steps", "train_loss", "train_acc", "test_acc"}
    scans: dict                # (epoch, eps) → (2, n_trials) signed ΔL for +ε, −ε
    fits: dict                 # (epoch, eps) → see :func:`fit_scan`
    synthetic: dict            # (family, δ) → {"values": (2, D) |Δf| of replicate 0, "fits": [compare_families]}
    dataset: str

    def eps_values(self, epoch: int | None = None) -> list[float]:
        epoch = self.cfg.epochs[-1] if epoch is None else epoch
        return sorted(e for (ep, e) in self.scans if ep == epoch)


def train_config(cfg: RuggednessConfig, epochs: int) -> TrainConfig:
    """The training run scanned at ``epochs`` (steps = epochs × ⌊N / B⌋)."""
    n = len(load_dataset(cfg.dataset).y_train) if cfg.n_train is None else cfg.n_train
    return TrainConfig(model=cfg.model, dataset=cfg.dataset, lr=cfg.lr, batch_size=cfg.batch_size,
                       steps=epochs * (n // cfg.batch_size), seed=cfg.seed, n_train=cfg.n_train)


def semilog_slope(samples, bins: int = 40) -> fitting.LineFit:
    """Least-squares line through ln p(x) vs x on linear bins up to the 99.9th percentile: the
    paper's semi-log reading of an exponential (Fig 4 B–C); the rate is −slope."""
    x = np.asarray(samples, dtype=float)
    counts, edges = np.histogram(x, bins=bins, range=(0.0, float(np.quantile(x, 0.999))))
    dens = counts / (len(x) * np.diff(edges))
    return fitting.linear_fit(0.5 * (edges[1:] + edges[:-1]), dens, log_y=True)


def survivors(cmp: fitting.FamilyComparison, p_threshold: float = 0.1) -> list[str]:
    """Families of :func:`critnotes.analysis.fitting.compare_families` that no other family beats with a
    significant likelihood ratio (Vuong p < ``p_threshold``).  One survivor is a decisive verdict;
    several mean the data cannot tell them apart (power law vs log-normal usually cannot)."""
    beaten = set()
    for key, (R, p) in cmp.comparisons.items():
        a, b = key.split("_vs_")
        if p < p_threshold:
            beaten.add(b if R > 0 else a)
    return [f for f in ("exponential", "power_law", "lognormal") if f not in beaten]


def fit_scan(dL: np.ndarray) -> dict:
    """Fits of |ΔL| pooled over ±ε (exact zeros — flat directions — dropped and counted).

    ``compare``: :func:`critnotes.analysis.fitting.compare_families` (MLE tail fits, likelihood ratios, best
    by AIC); ``exponential``: MLE over all non-zero values; ``ls_semilog`` / ``ls_loglog``: the
    paper's least-squares lines (semi-log on linear bins; log-log on log bins above the MLE x_min).
    """
    v = np.abs(np.asarray(dL, dtype=float)).ravel()
    pos = v[v > 0]
    cmp = fitting.compare_families(pos)
    x, p = fitting.log_binned_density(pos)
    return {"compare": cmp, "exponential": fitting.fit_exponential(pos), "ls_semilog": semilog_slope(pos),
            "ls_loglog": fitting.loglog_fit(x, p, xrange=(cmp.power_law.xmin, None)),
            "zero_fraction": float(1 - pos.size / v.size), "n": int(v.size)}


def _scan(cfg: RuggednessConfig, epochs: int, eps: float, device, progress: bool) -> np.ndarray:
    tcfg = train_config(cfg, epochs)

    def compute():
        r = train(tcfg, device=device, progress=progress)
        data = run_data(tcfg)
        dev = resolve_device(device)
        trials = landscape.random_trials(r.model(), cfg.per_layer, cfg.seed)
        return landscape.scan(r.model(), data.x_train.to(dev), data.y_train.to(dev), eps, trials)

    return cache.cached("ruggedness-scan", (tcfg, cfg.per_layer, cfg.seed, float(eps)), compute,
                        code=(compute, landscape), expect=np.ndarray)


def run(cfg: RuggednessConfig, device=None, progress: bool = True) -> RuggednessResults:
    """Train (cached), scan every (epoch, ε), fit, and run the synthetic landscapes."""
    runs, scans = {}, {}
    for ep in cfg.epochs:
        r = train(train_config(cfg, ep), device=device, progress=progress)
        runs[ep] = {"steps": r.cfg.steps, "train_loss": r.train_loss, "train_acc": r.train_acc,
                    "test_acc": r.test_acc}
        grid = set(cfg.eps) | (set(cfg.eps_grid) if ep == cfg.epochs[-1] else set())
        for eps in sorted(grid):
            scans[(ep, eps)] = _scan(cfg, ep, eps, device, progress)
    model = r.model()
    synthetic = {}
    for fam in landscape.CURVATURE_FAMILIES:
        for delta in cfg.synthetic_delta:
            fits = []
            for rep in range(cfg.synthetic_replicates):
                seed = cfg.seed + 1000 * rep
                c = landscape.synthetic_curvatures(fam, cfg.synthetic_D, seed, alpha=cfg.synthetic_alpha)
                vals = landscape.synthetic_scan(c, delta, seed)
                fits.append(fitting.compare_families(vals.ravel()))
                if rep == 0:
                    first = vals
            synthetic[(fam, delta)] = {"values": first, "fits": fits}
    return RuggednessResults(cfg=cfg, layer_names=[f"L{i + 1} ({m.in_features}→{m.out_features})" for i, m in enumerate(model.linears)],
                             trials=landscape.random_trials(model, cfg.per_layer, cfg.seed), runs=runs,
                             scans=scans, fits={k: fit_scan(v) for k, v in scans.items()}, synthetic=synthetic,
                             dataset=cfg.dataset)


def claims(res: RuggednessResults) -> list[Claim]:
    """Measured = the family no other beats significantly (``survivors``), "undecided" when several
    survive; agrees = the paper's family survives."""
    out, pt = [], res.cfg.p_threshold
    n_trials = len(res.trials)
    for (ep, eps), f in sorted(res.fits.items()):
        if eps not in PAPER_FAMILY:
            continue
        cmp, surv = f["compare"], survivors(f["compare"], pt)
        out.append(Claim(
            id=f"{CHAPTER}.family.eps{eps:g}.epoch{ep}",
            statement=(f"|ΔL| under ±ε={eps:g} single-parameter perturbations after {ep} epochs follows "
                       f"{'an exponential' if PAPER_FAMILY[eps] == 'exponential' else 'a power law'} "
                       f"({n_trials} parameters × 2 signs, whole training set of {res.dataset})"),
            paper=PAPER_FAMILY[eps], measured=surv[0] if len(surv) == 1 else "undecided: " + "/".join(surv),
            agrees=PAPER_FAMILY[eps] in surv,
            detail={"survivors": surv, "best_aic": cmp.best, "comparisons": cmp.comparisons,
                    "alpha_mle": cmp.power_law.alpha, "xmin": cmp.power_law.xmin,
                    "ks_power_law": cmp.power_law.ks, "n_tail": cmp.n_tail,
                    "exp_rate_mle": f["exponential"].rate, "exp_ks": f["exponential"].ks,
                    "ls_semilog_r2": f["ls_semilog"].r2, "ls_loglog_alpha": -f["ls_loglog"].slope,
                    "ls_loglog_r2": f["ls_loglog"].r2, "zero_fraction": f["zero_fraction"],
                    "train_acc": res.runs[ep]["train_acc"], "steps": res.runs[ep]["steps"]}))
    ep = res.cfg.epochs[-1]
    big = max(e for e in res.eps_values(ep) if e in PAPER_FAMILY)
    f = res.fits[(ep, big)]
    out.append(Claim(
        id=f"{CHAPTER}.alpha.eps{big:g}.epoch{ep}",
        statement="power-law exponent of |ΔL| at large ε (the paper's number was lost in the text extraction)",
        paper=None, measured={"ls": -f["ls_loglog"].slope, "mle": f["compare"].power_law.alpha},
        agrees=None, detail={"mle_se": f["compare"].power_law.alpha_se,
                             "xmin": f["compare"].power_law.xmin, "ls_r2": f["ls_loglog"].r2}))
    for (fam, delta), syn in res.synthetic.items():
        exp = EXPECTED_FAMILY[fam]
        surv = [survivors(c, pt) for c in syn["fits"]]
        ok = float(np.mean([exp in sv for sv in surv]))
        out.append(Claim(
            id=f"{CHAPTER}.synthetic.{fam}.delta{delta:g}",
            statement=(f"perturbing D={res.cfg.synthetic_D:,} paraboloids with {fam} curvatures by ±{delta:g}: "
                       f"the planted family survives the likelihood-ratio tests (fraction of "
                       f"{len(surv)} landscapes; Gaussian → the lightest candidate, exponential)"),
            paper=exp, measured=ok, agrees=ok >= 0.5,
            detail={"survivors": surv, "decisive": float(np.mean([sv == [exp] for sv in surv])),
                    "best_aic": [c.best for c in syn["fits"]],
                    "alpha_mle": [c.power_law.alpha for c in syn["fits"]]}))
    return out


def reproduce(profile=None, device=None, progress=True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


# --------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------
def _select(res: RuggednessResults, epoch, eps, layer) -> tuple[np.ndarray, int, float]:
    epoch = res.cfg.epochs[-1] if epoch is None else epoch
    eps = min(res.eps_values(epoch), key=lambda e: abs(e - (eps if eps is not None else 0.01)))
    dL = res.scans[(epoch, eps)]
    if layer not in (None, "all"):
        li = res.layer_names.index(layer) if isinstance(layer, str) else int(layer)
        dL = dL[:, res.trials.layer == li]
    return dL, epoch, eps


def plot_perturbations(res: RuggednessResults, eps: float | None = None, epoch: int | None = None,
                       layer: str | int | None = "all", scale: str = "auto", ax=None):
    """Distribution of |ΔL| for +ε and −ε (Fig 4 B–E): semi-log with the MLE exponential for small ε,
    log-log with the MLE power law for large ε (``scale="auto"``: semi-log below ε = 0.1)."""
    dL, epoch, eps = _select(res, epoch, eps, layer)
    fig, ax = axes(ax)
    semilog = eps < 0.1 if scale == "auto" else scale == "semilog"
    colours = (PALETTE["stage1"], PALETTE["stage2"])
    pooled = np.abs(dL).ravel()
    pooled = pooled[pooled > 0]
    for row, sign, col in zip(dL, ("+ε", "−ε"), colours):
        v = np.abs(row[row != 0])
        if v.size < 2:
            continue
        if semilog:
            counts, edges = np.histogram(v, bins=30, range=(0, np.quantile(pooled, 0.999)))
            mid = 0.5 * (edges[1:] + edges[:-1])
            keep = counts > 0
            ax.semilogy(mid[keep], counts[keep] / (v.size * np.diff(edges)[keep]), "o", ms=3, color=col, label=sign)
        else:
            x, p = fitting.log_binned_density(v)
            ax.loglog(x, p, "o", ms=3, color=col, label=sign)
    if pooled.size >= fitting.MIN_TAIL:
        if semilog:
            ex = fitting.fit_exponential(pooled)
            xs = np.linspace(0, np.quantile(pooled, 0.999), 50)
            ax.semilogy(xs, ex.rate * np.exp(-ex.rate * (xs - ex.xmin)), "-", color=PALETTE["fit"],
                        label=f"MLE exponential, rate {ex.rate:.3g}")
        else:
            fit = fitting.fit_powerlaw(pooled)
            x, p = fitting.log_binned_density(pooled)
            at = np.interp(np.log(fit.xmin), np.log(x), np.log(p))
            xs = np.array([fit.xmin, pooled.max()])
            ax.loglog(xs, np.exp(at) * (xs / fit.xmin) ** -fit.alpha, "-", color=PALETTE["fit"],
                      label=f"MLE power law α={fit.alpha:.2f}")
    if semilog:
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    ax.set_xlabel("|ΔL| (change of mean cross-entropy, nats)")
    ax.set_ylabel("probability density (1/nats)")
    where = "all layers" if layer in (None, "all") else f"layer {layer}"
    ax.set_title(f"ε = {eps:g}, {epoch} epochs, {where}", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot_fig4(res: RuggednessResults):
    """Fig 4 B–E: small ε (semi-log) and large ε (log-log) at each scanned epoch."""
    eps_small, eps_big = min(res.cfg.eps), max(res.cfg.eps)
    fig, axs = plt.subplots(2, len(res.cfg.epochs), figsize=(4.2 * len(res.cfg.epochs), 6.5),
                            constrained_layout=True, squeeze=False)
    for j, ep in enumerate(res.cfg.epochs):
        plot_perturbations(res, eps_small, ep, ax=axs[0, j])
        plot_perturbations(res, eps_big, ep, ax=axs[1, j])
    return fig


def plot_transition(res: RuggednessResults, ax=None):
    """Across ε (last epoch): per-sample log-likelihood ratios of the power law against the
    exponential and the log-normal (> 0 favours the power law) — where the landscape turns rugged."""
    fig, ax = axes(ax)
    ep = res.cfg.epochs[-1]
    eps = res.eps_values(ep)
    for key, label, col in (("power_law_vs_exponential", "power law vs exponential", PALETTE["stage1"]),
                            ("power_law_vs_lognormal", "power law vs log-normal", PALETTE["stage2"])):
        r = [res.fits[(ep, e)]["compare"].comparisons[key][0] / res.fits[(ep, e)]["compare"].n_tail
             for e in eps]
        ax.semilogx(eps, r, "o-", color=col, label=label)
    ax.axhline(0, color=PALETTE["null"], lw=0.8)
    for e in eps:
        surv = survivors(res.fits[(ep, e)]["compare"], res.cfg.p_threshold)
        ax.annotate("/".join(x.replace("_law", "") for x in surv), (e, 0), fontsize=6, rotation=90,
                    xytext=(0, 4), textcoords="offset points", ha="center")
    ax.set_xlabel("perturbation ε")
    ax.set_ylabel("log-likelihood ratio per tail sample")
    ax.set_title(f"which family fits |ΔL| ({ep} epochs); text: families not rejected", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot_synthetic(res: RuggednessResults, delta: float | None = None):
    """Figs S16–S18: |Δf| of the synthetic paraboloids (replicate 0), semi-log (top) and log-log
    (bottom), titled with the families that survive the likelihood-ratio tests."""
    delta = res.cfg.synthetic_delta[0] if delta is None else delta
    fams = landscape.CURVATURE_FAMILIES
    fig, axs = plt.subplots(2, len(fams), figsize=(3.3 * len(fams), 5.6), constrained_layout=True)
    for j, fam in enumerate(fams):
        syn = res.synthetic[(fam, delta)]
        v = syn["values"].ravel()
        counts, edges = np.histogram(v, bins=40, range=(0, np.quantile(v, 0.999)))
        keep = counts > 0
        axs[0, j].semilogy(0.5 * (edges[1:] + edges[:-1])[keep], counts[keep] / (v.size * np.diff(edges)[keep]),
                           "o", ms=3, color=PALETTE["stage2"])
        x, p = fitting.log_binned_density(v)
        axs[1, j].loglog(x, p, "o", ms=3, color=PALETTE["stage2"])
        surv = survivors(syn["fits"][0], res.cfg.p_threshold)
        axs[0, j].set_title(f"planted: {fam}, δ={delta:g}\nnot rejected: {', '.join(surv)}", fontsize=8)
        for a in axs[:, j]:
            a.set_xlabel("|Δf| (function change)")
        axs[0, j].set_ylabel("density (semi-log)")
        axs[1, j].set_ylabel("density (log-log)")
    return fig


def fit_table(res: RuggednessResults) -> str:
    """One line per (epoch, ε): zero fraction, tail size, MLE α, exponential rate, likelihood ratios
    (R, p), the families not rejected, and the paper-style least-squares readings."""
    lines = [f"{'epoch':>5} {'eps':>5} {'zeros':>6} {'n_tail':>6} {'alpha':>6} {'R pl-exp (p)':>16} "
             f"{'R pl-ln (p)':>16} {'R ln-exp (p)':>16}  {'not rejected':24} {'LS semilog r2':>13} "
             f"{'LS loglog a (r2)':>16}"]
    for (ep, eps), f in sorted(res.fits.items()):
        c = f["compare"].comparisons

        def rp(k):
            return f"{c[k][0]:8.1f} ({c[k][1]:.2g})"
        lines.append(f"{ep:>5} {eps:>5g} {f['zero_fraction']:>6.1%} {f['compare']['n_tail']:>6} "
                     f"{f['compare']['power_law']['alpha']:>6.2f} {rp('power_law_vs_exponential'):>16} "
                     f"{rp('power_law_vs_lognormal'):>16} {rp('lognormal_vs_exponential'):>16}  "
                     f"{'/'.join(survivors(f['compare'], res.cfg.p_threshold)):24} "
                     f"{f['ls_semilog'].r2:>13.3f} {-f['ls_loglog'].slope:>8.2f} ({f['ls_loglog'].r2:.3f})")
    return "\n".join(lines)


def synthetic_table(res: RuggednessResults) -> str:
    """Per planted family and δ: the families not rejected in each replicate and the MLE α."""
    lines = [f"{'planted':12} {'delta':>6}  not rejected (per landscape) / MLE power-law alpha"]
    for (fam, delta), syn in res.synthetic.items():
        reps = "; ".join(f"{'/'.join(survivors(c, res.cfg.p_threshold))} α={c['power_law']['alpha']:.2f}"
                         for c in syn["fits"])
        lines.append(f"{fam:12} {delta:>6g}  {reps}")
    return "\n".join(lines)
