"""Chapter 11 — criticality metrics of whole networks, and training toward criticality (paper 004).

Experiments:

1. **Init sweep** (Figs. 11.1–11.5): the book's MLP (``mlp-small`` shape, tanh, ``init="normal"`` with
   σ_b fixed) at σ_w² = r·σ_c², r spanning ordered (r < 1), critical (r = 1, mean-field χ₁ = 1) and
   chaotic (r > 1), each trained with plain SGD and watched by a :class:`CriticalityProbe` (λ₀, σ, Δ),
   an :class:`UpdateRecorder` (chapter 1's update exponent), an :class:`ActivityProbe` (chapter 6's
   ‖C‖_F transition) and a :class:`SampleLossProbe` (chapter 7's convergence criterion).
2. **Regularised vs plain** (Fig. 11.6): :func:`critnotes.training.regularised.train_regularised` on two
   permuted-MNIST tasks for each (init, penalty β): accuracy, robustness to pixel noise, retention of
   task 0 after task 1, and λ₀ along the way.
"""
from __future__ import annotations

import dataclasses
import math
import sys

import numpy as np
from scipy import stats

from critnotes.analysis import criticality as crit
from critnotes.analysis import loss_concentration as conc
from critnotes.analysis.fitting import fit_powerlaw_binned
from critnotes.book.chapters import summarize
from critnotes.book.plotting import axes
from critnotes.book.profiles import chapter_config
from critnotes.book.results import Claim
from critnotes.probes.activity import ActivityProbe, SampleLossProbe
from critnotes.probes.criticality_probe import CriticalityProbe, CriticalityRecord
from critnotes.probes.update_recorder import UpdateRecorder
from critnotes.training.loop import TrainConfig, log_checkpoints, train
from critnotes.training.regularised import RegularisedConfig, train_regularised
from critnotes.training.sweeps import Failed, sweep

CHAPTER = "criticality-metrics"


@dataclasses.dataclass(frozen=True)
class CriticalityMetricsConfig:
    hidden: tuple[int, ...] = (50, 50, 50, 50)       # mlp-small's hidden layers
    activation: str = "tanh"
    bias_scale: float = 0.1                          # σ_b (σ_b² = 0.01)
    ratios: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)   # σ_w² / σ_c²
    lr: float = 0.05
    batch_size: int = 64
    steps: int = 4000
    n_train: int | None = None
    n_test: int | None = None
    seed: int = 0
    n_checkpoints: int = 20
    n_probe: int = 256                               # inputs for λ₀, σ, Δ
    n_activity: int = 500                            # inputs for the correlation matrix
    reg_ratios: tuple[float, ...] = (0.25, 1.0, 4.0)
    penalties: tuple[float, ...] = (0.0, 0.1, 1.0)   # β; 0 = plain training
    reg_steps: int = 2000                            # per task
    tasks: int = 2
    noise_level: float = 0.5                         # pixel-noise std of the robustness claim
    n_jobs: int = 1

    @property
    def sigma_c2(self) -> float:
        """Mean-field critical σ_w² (χ₁ = 1) at this σ_b."""
        return crit.critical_sigma_w2(self.activation, self.bias_scale ** 2)


PROFILES = {
    "ci": CriticalityMetricsConfig(ratios=(0.25, 1.0, 4.0), steps=120, n_train=1000, n_test=500, n_checkpoints=6,
                                   n_probe=64, n_activity=100, reg_ratios=(0.25,), penalties=(0.0, 1.0),
                                   reg_steps=60),
    "quick": CriticalityMetricsConfig(),
    "paper": CriticalityMetricsConfig(ratios=(0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 8.0, 16.0), steps=20_000,
                                      n_checkpoints=30, n_probe=1000, n_activity=1000, reg_steps=10_000, tasks=3,
                                      penalties=(0.0, 0.03, 0.1, 0.3, 1.0)),
}


@dataclasses.dataclass
class SweepPoint:
    """One init of the sweep: metrics over training and the other chapters' observables."""

    ratio: float
    sigma_w2: float
    chi1: float                        # mean-field χ₁ at this init
    metrics: CriticalityRecord    # λ₀, σ, Δ over training
    test_acc: float
    diverged: bool
    update_alpha: float                # chapter 1: MLE exponent of the binned |Δw| histogram (nan if no fit)
    update_xmin: float
    cfro: np.ndarray                   # chapter 6: ‖C‖_F per checkpoint
    cfro_steps: np.ndarray
    conv: np.ndarray                   # chapter 7: 𝓛 = ln(L̄/ΔS) per checkpoint

    @property
    def mf_lyapunov(self) -> float:
        return 0.5 * math.log(self.chi1)

    @property
    def cfro_peak_step(self) -> int:
        return int(self.cfro_steps[int(np.argmax(self.cfro))])


@dataclasses.dataclass
class CriticalityMetricsResults:
    cfg: CriticalityMetricsConfig
    sigma_c2: float
    sweep: list[SweepPoint]
    regularised: dict                  # (ratio, penalty) → RegularisedResult

    def point(self, ratio: float) -> SweepPoint:
        return min(self.sweep, key=lambda p: abs(math.log(p.ratio / ratio)))

    def reg(self, ratio: float, penalty: float) -> crit.RegularisedResult:
        key = min(self.regularised, key=lambda k: (abs(math.log(k[0] / ratio)), abs(k[1] - penalty)))
        return self.regularised[key]


def train_config(cfg: CriticalityMetricsConfig, ratio: float, steps: int) -> TrainConfig:
    return TrainConfig(model="mlp", hidden=cfg.hidden, activation=cfg.activation, init="normal",
                       init_scale=math.sqrt(ratio * cfg.sigma_c2), bias_scale=cfg.bias_scale, lr=cfg.lr,
                       batch_size=cfg.batch_size, steps=steps, seed=cfg.seed, n_train=cfg.n_train, n_test=cfg.n_test)


def _sweep_point(job) -> SweepPoint:
    cfg, ratio, device, progress = job
    tc = train_config(cfg, ratio, cfg.steps)
    ckpts = tuple(log_checkpoints(cfg.steps, cfg.n_checkpoints))
    probes = [CriticalityProbe(ckpts, n_probe=cfg.n_probe), UpdateRecorder(windows=((0, cfg.steps),)),
              ActivityProbe(ckpts, n_probe=cfg.n_activity), SampleLossProbe(ckpts)]
    r = train(tc, probes, device=device, progress=progress)
    edges, counts = r.probes["updates"].histogram(0)
    try:
        fit = fit_powerlaw_binned(edges, counts)
        alpha, xmin = fit.alpha, fit.xmin
    except ValueError:
        alpha = xmin = float("nan")
    act, sl = r.probes["activity"], r.probes["sample_loss"]
    hidden = act.activity[:, :, : sum(act.layer_sizes[:-1])]          # hidden neurons (logits excluded)
    conv = conc.criterion_series(sl.steps, sl.losses).crit        # chapter 7's ΔS and 𝓛 (paper 003 Fig 2d)
    return SweepPoint(ratio, tc.init_scale ** 2, crit.chi1(tc.init_scale ** 2, cfg.bias_scale ** 2, cfg.activation),
                      r.probes["criticality"], r.test_acc, r.diverged, alpha, xmin,
                      crit.correlation_frobenius(hidden), act.steps, conv)


def _regularised(job) -> crit.RegularisedResult:
    cfg, ratio, beta, device, progress = job
    rc = RegularisedConfig(train_config(cfg, ratio, cfg.reg_steps), penalty=beta, tasks=cfg.tasks,
                                n_probe=cfg.n_probe, n_checkpoints=max(cfg.n_checkpoints // 2, 4),
                                noise_levels=tuple(sorted({0.0, 0.25, cfg.noise_level, 1.0})))
    return train_regularised(rc, device=device, progress=progress)


def run(cfg: CriticalityMetricsConfig, device=None, progress: bool = True) -> CriticalityMetricsResults:
    """Init sweep with probes + regularised-vs-plain continual learning (all trainings cached)."""
    if 1.0 not in cfg.ratios:
        raise ValueError(f"ratios must contain 1.0 (the mean-field critical init), got {cfg.ratios}")
    pts = sweep(_sweep_point, [(cfg, r, device, False) for r in cfg.ratios], n_jobs=cfg.n_jobs,
                desc="init sweep", progress=progress)
    keys = [(r, b) for r in cfg.reg_ratios for b in cfg.penalties]
    regs = sweep(_regularised, [(cfg, r, b, device, False) for r, b in keys], n_jobs=cfg.n_jobs,
                 desc="regularised vs plain", progress=progress)
    for x in (*pts, *regs):
        if isinstance(x, Failed):
            raise RuntimeError(f"a training of chapter {CHAPTER} failed: {x.error}")
    return CriticalityMetricsResults(cfg, cfg.sigma_c2, pts, dict(zip(keys, regs)))


# ------------------------------------------------------------------------------------------------
# claims
# ------------------------------------------------------------------------------------------------
def _direction(diff: float, se: float) -> bool | None:
    """True/False when ``diff`` is beyond 2 standard errors in the paper's / the opposite direction."""
    if not np.isfinite(diff):
        return None
    return True if diff > 2 * se else False if diff < -2 * se else None


def _acc_se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-12) / max(n, 1))


def _spearman(x, y) -> dict:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return {"rho": float("nan"), "p": float("nan"), "n": int(ok.sum())}
    rho, p = stats.spearmanr(x[ok], y[ok])
    return {"rho": float(rho), "p": float(p), "n": int(ok.sum())}


def relations(res: CriticalityMetricsResults) -> dict:
    """Spearman ρ of each observable against the mean-field distance from criticality |½ ln χ₁|."""
    d = [abs(p.mf_lyapunov) for p in res.sweep]
    return {
        "update_alpha": _spearman(d, [p.update_alpha for p in res.sweep]),
        "cfro_peak_step": _spearman(d, [p.cfro_peak_step for p in res.sweep]),
        "convergence_final": _spearman(d, [p.conv[-1] for p in res.sweep]),
        "test_acc": _spearman(d, [p.test_acc for p in res.sweep]),
    }


def claims(res: CriticalityMetricsResults) -> list[Claim]:
    cfg = res.cfg
    lo, c, hi = res.point(min(cfg.ratios)), res.point(1.0), res.point(max(cfg.ratios))
    init = {name: (p.metrics.lyapunov[0], p.metrics.branching[0], p.metrics.dynamic_range[0])
            for name, p in (("ordered", lo), ("critical", c), ("chaotic", hi))}
    lam = {k: v[0] for k, v in init.items()}
    sig = {k: v[1] for k, v in init.items()}
    dr = {k: v[2] for k, v in init.items()}
    inits = {k: f"σ_w²={p.sigma_w2:.3g} (r={p.ratio:g})" for k, p in (("ordered", lo), ("critical", c), ("chaotic", hi))}
    all_dr = {f"r={p.ratio:g}": p.metrics.dynamic_range[0] for p in res.sweep}
    best_dr = max(res.sweep, key=lambda p: np.nan_to_num(p.metrics.dynamic_range[0], nan=-1e9)).ratio
    out = [
        Claim(f"{CHAPTER}.lyapunov.init", "largest Lyapunov exponent λ₀ = 0 at criticality (<0 ordered, >0 chaotic)",
              "0 at criticality", lam,
              bool(lam["ordered"] < 0 < lam["chaotic"] and abs(lam["critical"]) < min(-lam["ordered"], lam["chaotic"])),
              {"inits": inits, "mean_field_half_ln_chi1": {k: p.mf_lyapunov for k, p in
                                                           (("ordered", lo), ("critical", c), ("chaotic", hi))},
               "units": "nats per layer", "at": "initialisation, 4 tanh hidden layers"}),
        Claim(f"{CHAPTER}.branching.init", "branching parameter σ = 1 at criticality (<1 ordered, >1 chaotic)",
              1.0, sig,
              bool(sig["ordered"] < 1 < sig["chaotic"] and abs(sig["critical"] - 1) < min(1 - sig["ordered"],
                                                                                          sig["chaotic"] - 1)),
              {"inits": inits, "mean_field_chi1": {"ordered": lo.chi1, "critical": c.chi1, "chaotic": hi.chi1}}),
        Claim(f"{CHAPTER}.dynamic_range.init", "dynamic range Δ is maximal at criticality",
              "max at criticality", dr, bool(best_dr == c.ratio),
              {"all_inits_dB": all_dr, "argmax_ratio": best_dr, "units": "dB",
               "response": "RMS activity of the last hidden layer vs input intensity s (images × s)"}),
    ]
    rel = relations(res)
    acc_rel = rel.pop("test_acc")
    out.append(Claim(f"{CHAPTER}.performance_vs_distance", "performance is best near criticality "
                     "(test accuracy falls with distance |½ ln χ₁| from the critical init)",
                     "direction only", acc_rel["rho"],
                     None if acc_rel["n"] < 5 or not acc_rel["p"] <= 0.1 else bool(acc_rel["rho"] < 0),
                     {**acc_rel, "test_acc": {f"r={p.ratio:g}": p.test_acc for p in res.sweep},
                      "note": "agrees=None with < 5 inits or Spearman p > 0.1 (too few to tell)"}))
    out.append(Claim(f"{CHAPTER}.relations", "other chapters' observables vs distance from criticality "
                     "(book question; paper 004 gives no number)", None,
                     {k: v["rho"] for k, v in rel.items()}, None,
                     {**rel, "update_alpha": {f"r={p.ratio:g}": p.update_alpha for p in res.sweep},
                      "cfro_peak_step": {f"r={p.ratio:g}": p.cfro_peak_step for p in res.sweep},
                      "convergence_final": {f"r={p.ratio:g}": float(p.conv[-1]) for p in res.sweep}}))
    shrink = {f"r={p.ratio:g}": bool(abs(p.metrics.lyapunov[-1]) < abs(p.metrics.lyapunov[0]))
              for p in res.sweep if p.ratio != 1.0}
    out.append(Claim(f"{CHAPTER}.training_toward_criticality", "plain SGD moves off-critical inits toward λ₀ = 0 "
                     "(book observation; paper 004 says progress across models did, not training)", None,
                     float(np.mean(list(shrink.values()))), None,
                     {"fraction_of_offcritical_inits_whose_abs_lambda0_shrank": shrink,
                      "lyapunov_init_to_end": {f"r={p.ratio:g}": [p.metrics.lyapunov[0], p.metrics.lyapunov[-1]]
                                               for p in res.sweep}}))
    betas = [b for b in cfg.penalties if b > 0]
    if 0.0 in cfg.penalties and betas:
        b = max(betas)
        for r in cfg.reg_ratios:
            plain, pen = res.reg(r, 0.0), res.reg(r, b)
            n = plain.n_test
            k = plain.cfg.noise_levels.index(cfg.noise_level)
            tag = f"r{r:g}"
            a0, a1 = plain.acc[0, 0], pen.acc[0, 0]
            out.append(Claim(f"{CHAPTER}.accuracy.{tag}", f"criticality training improves accuracy "
                             f"(task-0 test accuracy, β={b:g} vs plain, init r={r:g})", "higher with penalty",
                             {"plain": a0, "penalised": a1}, _direction(a1 - a0, math.hypot(_acc_se(a0, n), _acc_se(a1, n))),
                             {"beta": b, "steps": cfg.reg_steps, "note": "agrees=None when |difference| < 2 binomial SE",
                              "seconds": {"plain": plain.seconds, "penalised": pen.seconds}}))
            n0, n1 = plain.noise_acc[k], pen.noise_acc[k]
            out.append(Claim(f"{CHAPTER}.robustness.{tag}", f"criticality training improves robustness "
                             f"(accuracy under pixel noise std {cfg.noise_level:g})", "higher with penalty",
                             {"plain": n0, "penalised": n1}, _direction(n1 - n0, math.hypot(_acc_se(n0, n), _acc_se(n1, n))),
                             {"noise_levels": plain.cfg.noise_levels, "plain_curve": plain.noise_acc,
                              "penalised_curve": pen.noise_acc}))
            r0, r1 = plain.retention, pen.retention
            se = math.hypot(_acc_se(plain.acc[-1, 0], n) / max(a0, 1e-9), _acc_se(pen.acc[-1, 0], n) / max(a1, 1e-9))
            out.append(Claim(f"{CHAPTER}.retention.{tag}", f"criticality training keeps performance in continual "
                             f"learning (task-0 accuracy after {cfg.tasks - 1} more permuted-MNIST task(s) ÷ before)",
                             "higher with penalty", {"plain": r0, "penalised": r1}, _direction(r1 - r0, se),
                             {"acc_plain": plain.acc, "acc_penalised": pen.acc,
                              "lyapunov_end_of_each_task": {
                                  "plain": _task_end(plain), "penalised": _task_end(pen)},
                              "plain_loses_criticality": bool(abs(_task_end(plain)[-1]) > abs(_task_end(plain)[0])),
                              "penalty_keeps_it": bool(abs(_task_end(pen)[-1]) <= abs(_task_end(plain)[-1]))}))
    return out


def _task_end(r: crit.RegularisedResult) -> list[float]:
    """λ₀ at the last checkpoint of each task."""
    m, task = r.metrics, r.task_of_checkpoint
    return [float(m.lyapunov[np.flatnonzero(task == t)[-1]]) for t in np.unique(task)]


def reproduce(profile=None, device=None, progress=True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


# ------------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------------
def _cmap(res, ratio):
    import matplotlib.pyplot as plt

    lr = np.log2(np.array(res.cfg.ratios))
    return plt.cm.coolwarm((math.log2(ratio) - lr.min()) / max(np.ptp(lr), 1e-9))


def plot_critical_line(res: CriticalityMetricsResults | None = None, *, activation: str = "tanh", ax=None):
    """Fig. 11.1: mean-field ½ ln χ₁ over (σ_w², σ_b²) with the order-to-chaos line χ₁ = 1 and the sweep."""

    fig, ax = axes(ax, figsize=(5, 3.8))
    sw = np.logspace(-1, 1.3, 60)
    sb = np.linspace(0, 0.5, 26)
    lam = np.array([[0.5 * math.log(crit.chi1(w, b, activation)) for w in sw] for b in sb])
    m = ax.pcolormesh(sw, sb, lam, cmap="coolwarm", vmin=-1, vmax=1, shading="auto")
    fig.colorbar(m, ax=ax, label="mean-field ½ ln χ₁ (nats/layer)")
    line = [crit.critical_sigma_w2(activation, b) for b in sb]
    ax.plot(line, sb, "k-", lw=2, label=f"{activation}: χ₁ = 1")
    if activation == "tanh":
        ax.axvline(2.0, color="k", ls="--", lw=1, label="ReLU: σ_w² = 2")
    if res is not None:
        ax.plot([p.sigma_w2 for p in res.sweep], [res.cfg.bias_scale ** 2] * len(res.sweep), "o", mfc="w",
                mec="k", label="init sweep")
    ax.set_xscale("log")
    ax.set_xlabel("weight variance σ_w²")
    ax.set_ylabel("bias variance σ_b²")
    ax.set_title("ordered (blue) | chaotic (red)")
    ax.legend(loc="upper left", fontsize=7)
    return fig


def plot_metrics_vs_init(res: CriticalityMetricsResults, *, when: str = "both"):
    """Fig. 11.2: λ₀, σ and Δ against σ_w² at initialisation and after training, with mean-field theory."""
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 3, figsize=(12, 3.4), constrained_layout=True)
    sw = np.array([p.sigma_w2 for p in res.sweep])
    grid = np.logspace(np.log10(sw.min()), np.log10(sw.max()), 80)
    chi = np.array([crit.chi1(w, res.cfg.bias_scale ** 2, res.cfg.activation) for w in grid])
    for ax, key, ylabel, theory in ((axs[0], "lyapunov", "λ₀ (nats / layer)", 0.5 * np.log(chi)),
                                    (axs[1], "branching", "branching parameter σ", chi),
                                    (axs[2], "dynamic_range", "dynamic range Δ (dB)", None)):
        for idx, lab, mk in ((0, "at init", "o-"), (-1, "after training", "s--")):
            if when in ("both", lab.split()[0]):
                ax.plot(sw, [getattr(p.metrics, key)[idx] for p in res.sweep], mk, label=lab)
        if theory is not None:
            ax.plot(grid, theory, "k:", label="mean field")
            ax.axhline(1.0 if key == "branching" else 0.0, color="0.6", lw=0.8)
        ax.axvline(res.sigma_c2, color="k", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_xlabel("σ_w² at init (dashed: mean-field critical)")
        ax.set_ylabel(ylabel)
    axs[1].set_yscale("log")
    axs[0].legend(fontsize=8)
    return fig


def plot_response_curves(res: CriticalityMetricsResults, *, step_index: int = 0, ax=None):
    """Fig. 11.3: response R(s) (normalised to its range) per init, with the 10 %/90 % levels."""
    fig, ax = axes(ax, figsize=(5, 3.5))
    for p in res.sweep:
        m = p.metrics
        r = m.response[step_index]
        f = (r - r[0]) / max(r.max() - r[0], 1e-12)
        ax.semilogx(m.intensities, f, color=_cmap(res, p.ratio),
                    label=f"σ_w²={p.sigma_w2:.2g}: Δ={m.dynamic_range[step_index]:.1f} dB")
    for lvl in (0.1, 0.9):
        ax.axhline(lvl, color="0.5", ls=":", lw=1)
    ax.set_xlabel("input intensity s (image × s)")
    ax.set_ylabel("normalised response (R − R₀)/(R_max − R₀)")
    ax.set_title(f"step {int(res.sweep[0].metrics.steps[step_index])}")
    ax.legend(fontsize=7)
    return fig


def plot_metrics_over_training(res: CriticalityMetricsResults):
    """Fig. 11.4: λ₀, σ, Δ at log-spaced checkpoints for each init."""
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 3, figsize=(12, 3.4), constrained_layout=True)
    for p in res.sweep:
        m = p.metrics
        t = np.maximum(m.steps, 0.5)
        for ax, y in zip(axs, (m.lyapunov, m.branching, m.dynamic_range)):
            ax.semilogx(t, y, "o-", ms=3, color=_cmap(res, p.ratio), label=f"σ_w²={p.sigma_w2:.2g}")
    for ax, lab, ref in zip(axs, ("λ₀ (nats / layer)", "branching parameter σ", "dynamic range Δ (dB)"),
                            (0.0, 1.0, None)):
        if ref is not None:
            ax.axhline(ref, color="k", lw=0.8, ls="--")
        ax.set_xlabel("SGD step t (0 plotted at 0.5)")
        ax.set_ylabel(lab)
    axs[1].set_yscale("log")
    axs[0].legend(fontsize=7)
    return fig


def plot_relations(res: CriticalityMetricsResults):
    """Fig. 11.5: update exponent (ch. 1), ‖C‖_F peak time (ch. 6), final ln(L̄/ΔS) (ch. 7), accuracy vs λ_MF."""
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 4, figsize=(14, 3.2), constrained_layout=True)
    x = [p.mf_lyapunov for p in res.sweep]
    rel = relations(res)
    for ax, key, lab, yfun in (
            (axs[0], "update_alpha", "update exponent α of |Δw|", lambda p: p.update_alpha),
            (axs[1], "cfro_peak_step", "step of max ‖C‖_F", lambda p: max(p.cfro_peak_step, 0.5)),
            (axs[2], "convergence_final", "final criterion ln(mean L / ΔS)", lambda p: p.conv[-1]),
            (axs[3], "test_acc", "test accuracy", lambda p: p.test_acc)):
        ax.scatter(x, [yfun(p) for p in res.sweep], c=[_cmap(res, p.ratio) for p in res.sweep], edgecolors="k")
        ax.axvline(0, color="k", lw=0.8, ls="--")
        ax.set_xlabel("mean-field ½ ln χ₁ at init (nats/layer)")
        ax.set_ylabel(lab)
        ax.set_title(f"Spearman ρ vs |½ ln χ₁| = {rel[key]['rho']:.2f}", fontsize=9)
    axs[1].set_yscale("log")
    return fig


def plot_regularised(res: CriticalityMetricsResults, init_ratio: float = 1.0, penalty: float | None = None):
    """Fig. 11.6 (widget): λ₀ over two permuted-MNIST tasks, task accuracies and noise robustness,
    penalised (β = ``penalty``) vs plain from the same init σ_w² = ``init_ratio``·σ_c²."""
    import matplotlib.pyplot as plt

    penalty = max(res.cfg.penalties) if penalty is None else penalty
    plain, pen = res.reg(init_ratio, 0.0), res.reg(init_ratio, penalty)
    fig, axs = plt.subplots(1, 3, figsize=(13, 3.4), constrained_layout=True)
    for r, lab, col in ((plain, "plain", "#264653"), (pen, f"β={pen.cfg.penalty:g}", "#e76f51")):
        axs[0].plot(r.metrics.steps, r.metrics.lyapunov, "o-", ms=3, color=col, label=lab)
        axs[2].plot(r.cfg.noise_levels, r.noise_acc, "o-", color=col, label=lab)
    for t in range(1, res.cfg.tasks):
        axs[0].axvline(t * res.cfg.reg_steps, color="0.5", ls=":")
    axs[0].axhline(0, color="k", lw=0.8, ls="--")
    axs[0].set_xlabel("SGD step (dotted: task switch)")
    axs[0].set_ylabel("λ₀ (nats / layer)")
    axs[0].legend(fontsize=8)
    w = 0.38
    tasks = np.arange(res.cfg.tasks)
    for j, (r, col, lab) in enumerate(((plain, "#264653", "plain"), (pen, "#e76f51", f"β={pen.cfg.penalty:g}"))):
        axs[1].bar(tasks + (j - 0.5) * w, r.acc[-1], w, color=col, alpha=0.9, label=f"{lab}, after last task")
        axs[1].plot(tasks + (j - 0.5) * w, np.diag(r.acc), "k_", ms=14, mew=2,
                    label="right after training it" if j == 0 else None)
    axs[1].set_xticks(tasks, [f"task {t}" for t in tasks])
    axs[1].set_xlabel("permuted-MNIST task (left bar plain, right bar penalised)")
    axs[1].set_ylabel("test accuracy")
    axs[1].set_ylim(0, 1)
    axs[1].legend(fontsize=7, loc="lower left")
    axs[2].set_xlabel("pixel-noise std (images in [0, 1])")
    axs[2].set_ylabel("task-0 test accuracy")
    axs[2].legend(fontsize=8)
    fig.suptitle(f"init σ_w² = {plain.cfg.train.init_scale ** 2:.2g} ({init_ratio:g}·σ_c²)", fontsize=10)
    return fig
