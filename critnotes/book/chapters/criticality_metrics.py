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
   permuted-MNIST tasks for each (init, penalty β, seed): accuracy, accuracy lost to pixel noise, average
   accuracy over all tasks after the last (with each task's accuracy right after training it), and λ₀
   along the way.  Plain and penalised runs of one seed share init and mini-batches, so every comparison
   is a per-seed (paired) difference with a t-interval over ``seeds``.  Only the critical init r = 1 is
   the reproduction; other inits are findings (a penalty may repair a bad init).
4. **Model collapse** (Fig. 11.7): :func:`critnotes.training.collapse.train_collapse`, ``seeds`` chains of
   generations trained on the previous generation's sampled labels, plain and penalised, with λ₀ tracked.
"""
from __future__ import annotations

import dataclasses
import math
import sys

import numpy as np

from critnotes.analysis import criticality as crit
from critnotes.analysis import loss_concentration as conc
from critnotes.analysis.fitting import RankCorrelation, fit_powerlaw_binned, mean_interval, spearman
from critnotes.book.chapters import summarize
from critnotes.book.plotting import axes, panels
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
    reg_ratios: tuple[float, ...] = (0.25, 1.0, 4.0)  # 1.0 (the reproduction) required; others: findings
    penalties: tuple[float, ...] = (0.0, 0.1, 1.0)   # β; 0 = plain training
    reg_steps: int = 2000                            # per task
    tasks: int = 2
    noise_level: float = 0.5                         # pixel-noise std of the robustness claim
    collapse_ratio: float = 1.0                      # init of the model-collapse generations
    collapse_penalty: float = 1.0                    # β of the penalised generations
    collapse_generations: int = 5
    collapse_steps: int = 1000                       # per generation
    collapse_labels: str = "sample"                  # generated labels: softmax samples or argmax
    seeds: int = 3                                   # paired seeds of the regularised and collapse comparisons
    n_jobs: int = 1

    @property
    def sigma_c2(self) -> float:
        """Mean-field critical σ_w² (χ₁ = 1) at this σ_b."""
        return crit.critical_sigma_w2(self.activation, self.bias_scale ** 2)


PROFILES = {
    "ci": CriticalityMetricsConfig(ratios=(0.25, 1.0, 4.0), init_seeds=4, steps=120, n_train=1000, n_test=500,
                                   n_checkpoints=6, n_probe=64, n_activity=100, reg_ratios=(1.0,),
                                   penalties=(0.0, 1.0), reg_steps=60, collapse_generations=3, collapse_steps=60,
                                   seeds=2),
    "quick": CriticalityMetricsConfig(penalties=(0.0, 1.0)),      # 3 seeds: the β sweep is left to paper
    "paper": CriticalityMetricsConfig(dataset="mnist", ratios=(0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 8.0, 16.0),
                                      init_seeds=16, steps=20_000, n_checkpoints=30, n_probe=1000, n_activity=1000,
                                      reg_steps=10_000, tasks=3, penalties=(0.0, 0.03, 0.1, 0.3, 1.0),
                                      collapse_generations=10, collapse_steps=5000),
    # the paper preset without the off-critical regularised runs and the β sweep (PROFILE_DIFFERENCES)
    "paper-cpu": CriticalityMetricsConfig(dataset="mnist",
                                          ratios=(0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 8.0, 16.0),
                                          init_seeds=16, steps=20_000, n_checkpoints=30, n_probe=1000,
                                          n_activity=1000, reg_ratios=(1.0,), penalties=(0.0, 1.0),
                                          reg_steps=10_000, tasks=3, collapse_generations=10, collapse_steps=5000,
                                          n_jobs=2),
}
#: what a profile changes from the paper's settings (stored with each of its results)
PROFILE_DIFFERENCES = {"paper-cpu": (
    "regularised vs plain (Fig 11.6): at the critical init r = 1 only (the off-critical inits r = 0.25, 4 — "
    "findings — are not run) and with β = 0 and 1 only (the claims compare those two; the β sweep 0.03–0.3 is "
    "not run)",
)}


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
    regularised: dict                  # (ratio, penalty) → (RegularisedResult per seed, …)
    collapse: dict                     # "plain" / "penalised" → (CollapseResult per seed, …)

    def point(self, ratio: float) -> SweepPoint:
        return min(self.sweep, key=lambda p: abs(math.log(p.ratio / ratio)))

    def reg(self, ratio: float, penalty: float) -> tuple[RegularisedResult, ...]:
        """The regularised runs (one per seed) nearest to ``ratio`` and ``penalty``."""
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
    cfg, ratio, beta, k, device, progress = job
    rc = RegularisedConfig(train_config(cfg, ratio, cfg.reg_steps).replace(seed=cfg.seed + k), penalty=beta, tasks=cfg.tasks,
                           n_probe=cfg.n_probe, n_checkpoints=max(cfg.n_checkpoints // 2, 4),
                           noise_levels=tuple(sorted({0.0, 0.25, cfg.noise_level, 1.0})))
    return train_regularised(rc, device=device, progress=progress)


def collapse_config(cfg: CriticalityMetricsConfig, penalty: float, k: int = 0) -> CollapseConfig:
    """The model-collapse chain of seed ``seed + k`` (init, mini-batches and label draws)."""
    return CollapseConfig(train_config(cfg, cfg.collapse_ratio, cfg.collapse_steps).replace(seed=cfg.seed + k),
                          cfg.collapse_generations, penalty=penalty, labels=cfg.collapse_labels, n_probe=cfg.n_probe)


def _collapse(job) -> CollapseResult:
    cfg, beta, k, device, progress = job
    return train_collapse(collapse_config(cfg, beta, k), device=device, progress=progress)


def run(cfg: CriticalityMetricsConfig, device=None, progress: bool = True) -> CriticalityMetricsResults:
    """Init ensemble, init sweep with probes, regularised-vs-plain continual learning and model collapse
    (all trainings cached)."""
    if 1.0 not in cfg.ratios:
        raise ValueError(f"ratios must contain 1.0 (the mean-field critical init), got {cfg.ratios}")
    if 1.0 not in cfg.reg_ratios:
        raise ValueError(f"reg_ratios must contain 1.0 (the critical init is the reproduction), got {cfg.reg_ratios}")
    if cfg.init_seeds < 2 or cfg.seeds < 2:
        raise ValueError(f"init_seeds and seeds must be >= 2 (an interval over networks), got {cfg.init_seeds}, "
                         f"{cfg.seeds}")
    if cfg.collapse_labels not in crit.LABEL_MODES or cfg.collapse_penalty <= 0:
        raise ValueError(f"need collapse_labels in {crit.LABEL_MODES} and collapse_penalty > 0, got "
                         f"{cfg.collapse_labels!r}, {cfg.collapse_penalty}")
    ens = init_ensemble(cfg)
    pts = sweep(_sweep_point, [(cfg, r, device, False) for r in cfg.ratios], n_jobs=cfg.n_jobs,
                desc="init sweep", progress=progress)
    keys = [(r, b) for r in cfg.reg_ratios for b in cfg.penalties]
    regs = sweep(_regularised, [(cfg, r, b, k, device, False) for r, b in keys for k in range(cfg.seeds)],
                 n_jobs=cfg.n_jobs, desc="regularised vs plain", progress=progress)
    betas = (0.0, cfg.collapse_penalty)
    cols = sweep(_collapse, [(cfg, b, k, device, False) for b in betas for k in range(cfg.seeds)],
                 n_jobs=cfg.n_jobs, desc="model collapse", progress=progress)
    for x in (*pts, *regs, *cols):
        if isinstance(x, Failed):
            raise RuntimeError(f"a training of chapter {CHAPTER} failed: {x.error}")
    n = cfg.seeds
    return CriticalityMetricsResults(cfg, cfg.sigma_c2, ens, pts,
                                     {key: tuple(regs[i * n:(i + 1) * n]) for i, key in enumerate(keys)},
                                     {lab: tuple(cols[i * n:(i + 1) * n]) for i, lab in enumerate(("plain", "penalised"))})


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
    above it (``differs``), else ``inconclusive``.  Inits whose value could not be measured (no interval) are
    left out and named in the reason: they cannot undo a ``differs``, but the maximum could lie at one of them,
    so what would be ``agrees`` is ``inconclusive``; ``not measured`` when ``at`` or every other init has none."""
    if at not in cis or missing(*cis[at]):
        return Verdict("not measured", "no interval at the expected peak")
    lo, hi = cis[at]
    others = {k: v for k, v in cis.items() if k != at and not missing(*v)}
    if not others:
        return Verdict("not measured", "no other init with an interval to compare with")
    left_out = [k for k in cis if k != at and k not in others]
    note = f" ({', '.join(left_out)} not measured, left out)" if left_out else ""
    above = [k for k, v in others.items() if v[0] > hi]
    if above:
        return Verdict("differs", f"larger elsewhere: {', '.join(above)}{note}")
    if all(v[1] < lo for v in others.values()):
        if left_out:
            return Verdict("inconclusive", f"the interval at {at} lies above all measured others{note}")
        return Verdict("agrees", f"the interval at {at} lies above all others")
    return Verdict("inconclusive", f"overlapping intervals{note}")


def crossing(lyapunov: dict):
    """The key (keys in sweep order) where the measured mean λ₀ crosses 0: of two neighbours between which it
    changes sign, the one nearer 0; ``None`` when it keeps one sign over the sweep (or a value is missing)."""
    keys = list(lyapunov)
    vals = [lyapunov[k] for k in keys]
    if not keys or missing(*vals):
        return None
    near = [k for i in range(len(keys) - 1) if np.sign(vals[i]) != np.sign(vals[i + 1]) for k in keys[i:i + 2]]
    return min(near, key=lambda k: abs(lyapunov[k])) if near else None


_LAM = {"r=0.5": -0.4, "r=1": -0.1, "r=2": 0.02, "r=4": 0.3}


@rule(agrees=dict(cis={"r=0.5": (9, 10), "r=1": (10, 11), "r=2": (12, 13), "r=4": (8, 9)}, lyapunov=_LAM),
      differs=dict(cis={"r=0.5": (9, 10), "r=1": (12, 13), "r=2": (10, 11), "r=4": (8, 9)}, lyapunov=_LAM))
def peak_at_crossing(cis: dict, lyapunov: dict) -> Verdict:
    """:func:`peak_at` the init where the *measured* λ₀ crosses 0 (:func:`crossing`), not where mean-field
    theory puts the critical line; ``not measured`` when λ₀ does not cross 0 within the sweep."""
    at = crossing(lyapunov)
    if at is None:
        return Verdict("not measured", "the measured λ₀ does not cross 0 within the sweep")
    v = peak_at(cis, at)
    return Verdict(v.verdict, f"measured λ₀ crosses 0 at {at}: {v.reason}")


@dataclasses.dataclass(frozen=True)
class OverSeeds:
    """One value per seed (or a paired per-seed difference, or one network of the init ensemble), its mean
    and 95 % t-interval over seeds: the between-seed spread is the error bar (networks, not test images or
    probe inputs, are the replicates).
    The SD is floored at ``floor_sd``, the within-seed sampling SD of one value (test images, probe inputs),
    so that a few seeds which happen to agree cannot give a zero-width interval."""

    values: tuple[float, ...]
    mean: float
    ci: tuple[float, float]
    sd: float
    floor_sd: float

    @classmethod
    def of(cls, values, floor_sd: float = 0.0) -> "OverSeeds":
        v = np.asarray(values, dtype=float)
        if v.size < 2:
            raise ValueError(f"an interval over seeds needs >= 2 seeds, got {v.size}; raise cfg.seeds")
        m, ci, sd = mean_interval(v, floor_sd=floor_sd)
        return cls(tuple(map(float, v)), m, ci, sd, float(floor_sd))

    def above_zero(self) -> dict:
        """The ``exceeds`` rule's inputs for "the mean over seeds is > 0"."""
        return {"value": self.mean, "threshold": 0.0, "ci": self.ci}


def _paired_seeds(plain, pen) -> None:
    """Raise unless ``plain[k]`` and ``pen[k]`` share their seed for every k (the pairing)."""
    a, b = [r.cfg.train.seed for r in plain], [r.cfg.train.seed for r in pen]
    if a != b:
        raise ValueError(f"plain and penalised runs must be paired by seed, got seeds {a} and {b}")


@dataclasses.dataclass(frozen=True)
class PenaltyEffect:
    """Penalised vs plain at one init over paired seeds (Fig. 11.6); each difference is per seed, > 0 when
    it favours the penalty.  ``means``: the levels behind the differences (means over seeds)."""

    accuracy: OverSeeds        # task-0 test accuracy after task 0, penalised − plain
    robustness: OverSeeds      # accuracy lost to pixel noise, plain − penalised
    final_average: OverSeeds   # mean accuracy over all tasks after the last, penalised − plain
    new_task: OverSeeds        # mean acc[t, t] (plasticity), penalised − plain
    means: dict


def _binomial_var(acc, n: int) -> float:
    """Summed test-set sampling variance of accuracies ``acc`` (each on ``n`` images)."""
    a = np.asarray(acc, dtype=float)
    return float(np.sum(a * (1 - a)) / max(n, 1))


def _floor(pairs, n: int, weights=1.0) -> float:
    """Mean over seeds of the test-set sampling SD of one per-seed difference of accuracy sums
    (``pairs``: per seed, all accuracies entering it; ``weights`` their coefficients)."""
    return float(np.mean([math.sqrt(_binomial_var(a, n)) * weights for a in pairs]))


def penalty_effect(plain, pen, noise_level: float) -> PenaltyEffect:
    """:class:`PenaltyEffect` of seed-paired :class:`RegularisedResult` runs ``plain`` and ``pen``."""
    _paired_seeds(plain, pen)
    n, T = plain[0].n_test, plain[0].acc.shape[0]
    i0, k = plain[0].cfg.noise_levels.index(0.0), plain[0].cfg.noise_levels.index(noise_level)
    q = {"acc": lambda r: r.acc[0, 0], "drop": lambda r: r.noise_drop(noise_level),
         "clean": lambda r: r.noise_acc[i0], "final_average": lambda r: r.final_average,
         "new_task": lambda r: r.new_task_accuracy}
    v = {key: (np.array([f(r) for r in plain], float), np.array([f(r) for r in pen], float)) for key, f in q.items()}
    means = {f"{key}_{lab}": float(np.mean(v[key][j])) for key in q for j, lab in enumerate(("plain", "penalised"))}
    seeds = list(zip(plain, pen))
    return PenaltyEffect(
        OverSeeds.of(v["acc"][1] - v["acc"][0], _floor([[a.acc[0, 0], b.acc[0, 0]] for a, b in seeds], n)),
        OverSeeds.of(v["drop"][0] - v["drop"][1],
                     _floor([[*a.noise_acc[[i0, k]], *b.noise_acc[[i0, k]]] for a, b in seeds], n)),
        OverSeeds.of(v["final_average"][1] - v["final_average"][0],
                     _floor([[*a.acc[-1], *b.acc[-1]] for a, b in seeds], n, 1 / T)),
        OverSeeds.of(v["new_task"][1] - v["new_task"][0],
                     _floor([[*np.diag(a.acc), *np.diag(b.acc)] for a, b in seeds], n, 1 / T)), means)


def _at_generation(r: CollapseResult, values, g: int) -> float:
    """``values[g]`` of a chain, NaN when generation g did not finish (the chain diverged before or at it)."""
    done = len(r.test_acc) - (1 if r.diverged else 0)
    return float(values[g]) if g < done else float("nan")


@dataclasses.dataclass(frozen=True)
class CollapseEffect:
    """Model collapse over seed-paired chains (Fig. 11.7): per chain, generation 0 against the last."""

    degradation: OverSeeds     # plain: test accuracy of generation 0 − the last
    lyapunov_growth: OverSeeds # plain: |λ₀| of the last generation − generation 0's (same probe inputs)
    prevention: OverSeeds      # degradation plain − degradation penalised, per seed
    gen0_lyapunov_sd: float    # spread (SD) of generation-0 λ₀ across the plain chains
    means: dict


def collapse_effect(plain, pen) -> CollapseEffect:
    """:class:`CollapseEffect` of seed-paired :class:`CollapseResult` chains ``plain`` and ``pen``."""
    _paired_seeds(plain, pen)
    last = plain[0].cfg.generations - 1
    a0 = {k: np.array([_at_generation(r, r.test_acc, 0) for r in rs]) for k, rs in (("plain", plain), ("pen", pen))}
    a1 = {k: np.array([_at_generation(r, r.test_acc, last) for r in rs]) for k, rs in (("plain", plain), ("pen", pen))}
    l0 = np.array([_at_generation(r, r.lyapunov_end, 0) for r in plain])
    l1 = np.array([_at_generation(r, r.lyapunov_end, last) for r in plain])
    deg = {k: a0[k] - a1[k] for k in a0}
    n = plain[0].n_test
    pl = [r.probe_lyapunov[[0, last]] for r in plain]
    lam_floor = float(np.mean([math.sqrt(np.sum(np.var(x, axis=1, ddof=1)) / x.shape[1]) for x in pl]))
    means = {"generation_0_plain": float(a0["plain"].mean()), "generation_0_penalised": float(a0["pen"].mean()),
             "last_plain": float(a1["plain"].mean()), "last_penalised": float(a1["pen"].mean()),
             "abs_lambda0_generation_0": float(np.abs(l0).mean()), "abs_lambda0_last": float(np.abs(l1).mean())}
    return CollapseEffect(OverSeeds.of(deg["plain"], _floor(np.stack([a0["plain"], a1["plain"]], 1), n)),
                          OverSeeds.of(np.abs(l1) - np.abs(l0), lam_floor),
                          OverSeeds.of(deg["plain"] - deg["pen"],
                                       _floor(np.stack([a0["plain"], a1["plain"], a0["pen"], a1["pen"]], 1), n)),
                          float(np.std(l0, ddof=1)), means)


def relations(res: CriticalityMetricsResults) -> dict[str, RankCorrelation]:
    """Spearman ρ of each observable against the mean-field distance from criticality |½ ln χ₁|."""
    d = [abs(p.mf_lyapunov) for p in res.sweep]
    return {
        "update_alpha": spearman(d, [p.update_alpha for p in res.sweep], permutation=True),
        "cfro_peak_step": spearman(d, [p.cfro_peak_step for p in res.sweep], permutation=True),
        "convergence_final": spearman(d, [p.conv[-1] for p in res.sweep], permutation=True),
    }


def claims(res: CriticalityMetricsResults) -> list[Claim]:
    cfg, ens = res.cfg, res.ensemble
    regimes = {"ordered": min(cfg.ratios), "critical": 1.0, "chaotic": max(cfg.ratios)}
    rows = {k: ens.row(r) for k, r in regimes.items()}
    lam = {k: OverSeeds.of(ens.lyapunov[i]) for k, i in rows.items()}
    sig = {k: OverSeeds.of(ens.branching[i] / ens.mf_branching[i]) for k, i in rows.items()}
    dr = {f"r={r:g}": OverSeeds.of(ens.dynamic_range[ens.row(r)]) for r in cfg.ratios}
    lam_all = {f"r={r:g}": float(ens.lyapunov[ens.row(r)].mean()) for r in cfg.ratios}
    where = (f"{cfg.init_seeds} untrained networks per init σ_w² = r·σ_c² (r = {', '.join(f'{r:g}' for r in cfg.ratios)}), "
             f"{len(cfg.hidden)} tanh layers of width {cfg.hidden[0]}, σ_b²={cfg.bias_scale ** 2:g}, {cfg.n_probe} "
             f"{cfg.dataset} inputs in [0, 1]; 95 % t-interval over networks")
    at0 = crossing(lam_all)
    out = [
        Claim.judged(f"{CHAPTER}.lyapunov.init", "λ₀ at ordered / critical / chaotic initialisations follows "
                     f"mean-field theory (⟨½ ln χ₁ˡ⟩ of the same finite-depth net, ±{LYAPUNOV_TOL:g} nats/layer; "
                     f"{where})", {k: ens.mf_lyapunov[i] for k, i in rows.items()}, {k: v.mean for k, v in lam.items()},
                     "all_within", kind="check",
                     detail={"ratios": regimes, "units": "nats per layer",
                             "asymptotic_half_ln_chi1": {k: 0.5 * math.log(crit.chi1(ens.sigma_w2[i], cfg.bias_scale ** 2,
                                                                                     cfg.activation))
                                                         for k, i in rows.items()}},
                     cis={k: v.ci for k, v in lam.items()}, targets={k: ens.mf_lyapunov[i] for k, i in rows.items()},
                     tol=LYAPUNOV_TOL),
        Claim.judged(f"{CHAPTER}.branching.init", "σ at ordered / critical / chaotic initialisations follows "
                     f"mean-field theory (σ / ⟨χ₁ˡ⟩ = 1 ± {BRANCHING_RTOL:g}; {where})",
                     {k: ens.mf_branching[i] for k, i in rows.items()},
                     {k: float(ens.branching[i].mean()) for k, i in rows.items()}, "all_within", kind="check",
                     detail={"ratios": regimes, "ratio_to_mean_field": {k: v.mean for k, v in sig.items()}},
                     cis={k: v.ci for k, v in sig.items()}, targets={k: 1.0 for k in rows}, tol=BRANCHING_RTOL),
        Claim.judged(f"{CHAPTER}.dynamic_range.init", "dynamic range is maximal at criticality, tested with our "
                     "response-curve Δ (RMS activity of the last hidden layer against the input scale s, "
                     "10 log₁₀ s₉₀/s₁₀) at the init where the measured λ₀ crosses 0 — the 4-layer transient need "
                     f"not be critical at the mean-field r = 1 ({where})", "max at criticality",
                     {**{r: v.mean for r, v in dr.items()}, "measured_critical_init": at0 or "no crossing"},
                     "peak_at_crossing", detail={"units": "dB", "lyapunov_mean": lam_all},
                     cis={r: v.ci for r, v in dr.items()}, lyapunov=lam_all),
    ]
    idx = [i for i, p in enumerate(res.sweep)
           if not p.diverged and np.isfinite(p.test_acc) and np.isfinite(p.metrics.lyapunov[-1])]
    kept = [res.sweep[i] for i in idx]
    excluded = [f"r={p.ratio:g}" for i, p in enumerate(res.sweep) if i not in idx]
    end_dist = [abs(p.metrics.lyapunov[-1]) for p in kept]
    acc_rel = spearman(end_dist, [p.test_acc for p in kept], permutation=True)
    init_rel = spearman([abs(math.log(p.ratio)) for p in kept], end_dist, permutation=True)
    out.append(Claim.judged(
        f"{CHAPTER}.performance_vs_distance", "performance is best near criticality: test accuracy falls with the "
        f"trained network's |λ₀| (Spearman ρ, exact permutation p) — here one {len(cfg.hidden)}-layer tanh MLP of "
        f"width {cfg.hidden[0]} trained from {len(cfg.ratios)} inits σ_w² = r·σ_c² (one seed each, {cfg.steps} SGD "
        f"steps on {cfg.dataset}), not paper 004's >80 published models; diverged trainings are left out (listed); "
        "where the trained |λ₀| follows the init's |ln r| (their ρ is given), this tests trainability as much as "
        "criticality", "direction only",
        {"rho": acc_rel.rho, "rho_trained_abs_lambda0_vs_abs_ln_r": init_rel.rho, "excluded_diverged": excluded},
        "trend", detail={**dataclasses.asdict(acc_rel), "init_vs_trained_lambda0": dataclasses.asdict(init_rel),
                         "test_acc": {f"r={p.ratio:g}": p.test_acc for p in res.sweep},
                         "abs_lambda0_trained": {f"r={p.ratio:g}": abs(p.metrics.lyapunov[-1]) for p in res.sweep}},
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
    """Fig. 11.6: at the critical init r = 1 the paper's three statements (reproductions); at the other inits
    one finding each (plain training there starts from a handicapped init the penalty may repair)."""
    cfg, out = res.cfg, []
    betas = [b for b in cfg.penalties if b > 0]
    if 0.0 not in cfg.penalties or not betas:
        return out
    b = max(betas)
    bench = (f"our penalty β·⟨ln g_l⟩² with β={b:g} at equal budget ({cfg.reg_steps} SGD steps per task), "
             f"{cfg.tasks} permuted-{cfg.dataset} tasks, {cfg.seeds} seeds each paired by init and mini-batches, "
             "mean of the per-seed difference ± t-interval over seeds (SD floored at the test-set sampling SD); paper 004's objective and benchmark are not "
             "in our copy")
    for r in cfg.reg_ratios:
        plain, pen = res.reg(r, 0.0), res.reg(r, b)
        eff = penalty_effect(plain, pen, cfg.noise_level)
        detail = {"per_seed": {k: getattr(eff, k).values for k in ("accuracy", "robustness", "final_average", "new_task")},
                  "intervals": {k: getattr(eff, k).ci for k in ("accuracy", "robustness", "final_average", "new_task")},
                  "sd_and_floor": {k: (getattr(eff, k).sd, getattr(eff, k).floor_sd)
                                   for k in ("accuracy", "robustness", "final_average", "new_task")},
                  "means": eff.means, "acc_plain": [x.acc for x in plain], "acc_penalised": [x.acc for x in pen],
                  "seconds": {"plain": [x.seconds for x in plain], "penalised": [x.seconds for x in pen]}}
        if r != 1.0:
            out.append(Claim(f"{CHAPTER}.penalty_offcritical.r{r:g}", f"the penalty at the off-critical init r={r:g} "
                             "(where plain training starts handicapped, so a gain may be the penalty repairing the "
                             "init): penalised − plain task-0 accuracy, accuracy lost to noise (plain − penalised), "
                             f"average accuracy after the last task, new-task accuracy ({bench})", None,
                             {k: getattr(eff, k).mean for k in ("accuracy", "robustness", "final_average", "new_task")},
                             kind="finding", detail=detail))
            continue
        m = eff.means
        out += [
            Claim.judged(f"{CHAPTER}.accuracy.r1", "criticality training improves accuracy: task-0 test accuracy "
                         f"after task 0, penalised − plain, at the critical init r=1 ({bench})", "higher with penalty",
                         {"plain": m["acc_plain"], "penalised": m["acc_penalised"], "difference": eff.accuracy.mean},
                         "exceeds", detail=detail, **eff.accuracy.above_zero()),
            Claim.judged(f"{CHAPTER}.robustness.r1", "criticality training improves robustness: task-0 accuracy lost "
                         f"to Gaussian pixel noise of std {cfg.noise_level:g} (pixels in [0, 1]), plain − penalised "
                         f"(> 0: the penalised net loses less; clean accuracy beside it), at r=1 ({bench})",
                         "smaller loss with penalty",
                         {"drop_plain": m["drop_plain"], "drop_penalised": m["drop_penalised"],
                          "clean_plain": m["clean_plain"], "clean_penalised": m["clean_penalised"]},
                         "exceeds", detail={**detail, "noise_levels": plain[0].cfg.noise_levels,
                                            "curves_plain": [x.noise_acc for x in plain],
                                            "curves_penalised": [x.noise_acc for x in pen]},
                         **eff.robustness.above_zero()),
            Claim.judged(f"{CHAPTER}.continual.r1", "criticality training keeps performance in continual learning, "
                         f"read as forgetting: mean test accuracy over all {cfg.tasks} tasks after the last one, "
                         "penalised − plain, at r=1; each task's accuracy right after training it (plasticity) "
                         f"beside it ({bench})", "higher with penalty",
                         {"plain": m["final_average_plain"], "penalised": m["final_average_penalised"],
                          "new_task_plain": m["new_task_plain"], "new_task_penalised": m["new_task_penalised"]},
                         "exceeds", detail={**detail, "lyapunov_end_of_each_task": {
                             "plain": [_task_end(x) for x in plain], "penalised": [_task_end(x) for x in pen]}},
                         **eff.final_average.above_zero()),
        ]
    return out


def _collapse_claims(res: CriticalityMetricsResults) -> list[Claim]:
    cfg = res.cfg
    plain, pen = res.collapse["plain"], res.collapse["penalised"]
    eff = collapse_effect(plain, pen)
    m = eff.means
    setting = (f"{cfg.seeds} chains (seeds) × {cfg.collapse_generations} generations × {cfg.collapse_steps} SGD "
               f"steps, each generation a fresh network (init r={cfg.collapse_ratio:g}) trained on the previous "
               f"generation's {cfg.collapse_labels}d labels of the {cfg.dataset} training images — a classifier on "
               "its own sampled labels, not paper 004's generative models on generated data; mean over chains ± "
               "t-interval over chains (SD floored at the test-set / probe-input sampling SD)")
    detail = {"test_acc": {"plain": [r.test_acc for r in plain], "penalised": [r.test_acc for r in pen]},
              "label_fidelity": [r.label_fidelity for r in plain],
              "lyapunov_per_generation": {"plain": [r.lyapunov_end for r in plain],
                                          "penalised": [r.lyapunov_end for r in pen]}}
    return [
        Claim.judged(f"{CHAPTER}.collapse.degrades", "a classifier trained on labels sampled from its predecessor "
                     "loses accuracy over generations (plain: generation-0 test accuracy − the last generation's; "
                     "expected by construction, since every generation's sampled labels add errors, so this checks "
                     f"the set-up, not the paper; {setting})", "degrades",
                     {"generation_0": m["generation_0_plain"], "last": m["last_plain"]}, "exceeds", kind="check",
                     detail={**detail, "per_chain": eff.degradation.values, "sd": eff.degradation.sd,
                             "floor_sd": eff.degradation.floor_sd}, **eff.degradation.above_zero()),
        Claim.judged(f"{CHAPTER}.collapse.loses_criticality", "model collapse reflects a loss of critical dynamics: "
                     "|λ₀| of the last generation − generation 0's per plain chain (λ₀ on the same probe inputs "
                     f"within a chain; the spread of generation-0 λ₀ across seeds beside it; {setting})", "|λ₀| grows",
                     {"generation_0": m["abs_lambda0_generation_0"], "last": m["abs_lambda0_last"],
                      "generation_0_sd_across_seeds": eff.gen0_lyapunov_sd}, "exceeds",
                     detail={**detail, "per_chain": eff.lyapunov_growth.values, "sd": eff.lyapunov_growth.sd,
                             "floor_sd": eff.lyapunov_growth.floor_sd}, **eff.lyapunov_growth.above_zero()),
        Claim.judged(f"{CHAPTER}.collapse.penalty_prevents", "criticality training prevents collapse: accuracy lost "
                     "from generation 0 to the last, plain − penalised per seed (> 0: the penalised chain degrades "
                     f"less; β={cfg.collapse_penalty:g}; both generation-0 accuracies beside it; {setting})",
                     "less degradation with penalty",
                     {"generation_0_plain": m["generation_0_plain"], "generation_0_penalised": m["generation_0_penalised"],
                      "last_plain": m["last_plain"], "last_penalised": m["last_penalised"]}, "exceeds",
                     detail={**detail, "per_seed": eff.prevention.values, "sd": eff.prevention.sd,
                             "floor_sd": eff.prevention.floor_sd}, **eff.prevention.above_zero()),
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

    if when not in ("both", "at", "after"):
        raise ValueError(f"when must be 'both', 'at' or 'after', got {when!r}")
    fig, (axs,) = panels(ax, 1, 3, (12, 3.4))
    ens = res.ensemble
    sw = np.array([p.sigma_w2 for p in res.sweep])
    grid = np.logspace(np.log10(sw.min()), np.log10(sw.max()), 80)
    chi = np.array([crit.chi1(w, res.cfg.bias_scale ** 2, res.cfg.activation) for w in grid])
    for ax, key, ylabel, theory, transient in (
            (axs[0], "lyapunov", "λ₀ (nats / layer)", 0.5 * np.log(chi), ens.mf_lyapunov),
            (axs[1], "branching", "branching parameter σ", chi, ens.mf_branching),
            (axs[2], "dynamic_range", "dynamic range Δ (dB)", None, None)):
        if when in ("both", "at"):
            cis = [OverSeeds.of(v) for v in getattr(ens, key)]
            m = np.array([c.mean for c in cis])
            err = np.array([[c.mean - c.ci[0], c.ci[1] - c.mean] for c in cis]).T
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
    axs[3].set_title(f"Spearman ρ = {spearman(d, [p.test_acc for p in res.sweep], permutation=True).rho:.2f}", fontsize=9)
    return fig


def plot_regularised(res: CriticalityMetricsResults, *, init_ratio: float = 1.0, penalty: float | None = None,
                     ax=None):
    """Fig. 11.6 (widget): λ₀ over the permuted-MNIST tasks, task accuracies and noise robustness,
    penalised (β = ``penalty``) vs plain from the same init σ_w² = ``init_ratio``·σ_c², every seed (thin) and
    their mean (bold / bars)."""

    penalty = max(res.cfg.penalties) if penalty is None else penalty
    plain, pen = res.reg(init_ratio, 0.0), res.reg(init_ratio, penalty)
    runs = ((plain, "plain", "#264653"), (pen, f"β={pen[0].cfg.penalty:g}", "#e76f51"))
    fig, (axs,) = panels(ax, 1, 3, (13, 3.4))
    for rs, lab, col in runs:
        for k, r in enumerate(rs):
            axs[0].plot(r.metrics.steps, r.metrics.lyapunov, "o-", ms=2, lw=1, alpha=0.6, color=col,
                        label=lab if k == 0 else None)
            axs[2].plot(r.cfg.noise_levels, r.noise_acc, "-", lw=1, alpha=0.4, color=col)
        axs[2].plot(rs[0].cfg.noise_levels, np.mean([r.noise_acc for r in rs], 0), "o-", lw=2, color=col,
                    label=f"{lab}, mean of {len(rs)} seeds")
    for t in range(1, res.cfg.tasks):
        axs[0].axvline(t * res.cfg.reg_steps, color="0.5", ls=":")
    axs[0].axhline(0, color="k", lw=0.8, ls="--")
    axs[0].set_xlabel("SGD step (dotted: task switch)")
    axs[0].set_ylabel("λ₀ (nats / layer)")
    axs[0].legend(fontsize=8)
    w = 0.38
    tasks = np.arange(res.cfg.tasks)
    for j, (rs, lab, col) in enumerate(runs):
        x = tasks + (j - 0.5) * w
        axs[1].bar(x, np.mean([r.acc[-1] for r in rs], 0), w, color=col, alpha=0.9, label=f"{lab}, after last task")
        for r in rs:
            axs[1].plot(x, r.acc[-1], "o", ms=3, color="0.2")
        axs[1].plot(x, np.mean([np.diag(r.acc) for r in rs], 0), "k_", ms=14, mew=2,
                    label="right after training it" if j == 0 else None)
    axs[1].set_xticks(tasks, [f"task {t}" for t in tasks])
    axs[1].set_xlabel("permuted-MNIST task (left bar plain, right bar penalised; dots: seeds)")
    axs[1].set_ylabel("test accuracy")
    axs[1].set_ylim(0, 1)
    axs[1].legend(fontsize=7, loc="lower left")
    axs[2].set_xlabel("pixel-noise std (images in [0, 1])")
    axs[2].set_ylabel("task-0 test accuracy")
    axs[2].legend(fontsize=8)
    fig.suptitle(f"init σ_w² = {plain[0].cfg.train.init_scale ** 2:.2g} ({init_ratio:g}·σ_c²)", fontsize=10)
    return fig


def plot_collapse(res: CriticalityMetricsResults, *, metric: str = "lyapunov", ax=None):
    """Fig. 11.7 (widget): model collapse over generations, plain vs penalised — test accuracy on the true
    labels, fraction of true labels among those trained on, and ``metric`` (λ₀, σ or Δ) of each trained
    network; every chain (thin) and their mean (bold)."""

    labels = {"lyapunov": "λ₀ after training (nats / layer)", "branching": "σ after training",
              "dynamic_range": "Δ after training (dB)"}
    if metric not in labels:
        raise ValueError(f"metric must be one of {', '.join(labels)}, got {metric!r}")
    fig, (axs,) = panels(ax, 1, 3, (13, 3.4))
    for key, col in (("plain", "#264653"), ("penalised", "#e76f51")):
        rs = res.collapse[key]
        lab = key if key == "plain" else f"β={rs[0].cfg.penalty:g}"
        g = np.arange(rs[0].cfg.generations)
        ys = [[np.pad(np.asarray(r.test_acc, float), (0, g.size - len(r.test_acc)), constant_values=np.nan)
               for r in rs],
              [np.pad(np.asarray(r.label_fidelity, float), (0, g.size - len(r.label_fidelity)),
                      constant_values=np.nan) for r in rs],
              [np.pad(np.array([getattr(m, metric)[-1] for m in r.metrics], float), (0, g.size - len(r.metrics)),
                      constant_values=np.nan) for r in rs]]
        for a, y in zip(axs, ys):
            for yk in y:
                a.plot(g, yk, "-", lw=1, alpha=0.4, color=col)
            a.plot(g, np.nanmean(y, 0), "o-", lw=2, color=col, label=f"{lab}, mean of {len(rs)} chains")
    axs[0].set_ylabel("test accuracy (true labels)")
    axs[1].set_ylabel("fraction of training labels that are true")
    axs[2].set_ylabel(labels[metric])
    axs[2].axhline({"lyapunov": 0.0, "branching": 1.0}.get(metric, np.nan), color="k", lw=0.8, ls="--")
    for a in axs:
        a.set_xlabel("generation (0: true labels)")
        a.legend(fontsize=8)
    return fig
