"""Chapter 11 — criticality metrics of whole networks, and training toward criticality (paper 004).

Paper 004 (our copy: the abstract only) gives no methods and no numbers, so every setting below is ours
and each difference is stated next to the claim it may move.  Data: MNIST (``dataset``: the embedded
``mnist-10k`` on ci/quick, full ``mnist`` on paper), pixels in [0, 1] (``normalize="none"``; the
noise-robustness levels are in those units).

Experiments:

1. **Init ensemble** (Fig. 11.2, checks): ``init_seeds`` untrained networks per σ_w² = r·σ_c²; λ₀, σ, Δ at
   initialisation against the mean-field prediction of the same finite-depth network.
2. **Init sweep** (Figs. 11.1–11.5): the book's MLP (``mlp-small`` shape, tanh, ``init="normal"`` with
   σ_b fixed) at σ_w² = r·σ_c², r spanning ordered (r < 1), critical (r = 1, mean-field χ₁ = 1) and
   chaotic (r > 1), each trained with plain SGD and watched by a :class:`CriticalityProbe` (λ₀, σ, Δ),
   an :class:`UpdateRecorder` (chapter 1's update exponent), an :class:`ActivityProbe` (chapter 6's
   ‖C‖_F transition) and a :class:`SampleLossProbe` (chapter 7's convergence criterion).
3. **Regularised vs plain** (Fig. 11.6): :func:`critnotes.training.regularised.train_regularised` on
   permuted-MNIST tasks for each (init, penalty β): accuracy, robustness to pixel noise, retention of
   task 0 after the later tasks, and λ₀ along the way.
4. **Model collapse** (Fig. 11.7): :func:`critnotes.training.collapse.train_collapse`, generations trained
   on the previous generation's sampled labels, plain and penalised, with λ₀ tracked.
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
from critnotes.book.verdicts import Verdict, missing, rule
from critnotes.probes.activity import ActivityProbe, SampleLossProbe, probe_indices
from critnotes.probes.criticality_probe import CriticalityProbe, CriticalityRecord
from critnotes.probes.update_recorder import UpdateRecorder
from critnotes.training.collapse import CollapseConfig, CollapseResult, train_collapse
from critnotes.training.loop import TrainConfig, log_checkpoints, make_model, run_data, train
from critnotes.training.regularised import RegularisedConfig, RegularisedResult, train_regularised
from critnotes.training.sweeps import Failed, sweep

CHAPTER = "criticality-metrics"
#: tolerances of the mean-field checks: λ₀ in nats/layer (mean field neglects the O(1/width) Jensen gap
#: between ⟨ln g⟩ and ½ ln⟨g²⟩), σ as a ratio to the prediction
LYAPUNOV_TOL = 0.1
BRANCHING_RTOL = 0.05


@dataclasses.dataclass(frozen=True)
class CriticalityMetricsConfig:
    dataset: str = "mnist-10k"                       # "mnist" (full) on the paper profile
    normalize: str = "none"                          # pixels in [0, 1]
    hidden: tuple[int, ...] = (50, 50, 50, 50)       # mlp-small's hidden layers
    activation: str = "tanh"
    bias_scale: float = 0.1                          # σ_b (σ_b² = 0.01)
    ratios: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)   # σ_w² / σ_c²
    init_seeds: int = 8                              # untrained networks per ratio for the init checks
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
    collapse_ratio: float = 1.0                      # init of the model-collapse generations
    collapse_penalty: float = 1.0                    # β of the penalised generations
    collapse_generations: int = 5
    collapse_steps: int = 1000                       # per generation
    collapse_labels: str = "sample"                  # generated labels: softmax samples or argmax
    n_jobs: int = 1

    @property
    def sigma_c2(self) -> float:
        """Mean-field critical σ_w² (χ₁ = 1) at this σ_b."""
        return crit.critical_sigma_w2(self.activation, self.bias_scale ** 2)


PROFILES = {
    "ci": CriticalityMetricsConfig(ratios=(0.25, 1.0, 4.0), init_seeds=4, steps=120, n_train=1000, n_test=500,
                                   n_checkpoints=6, n_probe=64, n_activity=100, reg_ratios=(0.25,),
                                   penalties=(0.0, 1.0), reg_steps=60, collapse_generations=3, collapse_steps=60),
    "quick": CriticalityMetricsConfig(),
    "paper": CriticalityMetricsConfig(dataset="mnist", ratios=(0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 8.0, 16.0),
                                      init_seeds=16, steps=20_000, n_checkpoints=30, n_probe=1000, n_activity=1000,
                                      reg_steps=10_000, tasks=3, penalties=(0.0, 0.03, 0.1, 0.3, 1.0),
                                      collapse_generations=10, collapse_steps=5000),
}


@dataclasses.dataclass(frozen=True)
class InitEnsemble:
    """λ₀, σ, Δ of ``init_seeds`` untrained networks per ratio (rows: ``ratios``), and the mean-field
    predictions ⟨½ ln χ₁ˡ⟩ and ⟨χ₁ˡ⟩ of the same 4-layer transient on the same inputs."""

    ratios: tuple[float, ...]
    sigma_w2: np.ndarray          # (R,)
    lyapunov: np.ndarray          # (R, K)
    branching: np.ndarray         # (R, K)
    dynamic_range: np.ndarray     # (R, K)
    mf_lyapunov: np.ndarray       # (R,)
    mf_branching: np.ndarray      # (R,)

    def row(self, ratio: float) -> int:
        return int(np.argmin([abs(math.log(r / ratio)) for r in self.ratios]))


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
    ensemble: InitEnsemble
    sweep: list[SweepPoint]
    regularised: dict                  # (ratio, penalty) → RegularisedResult
    collapse: dict                     # "plain" / "penalised" → CollapseResult

    def point(self, ratio: float) -> SweepPoint:
        return min(self.sweep, key=lambda p: abs(math.log(p.ratio / ratio)))

    def reg(self, ratio: float, penalty: float) -> RegularisedResult:
        key = min(self.regularised, key=lambda k: (abs(math.log(k[0] / ratio)), abs(k[1] - penalty)))
        return self.regularised[key]


def train_config(cfg: CriticalityMetricsConfig, ratio: float, steps: int) -> TrainConfig:
    return TrainConfig(model="mlp", dataset=cfg.dataset, normalize=cfg.normalize, hidden=cfg.hidden,
                       activation=cfg.activation, init="normal", init_scale=math.sqrt(ratio * cfg.sigma_c2),
                       bias_scale=cfg.bias_scale, lr=cfg.lr, batch_size=cfg.batch_size, steps=steps, seed=cfg.seed,
                       n_train=cfg.n_train, n_test=cfg.n_test)


def init_ensemble(cfg: CriticalityMetricsConfig) -> InitEnsemble:
    """λ₀, σ, Δ at initialisation for seeds ``seed … seed+init_seeds−1`` (perturbation seed k for the k-th;
    k = 0 is the sweep's t = 0 measurement) on the sweep's probe inputs, with the mean-field predictions."""
    data = run_data(train_config(cfg, 1.0, 0))
    x = data.x_train[probe_indices(data.y_train, cfg.n_probe, 0)]
    q0 = (x.flatten(1).double() ** 2).mean(1).numpy()
    rows = {k: [] for k in ("lyapunov", "branching", "dynamic_range", "mf_lyapunov", "mf_branching", "sigma_w2")}
    for r in cfg.ratios:
        tc = train_config(cfg, r, 0)
        ms = [crit.measure(make_model(tc.replace(seed=cfg.seed + k), data), x, seed=k) for k in range(cfg.init_seeds)]
        chis = crit.mean_field_chis(tc.init_scale ** 2, cfg.bias_scale ** 2, cfg.activation, q0, len(cfg.hidden))
        for f in ("lyapunov", "branching", "dynamic_range"):
            rows[f].append([getattr(m, f) for m in ms])
        rows["mf_lyapunov"].append(float(np.mean(0.5 * np.log(chis))))
        rows["mf_branching"].append(float(np.mean(chis)))
        rows["sigma_w2"].append(tc.init_scale ** 2)
    return InitEnsemble(tuple(cfg.ratios), **{k: np.array(v) for k, v in rows.items()})


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


def _regularised(job) -> RegularisedResult:
    cfg, ratio, beta, device, progress = job
    rc = RegularisedConfig(train_config(cfg, ratio, cfg.reg_steps), penalty=beta, tasks=cfg.tasks,
                           n_probe=cfg.n_probe, n_checkpoints=max(cfg.n_checkpoints // 2, 4),
                           noise_levels=tuple(sorted({0.0, 0.25, cfg.noise_level, 1.0})))
    return train_regularised(rc, device=device, progress=progress)


def collapse_config(cfg: CriticalityMetricsConfig, penalty: float) -> CollapseConfig:
    return CollapseConfig(train_config(cfg, cfg.collapse_ratio, cfg.collapse_steps), cfg.collapse_generations,
                          penalty=penalty, labels=cfg.collapse_labels, n_probe=cfg.n_probe)


def _collapse(job) -> CollapseResult:
    cfg, beta, device, progress = job
    return train_collapse(collapse_config(cfg, beta), device=device, progress=progress)


def run(cfg: CriticalityMetricsConfig, device=None, progress: bool = True) -> CriticalityMetricsResults:
    """Init ensemble, init sweep with probes, regularised-vs-plain continual learning and model collapse
    (all trainings cached)."""
    if 1.0 not in cfg.ratios:
        raise ValueError(f"ratios must contain 1.0 (the mean-field critical init), got {cfg.ratios}")
    if cfg.init_seeds < 2:
        raise ValueError(f"init_seeds must be >= 2 (an interval over networks), got {cfg.init_seeds}")
    if cfg.collapse_labels not in crit.LABEL_MODES or cfg.collapse_penalty <= 0:
        raise ValueError(f"need collapse_labels in {crit.LABEL_MODES} and collapse_penalty > 0, got "
                         f"{cfg.collapse_labels!r}, {cfg.collapse_penalty}")
    ens = init_ensemble(cfg)
    pts = sweep(_sweep_point, [(cfg, r, device, False) for r in cfg.ratios], n_jobs=cfg.n_jobs,
                desc="init sweep", progress=progress)
    keys = [(r, b) for r in cfg.reg_ratios for b in cfg.penalties]
    regs = sweep(_regularised, [(cfg, r, b, device, False) for r, b in keys], n_jobs=cfg.n_jobs,
                 desc="regularised vs plain", progress=progress)
    cols = sweep(_collapse, [(cfg, b, device, False) for b in (0.0, cfg.collapse_penalty)], n_jobs=cfg.n_jobs,
                 desc="model collapse", progress=progress)
    for x in (*pts, *regs, *cols):
        if isinstance(x, Failed):
            raise RuntimeError(f"a training of chapter {CHAPTER} failed: {x.error}")
    return CriticalityMetricsResults(cfg, cfg.sigma_c2, ens, pts, dict(zip(keys, regs)),
                                     dict(zip(("plain", "penalised"), cols)))


# ------------------------------------------------------------------------------------------------
# claims
# ------------------------------------------------------------------------------------------------
@rule(agrees=dict(cis={"a": (0.9, 1.1), "b": (1.9, 2.05)}, targets={"a": 1.0, "b": 2.0}, tol=0.15),
      differs=dict(cis={"a": (0.9, 1.1), "b": (2.5, 2.7)}, targets={"a": 1.0, "b": 2.0}, tol=0.15))
def all_within(cis: dict, targets: dict, tol: float) -> Verdict:
    """Every measured 95 % interval ``cis[k]`` inside ``targets[k] ± tol``: ``agrees``; one wholly outside:
    ``differs``; otherwise (an interval straddling a boundary) ``inconclusive``."""
    if not cis or any(missing(*cis[k]) for k in cis):
        return Verdict("not measured", "no interval")
    out = [k for k in cis if cis[k][1] < targets[k] - tol or cis[k][0] > targets[k] + tol]
    if out:
        return Verdict("differs", f"outside ±{tol:g} of the prediction: {', '.join(out)}")
    inside = all(targets[k] - tol <= cis[k][0] and cis[k][1] <= targets[k] + tol for k in cis)
    return (Verdict("agrees", f"every interval within ±{tol:g} of the prediction") if inside else
            Verdict("inconclusive", f"an interval straddles ±{tol:g} of the prediction"))


@rule(agrees=dict(cis={"r=0.5": (10, 11), "r=1": (12, 13), "r=2": (9, 10)}, at="r=1"),
      differs=dict(cis={"r=0.5": (14, 15), "r=1": (12, 13), "r=2": (9, 10)}, at="r=1"))
def peak_at(cis: dict, at) -> Verdict:
    """The maximum at ``at``: its 95 % interval above every other one (``agrees``), another interval wholly
    above it (``differs``), else ``inconclusive``."""
    if at not in cis or any(missing(*v) for v in cis.values()):
        return Verdict("not measured", "no interval at the expected peak")
    lo, hi = cis[at]
    others = {k: v for k, v in cis.items() if k != at}
    above = [k for k, v in others.items() if v[0] > hi]
    if above:
        return Verdict("differs", f"larger elsewhere: {', '.join(above)}")
    if all(v[1] < lo for v in others.values()):
        return Verdict("agrees", f"the interval at {at} lies above all others")
    return Verdict("inconclusive", "overlapping intervals")


def _mean_ci(a) -> tuple[float, tuple[float, float]]:
    """Mean and 95 % t-interval of independent values."""
    a = np.asarray(a, dtype=float)
    m = float(a.mean())
    h = float(stats.t.ppf(0.975, a.size - 1) * a.std(ddof=1) / math.sqrt(a.size)) if a.size > 1 else math.inf
    return m, (m - h, m + h)


def _diff_ci(diff: float, se: float) -> dict:
    return {"value": diff, "threshold": 0.0, "ci": (diff - 1.96 * se, diff + 1.96 * se)}


def _acc_se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-12) / max(n, 1))


@dataclasses.dataclass(frozen=True)
class Trend:
    """Spearman ρ with its exact (or 9 999-resample) permutation p-value over ``n`` points."""

    rho: float
    p: float
    n: int


def _spearman(x, y) -> Trend:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return Trend(float("nan"), float("nan"), int(ok.sum()))
    res = stats.permutation_test((x[ok], y[ok]), lambda a, b: stats.spearmanr(a, b)[0], permutation_type="pairings",
                                 n_resamples=9999, random_state=0)
    return Trend(float(res.statistic), float(res.pvalue), int(ok.sum()))


def relations(res: CriticalityMetricsResults) -> dict[str, Trend]:
    """Spearman ρ of each observable against the mean-field distance from criticality |½ ln χ₁|."""
    d = [abs(p.mf_lyapunov) for p in res.sweep]
    return {
        "update_alpha": _spearman(d, [p.update_alpha for p in res.sweep]),
        "cfro_peak_step": _spearman(d, [p.cfro_peak_step for p in res.sweep]),
        "convergence_final": _spearman(d, [p.conv[-1] for p in res.sweep]),
    }


def claims(res: CriticalityMetricsResults) -> list[Claim]:
    cfg, ens = res.cfg, res.ensemble
    regimes = {"ordered": min(cfg.ratios), "critical": 1.0, "chaotic": max(cfg.ratios)}
    rows = {k: ens.row(r) for k, r in regimes.items()}
    lam = {k: _mean_ci(ens.lyapunov[i]) for k, i in rows.items()}
    sig = {k: _mean_ci(ens.branching[i] / ens.mf_branching[i]) for k, i in rows.items()}
    dr = {f"r={r:g}": _mean_ci(ens.dynamic_range[ens.row(r)]) for r in cfg.ratios}
    where = (f"{cfg.init_seeds} untrained networks per init, {len(cfg.hidden)} tanh layers of width "
             f"{cfg.hidden[0]}, σ_b²={cfg.bias_scale ** 2:g}, {cfg.n_probe} {cfg.dataset} inputs in [0, 1]")
    out = [
        Claim.judged(f"{CHAPTER}.lyapunov.init", "λ₀ at ordered / critical / chaotic initialisations follows "
                     f"mean-field theory (⟨½ ln χ₁ˡ⟩ of the same finite-depth net, ±{LYAPUNOV_TOL:g} nats/layer)",
                     {k: ens.mf_lyapunov[i] for k, i in rows.items()}, {k: v[0] for k, v in lam.items()},
                     "all_within", kind="check",
                     detail={"ratios": regimes, "setting": where, "units": "nats per layer",
                             "asymptotic_half_ln_chi1": {k: 0.5 * math.log(crit.chi1(ens.sigma_w2[i], cfg.bias_scale ** 2,
                                                                                     cfg.activation))
                                                         for k, i in rows.items()}},
                     cis={k: v[1] for k, v in lam.items()}, targets={k: ens.mf_lyapunov[i] for k, i in rows.items()},
                     tol=LYAPUNOV_TOL),
        Claim.judged(f"{CHAPTER}.branching.init", "σ at ordered / critical / chaotic initialisations follows "
                     f"mean-field theory (σ / ⟨χ₁ˡ⟩ = 1 ± {BRANCHING_RTOL:g})",
                     {k: ens.mf_branching[i] for k, i in rows.items()},
                     {k: float(ens.branching[i].mean()) for k, i in rows.items()}, "all_within", kind="check",
                     detail={"ratios": regimes, "setting": where, "ratio_to_mean_field": {k: v[0] for k, v in sig.items()}},
                     cis={k: v[1] for k, v in sig.items()}, targets={k: 1.0 for k in rows}, tol=BRANCHING_RTOL),
        Claim.judged(f"{CHAPTER}.dynamic_range.init", "dynamic range Δ (our response-curve definition) is maximal "
                     "at the critical initialisation", "max at criticality",
                     {r: v[0] for r, v in dr.items()}, "peak_at", kind="check",
                     detail={"units": "dB", "setting": where,
                             "response": "RMS activity of the last hidden layer vs input intensity s (images × s)"},
                     cis={r: v[1] for r, v in dr.items()}, at="r=1"),
    ]
    end_dist = [abs(p.metrics.lyapunov[-1]) for p in res.sweep]
    acc_rel = _spearman(end_dist, [p.test_acc for p in res.sweep])
    out.append(Claim.judged(f"{CHAPTER}.performance_vs_distance", "performance is best near criticality "
                            "(test accuracy falls with the trained network's |λ₀|)", "direction only", acc_rel.rho,
                            "trend", detail={**dataclasses.asdict(acc_rel),
                                             "test_acc": {f"r={p.ratio:g}": p.test_acc for p in res.sweep},
                                             "abs_lambda0_trained": {f"r={p.ratio:g}": d for p, d in zip(res.sweep, end_dist)},
                                             "differs_from_paper": "paper 004 compares >80 published models; here one "
                                             "MLP trained from different inits (one seed each), exact permutation p"},
                            rho=acc_rel.rho, p=acc_rel.p, sign=-1))
    rel = relations(res)
    out.append(Claim(f"{CHAPTER}.relations", "other chapters' observables vs distance from criticality "
                     "(book question; paper 004 gives no number)", None, {k: v.rho for k, v in rel.items()},
                     kind="finding",
                     detail={**{k: dataclasses.asdict(v) for k, v in rel.items()},
                             "update_alpha": {f"r={p.ratio:g}": p.update_alpha for p in res.sweep},
                             "cfro_peak_step": {f"r={p.ratio:g}": p.cfro_peak_step for p in res.sweep},
                             "convergence_final": {f"r={p.ratio:g}": float(p.conv[-1]) for p in res.sweep}}))
    shrink = {f"r={p.ratio:g}": bool(abs(p.metrics.lyapunov[-1]) < abs(p.metrics.lyapunov[0]))
              for p in res.sweep if p.ratio != 1.0}
    out.append(Claim(f"{CHAPTER}.training_toward_criticality", "plain SGD moves off-critical inits toward λ₀ = 0 "
                     "(book observation; paper 004 says progress across models did, not training)", None,
                     float(np.mean(list(shrink.values()))), kind="finding",
                     detail={"fraction_of_offcritical_inits_whose_abs_lambda0_shrank": shrink,
                             "lyapunov_init_to_end": {f"r={p.ratio:g}": [p.metrics.lyapunov[0], p.metrics.lyapunov[-1]]
                                                      for p in res.sweep}}))
    out += _regularised_claims(res)
    out += _collapse_claims(res)
    return out


def _regularised_claims(res: CriticalityMetricsResults) -> list[Claim]:
    cfg, out = res.cfg, []
    betas = [b for b in cfg.penalties if b > 0]
    if 0.0 not in cfg.penalties or not betas:
        return out
    b = max(betas)
    setting = (f"our penalty β·⟨ln g_l⟩² (β={b:g}) at equal step budget ({cfg.reg_steps} SGD steps per task), "
               f"{cfg.tasks} permuted-{cfg.dataset} tasks, one seed; paper 004's objective and benchmark are not in "
               "our copy")
    for r in cfg.reg_ratios:
        plain, pen = res.reg(r, 0.0), res.reg(r, b)
        n = plain.n_test
        k = plain.cfg.noise_levels.index(cfg.noise_level)
        tag = f"r{r:g}"
        a0, a1 = plain.acc[0, 0], pen.acc[0, 0]
        out.append(Claim.judged(f"{CHAPTER}.accuracy.{tag}", f"criticality training improves accuracy "
                                f"(task-0 test accuracy, β={b:g} vs plain, init r={r:g})", "higher with penalty",
                                {"plain": a0, "penalised": a1}, "exceeds",
                                detail={"setting": setting, "seconds": {"plain": plain.seconds, "penalised": pen.seconds},
                                        "interval": "difference ± 1.96 binomial SE"},
                                **_diff_ci(a1 - a0, math.hypot(_acc_se(a0, n), _acc_se(a1, n)))))
        n0, n1 = plain.noise_acc[k], pen.noise_acc[k]
        out.append(Claim.judged(f"{CHAPTER}.robustness.{tag}", f"criticality training improves robustness "
                                f"(accuracy under pixel noise std {cfg.noise_level:g}, pixels in [0, 1])",
                                "higher with penalty", {"plain": n0, "penalised": n1}, "exceeds",
                                detail={"setting": setting, "noise_levels": plain.cfg.noise_levels,
                                        "plain_curve": plain.noise_acc, "penalised_curve": pen.noise_acc},
                                **_diff_ci(n1 - n0, math.hypot(_acc_se(n0, n), _acc_se(n1, n)))))
        r0, r1 = plain.retention, pen.retention
        se = math.hypot(_acc_se(plain.acc[-1, 0], n) / max(a0, 1e-9), _acc_se(pen.acc[-1, 0], n) / max(a1, 1e-9))
        out.append(Claim.judged(f"{CHAPTER}.retention.{tag}", f"criticality training keeps performance in continual "
                                f"learning (task-0 accuracy after {cfg.tasks - 1} more permuted-MNIST task(s) ÷ before)",
                                "higher with penalty", {"plain": r0, "penalised": r1}, "exceeds",
                                detail={"setting": setting, "acc_plain": plain.acc, "acc_penalised": pen.acc,
                                        "lyapunov_end_of_each_task": {"plain": _task_end(plain), "penalised": _task_end(pen)}},
                                **_diff_ci(r1 - r0, se)))
    return out


def _collapse_claims(res: CriticalityMetricsResults) -> list[Claim]:
    cfg = res.cfg
    plain, pen = res.collapse["plain"], res.collapse["penalised"]
    n, last = plain.n_test, len(plain.test_acc) - 1
    setting = (f"{cfg.collapse_generations} generations × {cfg.collapse_steps} SGD steps, each a fresh network "
               f"(init r={cfg.collapse_ratio:g}) on the previous generation's {cfg.collapse_labels}d labels of the "
               f"{cfg.dataset} training images, one seed; paper 004's generative setting is not in our copy")
    a0, a1 = plain.test_acc[0], plain.test_acc[last]
    l0, l1 = plain.probe_lyapunov[0], plain.probe_lyapunov[last]
    se_l = math.hypot(l0.std(ddof=1) / math.sqrt(l0.size), l1.std(ddof=1) / math.sqrt(l1.size))
    p_last = pen.test_acc[len(pen.test_acc) - 1]
    return [
        Claim.judged(f"{CHAPTER}.collapse.degrades", "training on generated data degrades performance over "
                     "generations (plain: test accuracy of generation 0 minus the last)", "degrades",
                     {"generation_0": a0, "last": a1}, "exceeds",
                     detail={"setting": setting, "test_acc": plain.test_acc, "label_fidelity": plain.label_fidelity},
                     **_diff_ci(a0 - a1, math.hypot(_acc_se(a0, n), _acc_se(a1, n)))),
        Claim.judged(f"{CHAPTER}.collapse.loses_criticality", "model collapse reflects a loss of critical dynamics "
                     "(plain: |λ₀| of the last generation exceeds generation 0's)", "|λ₀| grows",
                     {"generation_0": float(abs(l0.mean())), "last": float(abs(l1.mean()))}, "exceeds",
                     detail={"setting": setting, "lyapunov_per_generation": plain.lyapunov_end,
                             "interval": "± 1.96 SE over probe inputs (one network per generation)"},
                     **_diff_ci(float(abs(l1.mean()) - abs(l0.mean())), se_l)),
        Claim.judged(f"{CHAPTER}.collapse.penalty_prevents", "criticality training prevents collapse (test accuracy "
                     f"of the last generation, β={cfg.collapse_penalty:g} vs plain)", "higher with penalty",
                     {"plain": a1, "penalised": p_last}, "exceeds",
                     detail={"setting": setting, "test_acc_penalised": pen.test_acc,
                             "lyapunov_per_generation_penalised": pen.lyapunov_end},
                     **_diff_ci(p_last - a1, math.hypot(_acc_se(a1, n), _acc_se(p_last, n)))),
    ]


def _task_end(r: RegularisedResult) -> list[float]:
    """λ₀ at the last checkpoint of each task."""
    m, task = r.metrics, r.task_of_checkpoint
    return [float(m.lyapunov[np.flatnonzero(task == t)[-1]]) for t in np.unique(task)]


def reproduce(profile=None, device=None, progress=True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


def widget_controls(res: CriticalityMetricsResults, cfg: CriticalityMetricsConfig) -> dict:
    """The interactive demo's controls (first value = default)."""
    ratios = sorted(cfg.reg_ratios, key=lambda r: r != 1.0)
    betas = sorted((b for b in cfg.penalties if b > 0), reverse=True)
    return {"plot_regularised": {"init_ratio": ratios, "penalty": betas},
            "plot_collapse": {"metric": ["lyapunov", "branching", "dynamic_range"]},
            "plot_response_curves": {"step_index": list(range(len(res.sweep[0].metrics.steps)))},
            "plot_metrics_vs_init": {"when": ["both", "at", "after"]}}


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


def plot_metrics_vs_init(res: CriticalityMetricsResults, *, when: str = "both", ax=None):
    """Fig. 11.2: λ₀, σ and Δ against σ_w² at initialisation (mean and 95 % interval over the init ensemble)
    and after training (the sweep), with mean-field theory (the 4-layer transient and the q* limit)."""
    import matplotlib.pyplot as plt

    if ax is not None:
        raise ValueError("plot_metrics_vs_init draws three panels; call it without ax")
    if when not in ("both", "at", "after"):
        raise ValueError(f"when must be 'both', 'at' or 'after', got {when!r}")
    fig, axs = plt.subplots(1, 3, figsize=(12, 3.4), constrained_layout=True)
    ens = res.ensemble
    sw = np.array([p.sigma_w2 for p in res.sweep])
    grid = np.logspace(np.log10(sw.min()), np.log10(sw.max()), 80)
    chi = np.array([crit.chi1(w, res.cfg.bias_scale ** 2, res.cfg.activation) for w in grid])
    for ax, key, ylabel, theory, transient in (
            (axs[0], "lyapunov", "λ₀ (nats / layer)", 0.5 * np.log(chi), ens.mf_lyapunov),
            (axs[1], "branching", "branching parameter σ", chi, ens.mf_branching),
            (axs[2], "dynamic_range", "dynamic range Δ (dB)", None, None)):
        if when in ("both", "at"):
            cis = [_mean_ci(v) for v in getattr(ens, key)]
            m = np.array([c[0] for c in cis])
            err = np.array([[c[0] - c[1][0], c[1][1] - c[0]] for c in cis]).T
            ax.errorbar(ens.sigma_w2, m, yerr=err, fmt="o-", capsize=3, label=f"at init ({res.cfg.init_seeds} nets)")
        if when in ("both", "after"):
            ax.plot(sw, [getattr(p.metrics, key)[-1] for p in res.sweep], "s--", label="after training")
        if theory is not None:
            ax.plot(grid, theory, "k:", label="mean field, q*")
            ax.plot(ens.sigma_w2, transient, "kx", ms=8, label="mean field, 4-layer transient")
            ax.axhline(1.0 if key == "branching" else 0.0, color="0.6", lw=0.8)
        ax.axvline(res.sigma_c2, color="k", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_xlabel("σ_w² at init (dashed: mean-field critical)")
        ax.set_ylabel(ylabel)
    axs[1].set_yscale("log")
    axs[0].legend(fontsize=7)
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
    """Fig. 11.5: update exponent (ch. 1), ‖C‖_F peak time (ch. 6), final ln(L̄/ΔS) (ch. 7) against the
    init's λ_MF, and test accuracy against the trained network's |λ₀|."""
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 4, figsize=(14, 3.2), constrained_layout=True)
    x = [p.mf_lyapunov for p in res.sweep]
    rel = relations(res)
    colours = [_cmap(res, p.ratio) for p in res.sweep]
    for ax, key, lab, yfun in (
            (axs[0], "update_alpha", "update exponent α of |Δw|", lambda p: p.update_alpha),
            (axs[1], "cfro_peak_step", "step of max ‖C‖_F", lambda p: max(p.cfro_peak_step, 0.5)),
            (axs[2], "convergence_final", "final criterion ln(mean L / ΔS)", lambda p: p.conv[-1])):
        ax.scatter(x, [yfun(p) for p in res.sweep], c=colours, edgecolors="k")
        ax.axvline(0, color="k", lw=0.8, ls="--")
        ax.set_xlabel("mean-field ½ ln χ₁ at init (nats/layer)")
        ax.set_ylabel(lab)
        ax.set_title(f"Spearman ρ vs |½ ln χ₁| = {rel[key].rho:.2f}", fontsize=9)
    axs[1].set_yscale("log")
    d = [abs(p.metrics.lyapunov[-1]) for p in res.sweep]
    axs[3].scatter(d, [p.test_acc for p in res.sweep], c=colours, edgecolors="k")
    axs[3].set_xlabel("|λ₀| after training (nats/layer)")
    axs[3].set_ylabel("test accuracy")
    axs[3].set_title(f"Spearman ρ = {_spearman(d, [p.test_acc for p in res.sweep]).rho:.2f}", fontsize=9)
    return fig


def plot_regularised(res: CriticalityMetricsResults, *, init_ratio: float = 1.0, penalty: float | None = None,
                     ax=None):
    """Fig. 11.6 (widget): λ₀ over the permuted-MNIST tasks, task accuracies and noise robustness,
    penalised (β = ``penalty``) vs plain from the same init σ_w² = ``init_ratio``·σ_c²."""
    import matplotlib.pyplot as plt

    if ax is not None:
        raise ValueError("plot_regularised draws three panels; call it without ax")
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


def plot_collapse(res: CriticalityMetricsResults, *, metric: str = "lyapunov", ax=None):
    """Fig. 11.7 (widget): model collapse over generations, plain vs penalised — test accuracy on the true
    labels, fraction of true labels among those trained on, and ``metric`` (λ₀, σ or Δ) of each trained network."""
    import matplotlib.pyplot as plt

    if ax is not None:
        raise ValueError("plot_collapse draws three panels; call it without ax")
    labels = {"lyapunov": "λ₀ after training (nats / layer)", "branching": "σ after training",
              "dynamic_range": "Δ after training (dB)"}
    if metric not in labels:
        raise ValueError(f"metric must be one of {', '.join(labels)}, got {metric!r}")
    fig, axs = plt.subplots(1, 3, figsize=(13, 3.4), constrained_layout=True)
    for key, col in (("plain", "#264653"), ("penalised", "#e76f51")):
        r = res.collapse[key]
        g = np.arange(len(r.test_acc))
        lab = key if key == "plain" else f"β={r.cfg.penalty:g}"
        axs[0].plot(g, r.test_acc, "o-", color=col, label=lab)
        axs[1].plot(g, r.label_fidelity, "o-", color=col, label=lab)
        axs[2].plot(g, [getattr(m, metric)[-1] for m in r.metrics], "o-", color=col, label=lab)
    axs[0].set_ylabel("test accuracy (true labels)")
    axs[1].set_ylabel("fraction of training labels that are true")
    axs[2].set_ylabel(labels[metric])
    axs[2].axhline({"lyapunov": 0.0, "branching": 1.0}.get(metric, np.nan), color="k", lw=0.8, ls="--")
    for a in axs:
        a.set_xlabel("generation (0: true labels)")
        a.legend(fontsize=8)
    return fig
