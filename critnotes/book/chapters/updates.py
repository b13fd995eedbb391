"""Chapter 1 — heavy-tailed parameter updates (paper 002, Figs 1–2, S1–S7; NSIA abstract 000/001 Fig 1).

Every network is trained with a :class:`~critnotes.probes.update_recorder.UpdateRecorder` that streams |Δw| of all
parameters at every step of each stage window into log bins.  Each (run, stage) histogram gets two
exponents side by side: the binned maximum-likelihood power law (x_min by KS, likelihood ratios vs
log-normal and exponential; :func:`critnotes.analysis.fitting.fit_powerlaw_binned`) and the paper's indicative
least-squares slope of the log-binned density over the same tail (:func:`critnotes.analysis.fitting.loglog_fit`).

Stage windows are the paper's (steps 0–10k, 20k–30k, and 80k–90k for Fig S2C) times
``stage_scale`` (times a per-run factor from ``run_scale`` for the expensive runs).
"""
from __future__ import annotations

import dataclasses
import math
import sys

import matplotlib.pyplot as plt
import numpy as np

from critnotes.analysis import fitting
from critnotes.analysis.update_stats import UpdateStats
from critnotes.book.chapters import summarize
from critnotes.book.plotting import PALETTE, axes, powerlaw_guide
from critnotes.book.profiles import chapter_config
from critnotes.book.results import Claim
from critnotes.probes.update_recorder import UpdateRecorder
from critnotes.training.data import load_dataset
from critnotes.training.loop import TrainConfig, train

CHAPTER = "updates"
PAPER_STAGES = ((0, 10_000), (20_000, 30_000))     # Fig 1C: rapid decrease, near convergence
PAPER_LATE = (80_000, 90_000)                       # Fig S2C: a later, more stable phase
PAPER_ALPHA = (3.0, 5.0)                            # "ranging from 3 to 5"
STABLE_TOL = 0.5                                    # |α₂ − α₁| below which we call α stable (our choice)
P_SIGNIFICANT = 0.1                                 # Vuong p-value for a significant likelihood ratio
LS_MIN_COUNT = 10                                   # LS slope: bins with fewer counts are the noisy far tail

#: model → (dataset requested, what the paper trained it on, paper figure)
MODELS = {
    "mlp-small": ("mnist-10k", "MNIST", "Fig 2A"),
    "mlp-medium": ("mnist-10k", "MNIST", "Fig 2C"),
    "mlp-large": ("mnist-10k", "MNIST", "Fig 2D"),
    "cnn": ("cifar10", "CIFAR-10", "Fig 2B"),
    "transformer": ("text26", "a 26-letter text", "Fig S5 / NSIA Fig 1"),
}


@dataclasses.dataclass(frozen=True)
class Variation:
    """A change of one training setting relative to the baseline (paper 002 Figs S2–S7)."""

    label: str
    figure: str
    overrides: tuple[tuple[str, object], ...]


VARIATIONS = {
    "batch-4": Variation("batch size 4", "S2A", (("batch_size", 4),)),
    "batch-16": Variation("batch size 16", "S2A", (("batch_size", 16),)),
    "batch-256": Variation("batch size 256", "S2B", (("batch_size", 256),)),
    "batch-1000": Variation("batch size 1000", "S2B", (("batch_size", 1000),)),
    "lr-0.1": Variation("learning rate 0.1", "S2D", (("lr", 0.1),)),
    "mse": Variation("MSE loss", "S3A", (("loss", "mse"),)),
    "sigmoid": Variation("sigmoid activation", "S3B", (("activation", "sigmoid"),)),
    "linear": Variation("linear net (no activation)", "S3C", (("activation", "identity"),)),
    "xavier": Variation("Xavier-normal init", "S4", (("init", "xavier-normal"),)),
    "fullbatch-sgd": Variation("full-batch GD (SGD)", "S6", (("batch_size", 0),)),
    "fullbatch-momentum": Variation("full-batch momentum 0.9", "S6", (("batch_size", 0), ("optimizer", "momentum"))),
    "fullbatch-nesterov": Variation("full-batch Nesterov 0.9", "S6", (("batch_size", 0), ("optimizer", "nesterov"))),
    "fullbatch-rmsprop": Variation("full-batch RMSprop", "S6", (("batch_size", 0), ("optimizer", "rmsprop"))),
    "fullbatch-adagrad": Variation("full-batch Adagrad", "S6", (("batch_size", 0), ("optimizer", "adagrad"))),
    "adam": Variation("Adam, lr 0.001", "S7", (("optimizer", "adam"), ("lr", 0.001))),
}
#: Adam's step never exceeds lr·(1−β₁)/√((1−β₂)(1−β₁²/β₂)) ≈ 7.3·lr (Cauchy–Schwarz on its moment estimates,
#: β = (0.9, 0.999), bias corrections ≤ 1 and ε ignored); Kingma & Ba's typical-case bound is (1−β₁)/√(1−β₂) ≈ 3.2
ADAM_BOUND = 0.1 / np.sqrt(0.001 * (1 - 0.81 / 0.999))


@dataclasses.dataclass(frozen=True)
class UpdatesConfig:
    """Settings of chapter 1. Windows = paper windows × ``stage_scale`` × ``run_scale`` factor of the run."""

    models: tuple[str, ...] = tuple(MODELS)
    variations: tuple[str, ...] = tuple(VARIATIONS)
    variation_model: str = "mlp-small"            # the network every variation is applied to
    stage_scale: float = 1.0
    run_scale: tuple[tuple[str, float], ...] = ()  # (model or variation name, extra factor)
    late_stage: bool = True                        # add the 80k–90k window (Fig S2C) to the variation model
    lr: float = 0.01
    transformer_lr: float = 0.1                    # NSIA abstract Fig 1: η = 0.1
    batch_size: int = 64
    n_train: int | None = None                     # training subset (None → all 8,000 embedded digits)
    n_test: int | None = None                      # test subset for the final accuracy (None → all)
    seed: int = 0
    sub_bits: int = 3                              # 2^sub_bits log bins per octave
    cifar_download: bool = True                    # try torchvision's CIFAR-10 download before the stand-in


PROFILES = {
    "ci": UpdatesConfig(models=("mlp-small",), variations=("fullbatch-sgd", "adam"), stage_scale=0.01,
                        late_stage=False, n_train=1024, n_test=512, cifar_download=False),
    "quick": UpdatesConfig(
        variations=("batch-4", "batch-1000", "lr-0.1", "mse", "sigmoid", "linear", "xavier",
                    "fullbatch-sgd", "fullbatch-momentum", "fullbatch-rmsprop", "adam"),
        stage_scale=0.1,
        run_scale=(("mlp-large", 0.3), ("cnn", 0.05), ("transformer", 0.05), ("batch-1000", 0.3),
                   ("fullbatch-sgd", 0.3), ("fullbatch-momentum", 0.3), ("fullbatch-rmsprop", 0.3))),
    "paper": UpdatesConfig(),
}


@dataclasses.dataclass
class RunAnalysis:
    """One training run: its streamed histograms, loss curve and per-stage fits."""

    key: str                          # model name, or variation name
    label: str
    figure: str
    train_cfg: TrainConfig
    dataset: str                      # what it was trained on (a stand-in says so)
    standin: bool
    windows: tuple[tuple[int, int], ...]
    stats: UpdateStats
    losses: np.ndarray
    diverged: bool
    n_params: int
    test_acc: float
    fits: list                        # per window: PowerLawFit or None
    ls: list                          # per window: fitting.loglog_fit LineFit (α = −slope) or None
    errors: list                      # per window: why there is no fit, or None


@dataclasses.dataclass
class UpdatesResults:
    cfg: UpdatesConfig
    runs: dict[str, RunAnalysis]

    def keys(self, kind: str = "all") -> list[str]:
        """Run keys: ``"models"``, ``"variations"`` or ``"all"``."""
        if kind not in ("all", "models", "variations"):
            raise ValueError(f"kind must be 'all', 'models' or 'variations', got {kind!r}")
        return [k for k in self.runs if kind == "all" or (k in MODELS) == (kind == "models")]


# --------------------------------------------------------------------------------------------------
# experiment
# --------------------------------------------------------------------------------------------------
def _check(cfg: UpdatesConfig) -> None:
    bad = [m for m in (*cfg.models, cfg.variation_model) if m not in MODELS]
    if bad:
        raise ValueError(f"unknown model(s) {bad}; choose from {', '.join(MODELS)}")
    bad = [v for v in cfg.variations if v not in VARIATIONS]
    if bad:
        raise ValueError(f"unknown variation(s) {bad}; choose from {', '.join(VARIATIONS)}")
    names = set(MODELS) | set(VARIATIONS)
    bad = [k for k, _ in cfg.run_scale if k not in names]
    if bad:
        raise ValueError(f"run_scale names unknown run(s) {bad}; use model or variation names")
    if not cfg.stage_scale > 0 or any(not f > 0 for _, f in cfg.run_scale):
        raise ValueError("stage_scale and run_scale factors must be > 0")


def stage_windows(cfg: UpdatesConfig, key: str) -> tuple[tuple[int, int], ...]:
    """The stage windows of a run: paper windows × stage_scale × its run_scale factor."""
    f = cfg.stage_scale * dict(cfg.run_scale).get(key, 1.0)
    late = cfg.late_stage and key == cfg.variation_model
    wins = PAPER_STAGES + ((PAPER_LATE,) if late else ())
    return tuple((int(round(a * f)), max(int(round(b * f)), int(round(a * f)) + 1)) for a, b in wins)


def _dataset(name: str, download: bool):
    """The dataset actually used: CIFAR-10 falls back to the labelled stand-in when it cannot be had."""
    return load_dataset(name, download=download, fallback=True)


def trim(edges: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The histogram restricted to its first…last non-empty bin (fits and KS are unchanged)."""
    nz = np.flatnonzero(counts)
    if nz.size == 0:
        raise ValueError("the histogram is empty")
    return edges[nz[0]:nz[-1] + 2], counts[nz[0]:nz[-1] + 1]


def fit_stage(edges: np.ndarray, counts: np.ndarray):
    """Binned MLE power law of one stage's total |Δw| histogram and the LS slope over the same tail.

    LS: least squares on the log-binned density from the MLE x_min up to the last bin with at least
    :data:`LS_MIN_COUNT` counts (the paper's "indicative" slope; the sparse far tail flattens it).
    """
    e, c = trim(edges, counts)
    fit = fitting.fit_powerlaw_binned(e, c)
    well = np.flatnonzero(c >= LS_MIN_COUNT)
    x_hi = e[well[-1] + 1] if well.size else e[-1]
    x, p = fitting.log_binned_density(edges=e, counts=c)
    try:
        ls = fitting.loglog_fit(x, p, xrange=(fit.xmin, x_hi))
    except ValueError:
        ls = None
    return fit, ls


def analyse(key: str, label: str, figure: str, result, dataset, windows) -> RunAnalysis:
    """Fits per stage of one finished training run."""
    stats = result.probes["updates"]
    fits, ls, errors = [], [], []
    for w in range(len(windows)):
        edges, counts = stats.histogram(w)
        try:
            f, l = fit_stage(edges, counts)
            fits.append(f), ls.append(l), errors.append(None)
        except ValueError as exc:      # diverged early, or too few non-zero updates
            fits.append(None), ls.append(None), errors.append(str(exc))
    return RunAnalysis(key=key, label=label, figure=figure, train_cfg=result.cfg, dataset=dataset.name,
                       standin=dataset.standin, windows=windows, stats=stats, losses=result.losses,
                       diverged=result.diverged, n_params=result.n_params, test_acc=result.test_acc,
                       fits=fits, ls=ls, errors=errors)


def run_specs(cfg: UpdatesConfig) -> list[tuple[str, str, str, str, dict]]:
    """(key, label, figure, model, TrainConfig overrides) of every run of the chapter."""
    specs = [(m, m, MODELS[m][2], m, {}) for m in cfg.models]
    if cfg.variations and cfg.variation_model not in cfg.models:
        specs.append((cfg.variation_model, cfg.variation_model, MODELS[cfg.variation_model][2],
                      cfg.variation_model, {}))
    specs += [(v, VARIATIONS[v].label, VARIATIONS[v].figure, cfg.variation_model, dict(VARIATIONS[v].overrides))
              for v in cfg.variations]
    return specs


def run(cfg: UpdatesConfig, device=None, progress: bool = True) -> UpdatesResults:
    """Train every model and variation with the update recorder (cached) and fit each stage."""
    _check(cfg)
    runs = {}
    for key, label, figure, model, overrides in run_specs(cfg):
        data = _dataset(MODELS[model][0], cfg.cifar_download)
        windows = stage_windows(cfg, key)
        lr = cfg.transformer_lr if model == "transformer" else cfg.lr
        tc = TrainConfig(model=model, dataset=data.name, lr=lr, batch_size=cfg.batch_size,
                         steps=windows[-1][1], seed=cfg.seed, n_train=cfg.n_train,
                         n_test=cfg.n_test).replace(**overrides)
        rec = UpdateRecorder(windows=windows, sub_bits=cfg.sub_bits)
        result = train(tc, [rec], device=device, progress=progress)
        runs[key] = analyse(key, label, figure, result, data, windows)
    return UpdatesResults(cfg, runs)


# --------------------------------------------------------------------------------------------------
# claims
# --------------------------------------------------------------------------------------------------
def rejected(fit) -> bool:
    """True when a likelihood-ratio test significantly prefers log-normal or exponential."""
    return fit.favoured(P_SIGNIFICANT) in ("lognormal", "exponential")


def fit_detail(r: RunAnalysis, w: int) -> dict:
    """What a reader needs to judge one stage's fit (``tail_fraction``: share of the non-zero updates
    at/above x_min; ``zero_fraction``: share of all updates that are exactly 0)."""
    f, ls = r.fits[w], r.ls[w]
    d = {"window": r.windows[w], "dataset": r.dataset, "standin": r.standin, "n_params": r.n_params,
         "zero_fraction": r.stats.zero_fraction(w)}
    if f is None:
        return d | {"error": r.errors[w]}
    return d | {"alpha_se": f.alpha_se, "xmin": f.xmin, "ks": f.ks, "n_tail": f.n_tail,
                "tail_fraction": f.n_tail / max(f.n_total, 1),
                "R_vs_lognormal": f.comparisons["lognormal"][0], "p_vs_lognormal": f.comparisons["lognormal"][1],
                "R_vs_exponential": f.comparisons["exponential"][0],
                "p_vs_exponential": f.comparisons["exponential"][1], "favoured": f.favoured(P_SIGNIFICANT),
                "lognormal_sigma": f.details["lognormal"]["sigma"],
                "ls_alpha": None if ls is None else -ls.slope, "ls_xrange": None if ls is None else ls.x_range}


def _stage_name(w: int) -> str:
    return f"stage{w + 1}"


def _heavy(f) -> bool:
    """Heavier than exponential: the power law beats the exponential significantly."""
    R, p = f.comparisons["exponential"]
    return R > 0 and p < P_SIGNIFICANT


def claims(res: UpdatesResults) -> list[Claim]:
    out = []
    lo, hi = PAPER_ALPHA
    for key in res.keys("models"):
        r = res.runs[key]
        data = f"{r.dataset} (STAND-IN, not {MODELS[key][1]})" if r.standin else r.dataset
        for w in range(len(r.windows)):
            f = r.fits[w]
            agrees = None if (r.standin or f is None) else bool(lo <= f.alpha <= hi and not rejected(f))
            out.append(Claim(
                id=f"updates.alpha.{key.replace('-', '_')}.{_stage_name(w)}",
                statement=f"{key} on {data}, steps {r.windows[w][0]}–{r.windows[w][1]}: |Δw| is power-law "
                          f"tailed with exponent 3–5 (binned MLE; agrees iff 3≤α≤5 and the power law is "
                          f"not rejected vs log-normal/exponential)",
                paper="3-5", measured=None if f is None else f.alpha, agrees=agrees, detail=fit_detail(r, w)))
        if len(r.windows) >= 2 and all(f is not None for f in r.fits[:2]):
            d = r.fits[1].alpha - r.fits[0].alpha
            out.append(Claim(
                id=f"updates.alpha_stable.{key.replace('-', '_')}",
                statement=f"{key} on {data}: the exponent is stable between stage 1 and stage 2 "
                          f"(agrees iff |Δα| ≤ {STABLE_TOL}, our tolerance)",
                paper="stable", measured=d, agrees=None if r.standin else bool(abs(d) <= STABLE_TOL),
                detail={"alpha_stage1": r.fits[0].alpha, "alpha_stage2": r.fits[1].alpha,
                        "se": [r.fits[0].alpha_se, r.fits[1].alpha_se], "standin": r.standin}))
    for key in res.keys("variations"):
        r = res.runs[key]
        fits = r.fits
        if key == "adam":
            out.append(_adam_claim(res, r))
            continue
        ok = all(f is not None and _heavy(f) for f in fits)
        out.append(Claim(
            id=f"updates.heavy_tail.{key.replace('-', '_').replace('.', '_')}",
            statement=f"{r.label} (Fig {r.figure}): |Δw| stays heavy-tailed in every stage (agrees iff the "
                      f"power law beats the exponential, p<{P_SIGNIFICANT}, in each stage)",
            paper="heavy-tailed", measured={_stage_name(w): (None if f is None else f.alpha)
                                            for w, f in enumerate(fits)},
            agrees=ok, detail={_stage_name(w): fit_detail(r, w) for w in range(len(fits))}
            | {"diverged": r.diverged}))
    return out


def _adam_claim(res: UpdatesResults, r: RunAnalysis) -> Claim:
    """Fig S7: Adam's per-parameter rescaling cuts the tail off (no large exploratory updates)."""
    lr = r.train_cfg.lr
    nonzero = [np.flatnonzero(r.stats.histogram(w)[1]) for w in range(len(r.windows))]
    xmax = [float(r.stats.edges[nz[-1] + 1]) / lr if nz.size else None for nz in nonzero]
    fits = r.fits
    cut = all(f is not None and rejected(f) for f in fits)
    base = res.runs.get(res.cfg.variation_model)
    return Claim(
        id="updates.adam_cutoff",
        statement=f"Adam (lr {lr:g}) shows a cutoff: its tail falls faster than a power law in every stage "
                  f"(agrees iff log-normal or exponential is significantly favoured); by construction "
                  f"|Δw|/lr ≤ {ADAM_BOUND:.2f} (measured: upper edge of the largest non-empty bin)",
        paper="cutoff", measured={"favoured": [None if f is None else f.favoured(P_SIGNIFICANT) for f in fits],
                                  "max_update_over_lr": max((x for x in xmax if x is not None), default=None)},
        agrees=bool(cut),
        detail={_stage_name(w): fit_detail(r, w) for w in range(len(fits))}
        | {"max_update_over_lr_per_stage": xmax, "adam_bound": ADAM_BOUND,
           "sgd_baseline_favoured": None if base is None else
           [None if f is None else f.favoured(P_SIGNIFICANT) for f in base.fits]})


def reproduce(profile=None, device=None, progress=True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


def stage_losses(res: UpdatesResults) -> dict[str, list[float]]:
    """Mean mini-batch loss inside each stage window of every run (is stage 2 "near convergence"?)."""
    return {k: [float(np.mean(r.losses[a:b])) if b <= len(r.losses) else float("nan") for a, b in r.windows]
            for k, r in res.runs.items()}


def fit_table(res: UpdatesResults) -> str:
    """A plain-text table of every (run, stage): MLE α ± se, x_min, tail share, KS, LR tests, verdict, LS α."""
    rows = [f"{'run':20s} {'stage':>13s} {'MLE α':>12s} {'x_min':>9s} {'tail':>7s} {'KS':>6s} "
            f"{'R vs LN (p)':>17s} {'R vs exp (p)':>17s} {'verdict':>11s} {'LS α':>6s}"]
    for key, r in res.runs.items():
        for w, (f, ls) in enumerate(zip(r.fits, r.ls)):
            win = f"{r.windows[w][0]}–{r.windows[w][1]}"
            if f is None:
                rows.append(f"{key:20s} {win:>13s}  no fit: {r.errors[w]}")
                continue
            (rl, pl), (re_, pe) = f.comparisons["lognormal"], f.comparisons["exponential"]
            rows.append(f"{key:20s} {win:>13s} {f.alpha:6.2f}±{f.alpha_se:<5.2f} {f.xmin:9.2e} "
                        f"{f.n_tail / f.n_total:7.1%} {f.ks:6.3f} {rl:10.3g} ({pl:.2f}) {re_:10.3g} ({pe:.2f}) "
                        f"{f.favoured(P_SIGNIFICANT):>11s} {'—' if ls is None else format(-ls.slope, '6.2f')}")
    return "\n".join(rows)


# --------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------
STAGE_COLORS = (PALETTE["stage1"], PALETTE["stage2"], PALETTE["stage3"])


def plot_loss_curve(res: UpdatesResults, key: str = "mlp-small", ax=None):
    """Fig 1C: mini-batch training loss of one run (raw and running mean), its stage windows shaded."""
    r = res.runs[key]
    fig, ax = axes(ax)
    loss = r.losses.astype(float)
    k = max(1, len(loss) // 100)
    ax.plot(np.arange(len(loss)), loss, color="#bbbbbb", lw=0.5, label="per step")
    ax.plot(np.arange(k - 1, len(loss)), np.convolve(loss, np.ones(k) / k, mode="valid"), color="k", lw=1,
            label=f"running mean ({k} steps)")
    for w, (a, b) in enumerate(r.windows):
        ax.axvspan(a, b, color=STAGE_COLORS[w % 3], alpha=0.25, label=f"stage {w + 1}: {a}–{b}")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"mini-batch loss ({r.train_cfg.loss.upper()})")
    ax.set_yscale("log")
    ax.set_title(f"{r.label}" + (" — STAND-IN data" if r.standin else ""), fontsize=9)
    ax.legend(fontsize=6)
    return fig


def plot_distribution(res: UpdatesResults, key: str = "mlp-small", stage: int | None = None, kind: str = "pdf",
                      show_fits: bool = True, ax=None):
    """Fig 2 / S1–S7: PDF (log bins) or CCDF of |Δw| of one run, one or all stages, with MLE and LS lines."""
    if key not in res.runs:
        raise ValueError(f"no run {key!r}; choose from {', '.join(res.runs)}")
    if kind not in ("pdf", "ccdf"):
        raise ValueError(f"kind must be 'pdf' or 'ccdf', got {kind!r}")
    r = res.runs[key]
    if stage is not None and not 0 <= stage < len(r.windows):
        raise ValueError(f"run {key!r} has stages 0…{len(r.windows) - 1}, got stage={stage!r}")
    stages = range(len(r.windows)) if stage is None else [stage]
    fig, ax = axes(ax)
    for w in stages:
        e, c = r.stats.histogram(w)
        if not c.any():
            continue
        e, c = trim(e, c)
        a, b = r.windows[w]
        col = STAGE_COLORS[w % 3]
        f, ls = r.fits[w], r.ls[w]
        if kind == "pdf":
            x, p = fitting.log_binned_density(edges=e, counts=c)
            ax.loglog(x, p, "o", ms=2.5, color=col, label=f"steps {a}–{b}")
            if show_fits and f is not None:
                k = np.searchsorted(x, f.xmin)
                y0 = p[min(k, len(p) - 1)]
                powerlaw_guide(ax, f.alpha, f.xmin, y0, e[-1], color=col, ls="-",
                               label=f"MLE α={f.alpha:.2f} ({f.favoured(P_SIGNIFICANT)})")
                if ls is not None:
                    x0, x1 = ls.x_range
                    powerlaw_guide(ax, -ls.slope, x0, math.exp(ls.intercept) * x0 ** ls.slope, x1,
                                   color=col, ls=":", label=f"LS α={-ls.slope:.2f}")
            ax.set_ylabel("probability density p(|Δw|)")
        else:
            x, cc = fitting.ccdf(edges=e, counts=c)
            ax.loglog(x, cc, "-", color=col, label=f"steps {a}–{b}")
            if show_fits and f is not None:
                k = np.searchsorted(x, f.xmin)
                powerlaw_guide(ax, f.alpha - 1, f.xmin, cc[min(k, len(cc) - 1)], e[-1], color=col, ls="--",
                               label=f"MLE tail, slope −(α−1)={1 - f.alpha:.2f}")
            ax.set_ylabel("P(|Δw| ≥ x)")
    ax.set_xlabel("|Δw| (parameter units per step)")
    std = " — STAND-IN data" if r.standin else ""
    ax.set_title(f"{r.label} ({r.figure}){std}", fontsize=9)
    ax.legend(fontsize=6)
    return fig


def plot_layers(res: UpdatesResults, key: str = "mlp-small", stage: int = 0, ax=None):
    """PDF of |Δw| per layer of one run and stage (the recorder keeps every layer's histogram)."""
    r = res.runs[key]
    fig, ax = axes(ax)
    for li, (name, size) in enumerate(zip(r.stats.layer_names, r.stats.layer_sizes)):
        e, c = r.stats.histogram(stage, li)
        if c.any():
            x, p = fitting.log_binned_density(edges=e, counts=c)
            ax.loglog(x, p, ".-", ms=2, lw=0.6, label=f"layer {name} ({size:,} params)")
    a, b = r.windows[stage]
    ax.set_xlabel("|Δw| (parameter units per step)")
    ax.set_ylabel("probability density p(|Δw|)")
    ax.set_title(f"{r.label}, steps {a}–{b}, per layer", fontsize=9)
    ax.legend(fontsize=6)
    return fig


def plot_panels(res: UpdatesResults, keys=None, plot=None, ncols: int = 3, **kw):
    """A grid of ``plot(res, key, ax=…, **kw)`` panels, :func:`plot_distribution` by default
    (Fig 2: the models; Figs S2–S7: the variations; with :func:`plot_loss_curve`: Fig 1C)."""
    plot = plot_distribution if plot is None else plot
    keys = list(res.runs) if keys is None else list(keys)
    nrows = -(-len(keys) // ncols)
    fig, axs = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), constrained_layout=True,
                            squeeze=False)
    for ax, key in zip(axs.ravel(), keys):
        plot(res, key, ax=ax, **kw)
    for ax in axs.ravel()[len(keys):]:
        ax.set_visible(False)
    return fig


def plot_exponents(res: UpdatesResults, ax=None):
    """Every (run, stage): binned-MLE α ± se next to the paper's LS slope, with the paper's 3–5 band."""
    fig, ax = axes(ax, figsize=(7, 3.8))
    labels = []
    for i, (key, r) in enumerate(res.runs.items()):
        labels.append(key)
        for w, (f, ls) in enumerate(zip(r.fits, r.ls)):
            dx = (w - (len(r.windows) - 1) / 2) * 0.18
            if f is not None:
                ax.errorbar(i + dx, f.alpha, yerr=f.alpha_se, fmt="o", color=STAGE_COLORS[w % 3],
                            mfc="none" if rejected(f) else STAGE_COLORS[w % 3], ms=5,
                            label=f"MLE, stage {w + 1}" if i == 0 else None)
            if ls is not None:
                ax.plot(i + dx, -ls.slope, "x", color=STAGE_COLORS[w % 3],
                        label=f"LS, stage {w + 1}" if i == 0 else None)
    ax.axhspan(*PAPER_ALPHA, color="#cccccc", alpha=0.4, label="paper: 3–5")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("tail exponent α of p(|Δw|) ∝ |Δw|^−α")
    ax.set_title("open circle: power law rejected by a likelihood-ratio test", fontsize=8)
    ax.legend(fontsize=6, ncol=2)
    return fig
