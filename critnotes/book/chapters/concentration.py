"""Chapter 7 — landscape concentration and the convergence phase diagram (paper 003 §2.1–2.3, Fig 2).

One reference run (:data:`critnotes.training.runs.SHARED_RUN`, shared with chapters 6, 8–10) gives the time
course: p(L), P(L ≥ b), L̄, Var(L), ε(t), ΔS and 𝓛 = ln(L̄/ΔS) under both readings of b (the level itself,
a = b, primary; or a deviation above L̄, a = L̄ + b, a sensitivity row), the free energy of Eq 2, the Eq-1
bound checked by sampling batches, and landscape slices along a critical and a non-critical connection.
A grid over (M, ν) at B = 64 plus a batch-size axis at one width (:class:`GridConfig`, run through
:func:`critnotes.training.sweeps.sweep`; the flux chapter reuses it) gives the phase diagram, the γ = ν/B
collapse and the final p(L) of converged cells.  A cell counts as converged only if it learned (train
accuracy ≥ :data:`CHANCE_ACC` and L̄ < :data:`CHANCE_LOSS`) and its 𝓛 at the end is measured and below the
threshold.  The paper has no methods section: every choice is a config field, stated in the claim it moves.
"""
from __future__ import annotations

import dataclasses
import math
import sys

import matplotlib.pyplot as plt
import numpy as np

from critnotes.analysis import fitting
from critnotes.analysis import loss_concentration as conc
from critnotes.analysis.graphs import correlation_matrix
from critnotes.book.chapters import summarize
from critnotes.book.plotting import axes, panels
from critnotes.book.profiles import chapter_config
from critnotes.book.results import Claim
from critnotes.book.verdicts import RULES, Verdict, judge, missing, rule
from critnotes.training import cache
from critnotes.training.loop import run_data
from critnotes.training.runs import SHARED_RUN, CriticalRunConfig, critical_run, model_at
from critnotes.training.sweeps import Failed, sweep

CHAPTER = "concentration"
READINGS = ("absolute", "relative")   # b as the level (a = b, primary) or as a deviation above L̄ (a = L̄ + b)
CHANCE_ACC = 0.2                      # train accuracy below this: the network did not learn (MNIST chance 0.1)
CHANCE_LOSS = 0.9 * math.log(10)      # L̄ at or above 0.9·ln 10 (chance cross-entropy of 10 classes): did not learn
PAPER_THRESHOLD = -5.0                # Fig 2g: converged cells have 𝓛 < −5
PAPER_STEPS = 200_000                 # the paper's iterations (reference run and grid)
SWITCH_WINDOW = (20, 500)             # around the paper's connectivity transition t ≈ 100 (Figs 1b, 2c, 3c–d)
TURN_WINDOW = (1e4, 1.6e5)            # around the paper's energy → entropy turnaround t ≈ 4×10⁴ (§2.2)


@dataclasses.dataclass(frozen=True)
class GridConfig:
    """The grid of Figs 2f–i and 3e–p: widths h (M = 2h + 10) × learning rates ν at batch B, plus a
    batch-size axis at ``collapse_width``: for every extra B the learning rates are scaled to ν·B/``batch_size``,
    so each of these cells repeats a γ = ν/B of the main grid with another (ν, B) (the γ collapse)."""

    widths: tuple[int, ...] = (10, 25, 50, 100)
    lrs: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
    batch_size: int = 64
    batch_sizes: tuple[int, ...] = (32, 128)     # the extra B of the collapse axis
    collapse_width: int | None = None           # None: the largest width
    steps: int = 5000
    n_checkpoints: int = 25
    n_probe: int = 200
    seed: int = 0
    dataset: str = "mnist-10k"
    normalize: str = "standard"
    n_jobs: int = 2                              # joblib processes for the sweep

    def configs(self) -> list[CriticalRunConfig]:
        """One :class:`CriticalRunConfig` per cell: widths outer, learning rates inner at ``batch_size``,
        then the collapse axis (extra B outer, scaled learning rates inner)."""
        def one(w, lr, b):
            return CriticalRunConfig(width=w, lr=lr, batch_size=b, steps=self.steps, seed=self.seed,
                                     n_checkpoints=self.n_checkpoints, n_probe=self.n_probe, dataset=self.dataset,
                                     normalize=self.normalize)
        wc = self.collapse_width or max(self.widths)
        return ([one(w, lr, self.batch_size) for w in self.widths for lr in self.lrs]
                + [one(wc, lr * b / self.batch_size, b) for b in self.batch_sizes for lr in self.lrs])


@dataclasses.dataclass(frozen=True)
class ConcentrationConfig:
    run: CriticalRunConfig = SHARED_RUN["quick"]
    grid: GridConfig = GridConfig()
    b: float = 5e-3                      # paper's large-deviation parameter (Fig 2d)
    relative: bool = False               # the primary reading of b (reference run and grid): a = b; the other
                                         # reading is computed as a sensitivity row and verdicts need both
    trend_from: float = 10.0             # t_c: "after several initial training iterations" (trend tests over t ≥ t_c)
    entropy_from: float = 4e4            # §2.2: ΔS falls before t ≈ 4×10⁴ and rises after (the entropy-driven stage)
    lam: float = -1.0                    # λ of the free energy (Eq 2; the paper gives no value, λ ≤ 0)
    lams: tuple[float, ...] = (-0.1, -10.0)   # further λ reported with the free energy (a finding)
    converged_below: float | None = None  # 𝓛_end below this counts as converged; None: at the jump of 𝓛
                                          # over the learned cells (conc.jump_threshold), with the paper's −5 beside it
    bound_batch: int = 64
    bound_batches: int = 20_000
    bound_sigmas: tuple[float, ...] = (1.0, 2.0, 3.0)   # Eq-1 check at levels a = L̄ + kσ/√B
    family_max_samples: int | None = None    # subsample p(L) for the family fits (None: all N)
    c_th: float = 0.5
    slice_times: tuple[int, ...] = (1, 100)  # plus the last checkpoint
    slice_span: float = 4.0
    slice_points: int = 61


PROFILES = {
    "ci": ConcentrationConfig(run=SHARED_RUN["ci"], grid=GridConfig(widths=(10, 20), lrs=(0.1, 3.0), batch_sizes=(32,),
                                                                     steps=300, n_checkpoints=12, n_jobs=1),
                              bound_batches=2000, family_max_samples=1500, slice_points=21),
    "quick": ConcentrationConfig(),
    # the paper: full MNIST (60 000 training digits) and 2×10⁵ iterations for the reference run and the grid
    "paper": ConcentrationConfig(run=SHARED_RUN["paper"],
                                 grid=GridConfig(widths=(10, 25, 50, 100, 250, 500),
                                                 lrs=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0),
                                                 steps=200_000, n_checkpoints=60, dataset="mnist"),
                                 family_max_samples=10_000),
    # the paper's reference run and grid axes, the grid cells shortened to 2×10⁴ iterations (PROFILE_DIFFERENCES)
    "paper-cpu": ConcentrationConfig(run=SHARED_RUN["paper"],
                                     grid=GridConfig(widths=(10, 25, 50, 100, 250, 500),
                                                     lrs=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0),
                                                     steps=20_000, n_checkpoints=40, dataset="mnist"),
                                     family_max_samples=10_000),
}
#: what a profile changes from the paper's settings (stored with each of its results)
PROFILE_DIFFERENCES = {"paper-cpu": (
    "the (M, ν) grid and its batch-size axis (Figs 2f–i): the paper's 6 widths × 8 learning rates on full MNIST, each "
    "cell trained 2×10⁴ iterations with 40 checkpoints, not 2×10⁵ with 60 (64 cells × 2×10⁵ exceed a 2-core CPU "
    "session); a cell that would converge later counts as unconverged, and the final p(L) of converged cells is "
    "read at 2×10⁴ (the paper: small-γ cells converge slowly, but converge given enough iterations); the "
    "reference run (Figs 2a–e) is the `paper` preset's: 2×10⁵ iterations on full MNIST",
)}


@dataclasses.dataclass(frozen=True)
class Cell:
    """One trained grid cell: its run config, the per-checkpoint losses and criterion series."""

    run: CriticalRunConfig
    diverged: bool
    steps: np.ndarray
    losses: np.ndarray
    series: conc.CriterionSeries
    final_crit: float
    train_acc: float

    @property
    def final_loss(self) -> float:
        """L̄ at the last checkpoint (NaN when diverged)."""
        return float(self.series.mean[-1])


def cell_run(cell) -> CriticalRunConfig:
    """The run config of a grid cell, trained (:class:`Cell`) or failed (:class:`Failed`, config = sweep args)."""
    return cell.config[0] if isinstance(cell, Failed) else cell.run


def learned(cell) -> bool:
    """The cell trained, did not diverge and learned: train accuracy ≥ :data:`CHANCE_ACC` and final L̄ <
    :data:`CHANCE_LOSS`.  ``cell``: a :class:`Failed`, or any object with ``diverged``, ``train_acc`` and
    ``final_loss`` (:class:`Cell`, the flux chapter's cells)."""
    if isinstance(cell, Failed) or cell.diverged:
        return False
    return bool(cell.train_acc >= CHANCE_ACC and np.isfinite(cell.final_loss) and cell.final_loss < CHANCE_LOSS)


def cell_status(cell, threshold: float) -> str:
    """"failed" (training raised), "diverged", "dead" (trained to chance: no learning), "not measured" (learned,
    but 𝓛 at the end is not measured: L̄ > b under the absolute reading), "converged" or "unconverged"."""
    if isinstance(cell, Failed):
        return "failed"
    if cell.diverged:
        return "diverged"
    if not learned(cell):
        return "dead"
    if not np.isfinite(cell.final_crit):
        return "not measured"
    return "converged" if cell.final_crit < threshold else "unconverged"


def final_crit(cell) -> float:
    """𝓛 at the end of a grid cell; NaN for a failed, diverged or dead cell (:func:`learned`) and where 𝓛 is
    not measured."""
    return float(cell.final_crit) if learned(cell) else math.nan


@dataclasses.dataclass
class ConcentrationResults:
    cfg: ConcentrationConfig
    steps: np.ndarray              # checkpoints of the reference run
    losses: np.ndarray             # (n_ckpt, N) per-sample losses L_k(t)
    readings: dict                 # {"absolute" | "relative": conc.CriterionSeries} of the reference run
    turnarounds: dict              # {"absolute" | "relative": conc.Turnaround}
    family: conc.FamilySwitch
    bounds: dict                   # {t: (conc.BoundCheck per k of cfg.bound_sigmas)}: Eq-1 check at a = L̄ + kσ/√B
    connections: conc.ConnectionPicks
    slices: dict                   # {"critical"|"noncritical": {t: conc.LandscapeSlice}}
    cells: list                    # grid cells: Cell, or Failed when the training raised
    threshold: float               # 𝓛_end below which a learned cell counts as converged
    boundary: conc.BoundaryFit     # our fitted boundary
    test_acc: float

    @property
    def reading(self) -> str:
        return "relative" if self.cfg.relative else "absolute"

    @property
    def other_reading(self) -> str:
        return "absolute" if self.cfg.relative else "relative"

    @property
    def series(self) -> conc.CriterionSeries:
        """The criterion series of the configured (primary) reading."""
        return self.readings[self.reading]

    @property
    def turnaround(self) -> conc.Turnaround:
        return self.turnarounds[self.reading]


def grid_cell(args) -> Cell:
    """Train (cached) one grid cell and summarise it: per-checkpoint criterion series and losses.

    ``args = (CriticalRunConfig, b, relative)``; module-level so joblib can ship it to processes.
    """
    cfg, b, relative = args

    def compute():
        res = critical_run(cfg, progress=False)
        rec = res.probes["sample_loss"]
        ser = conc.criterion_series(rec.steps, rec.losses, b, relative=relative)
        end = ser.crit[-1] if not res.diverged else math.nan
        return Cell(cfg, bool(res.diverged), rec.steps, rec.losses, ser, float(end), res.train_acc)

    return cache.cached("concentration-cell", (cfg, b, relative), compute, code=(compute, conc), expect=Cell)


def _slices(res, cfg: ConcentrationConfig) -> tuple[conc.ConnectionPicks, dict]:
    act = res.probes["activity"]
    conns = conc.pick_connections(correlation_matrix(act.activity[-1]), act.layer_sizes, cfg.c_th)
    data = run_data(res.cfg)
    steps = res.probes["weights"].steps
    times = sorted({int(steps[np.argmin(np.abs(steps - t))]) for t in cfg.slice_times} | {int(steps[-1])})
    out = {}
    for kind in ("critical", "noncritical"):
        conn = getattr(conns, kind)
        if conn is None:
            continue
        out[kind] = {t: conc.landscape_slice(model_at(res, t), data.x_train, data.y_train, conn[0], conn[1],
                                             span=cfg.slice_span, n_points=cfg.slice_points, seed=t)
                     for t in times}
    return conns, out


def _subsample(losses: np.ndarray, n: int | None, seed: int = 0) -> np.ndarray:
    """At most ``n`` samples (columns) of per-sample losses, drawn without replacement (None: all)."""
    if n is None or losses.shape[-1] <= n:
        return losses
    return losses[..., np.random.default_rng(seed).choice(losses.shape[-1], n, replace=False)]


def _bound_checks(losses: np.ndarray, cfg: ConcentrationConfig) -> tuple:
    """Eq 1 at one checkpoint at the levels a = L̄ + kσ/√B (k in ``cfg.bound_sigmas``): there the sampled
    frequency is near the Gaussian tail beyond k standard errors, far from 0 and 1, so a wrong ΔS would show."""
    sd = float(np.std(losses))
    return tuple(conc.batch_bound_check(losses, k * sd / math.sqrt(cfg.bound_batch), batch_size=cfg.bound_batch,
                                        n_batches=cfg.bound_batches, relative=True) for k in cfg.bound_sigmas)


def run(cfg: ConcentrationConfig, device=None, progress: bool = True) -> ConcentrationResults:
    """The reference run's concentration statistics (both readings of b) and the grid."""
    res = critical_run(cfg.run, device=device, progress=progress)
    rec = res.probes["sample_loss"]
    readings = {r: conc.criterion_series(rec.steps, rec.losses, cfg.b, relative=(r == "relative")) for r in READINGS}
    turns = {r: conc.turnaround_time(rec.steps, s.mean, s.delta_s) for r, s in readings.items()}
    family = conc.family_switch(rec.steps, _subsample(rec.losses, cfg.family_max_samples))
    picks = np.unique(np.linspace(1, len(rec.steps) - 1, 4).astype(int))
    bounds = {int(rec.steps[k]): _bound_checks(rec.losses[k], cfg) for k in picks if np.std(rec.losses[k]) > 0}
    conns, slices = _slices(res, cfg)
    cells = sweep(grid_cell, [(c, cfg.b, cfg.relative) for c in cfg.grid.configs()], n_jobs=cfg.grid.n_jobs,
                  desc="(M, γ) grid", progress=progress)
    threshold = convergence_threshold(cells, cfg.converged_below)
    runs = [cell_run(c) for c in cells]
    boundary = conc.fit_boundary(np.log([r.n_neurons for r in runs]), np.log([r.gamma for r in runs]),
                                 [is_converged(c, threshold) for c in cells])
    return ConcentrationResults(cfg, rec.steps, rec.losses, readings, turns, family, bounds,
                                conns, slices, cells, threshold, boundary, res.test_acc)


def convergence_threshold(cells: list, fixed: float | None) -> float:
    """``fixed``, or the jump of 𝓛_end over the learned cells with a measured 𝓛 (:func:`conc.jump_threshold`,
    needs ≥ 3), else the paper's −5."""
    if fixed is not None:
        return float(fixed)
    vals = np.array([final_crit(c) for c in cells])
    return conc.jump_threshold(vals) if np.isfinite(vals).sum() >= 3 else PAPER_THRESHOLD


def is_converged(cell, threshold: float) -> bool:
    """A grid cell converged: it learned (:func:`learned`; a dead or diverged network never counts) and its 𝓛
    at the end is measured and below ``threshold``."""
    v = final_crit(cell)
    return bool(np.isfinite(v)) and v < threshold


def main_grid(res_or_cells, grid: GridConfig) -> list:
    """The cells at the main batch size (the (M, ν) grid of Fig 2f), trained or failed."""
    return [c for c in res_or_cells if cell_run(c).batch_size == grid.batch_size]


def collapse_fit(cells: list, value, grid: GridConfig) -> conc.CollapseFit:
    """The γ collapse (Figs 2h–i, 3f/h) at the collapse width: k in value = f(ln ν − k ln B) over its cells
    (:func:`conc.collapse_exponent`); ``value(cell)`` gives a number (NaN: left out)."""
    wc = grid.collapse_width or max(grid.widths)
    at = [c for c in cells if cell_run(c).width == wc]
    return conc.collapse_exponent([cell_run(c).lr for c in at], [cell_run(c).batch_size for c in at],
                                  [value(c) for c in at])


# --------------------------------------------------------------------------------------------------
# rules and claims
# --------------------------------------------------------------------------------------------------
@rule(agrees=dict(t=100, lo=20, hi=500, last=20_000), differs=dict(t=5000, lo=20, hi=500, last=20_000))
def time_in_window(t: float | None, lo: float, hi: float, last: float, measured: bool = True) -> Verdict:
    """An event time against the paper's window [lo, hi]: ``agrees`` inside, ``differs`` outside or when no
    event is seen in a run that passes ``hi``; ``inconclusive`` when the run stops before ``hi`` without
    the event, or before ``lo`` at all (it cannot reach the paper's window); ``not measured`` when the
    quantity could not be measured (``measured=False``)."""
    if not measured:
        return Verdict("not measured", "too few checkpoints where the quantity is measured")
    if last < lo:
        return Verdict("inconclusive", f"the run stops at t = {last:g}, before the paper's window [{lo:g}, {hi:g}]")
    if t is None:
        if last >= hi:
            return Verdict("differs", f"no event up to t = {last:g}, past the paper's window")
        return Verdict("inconclusive", f"no event yet; the run stops at t = {last:g} inside the paper's window")
    if lo <= t <= hi:
        return Verdict("agrees", f"t = {t:g} inside [{lo:g}, {hi:g}]")
    return Verdict("differs", f"t = {t:g} outside [{lo:g}, {hi:g}]")


@rule(agrees=dict(base="trend", primary=dict(rho=-0.9, p=1e-4, sign=-1), secondary=dict(rho=-0.8, p=1e-3, sign=-1)),
      differs=dict(base="trend", primary=dict(rho=0.9, p=1e-4, sign=-1), secondary=dict(rho=0.8, p=1e-3, sign=-1)))
def consistent(base: str, primary: dict, secondary: dict,
               names: tuple[str, str] = ("absolute reading (a = b)", "relative reading (a = L̄ + b)")) -> Verdict:
    """One statement judged twice by the registered rule ``base``: on the primary setting and on a sensitivity
    setting (the two readings of b, or two convergence thresholds).  Not measured on the primary setting →
    ``not measured``; both verdicts equal → that verdict; otherwise ``inconclusive`` (the setting decides)."""
    if base not in RULES:
        raise KeyError(f"no rule named {base!r}")
    a, b = judge(base, **primary), judge(base, **secondary)
    both = f"{names[0]}: {a.verdict} ({a.reason}); {names[1]}: {b.verdict} ({b.reason})"
    if a.verdict == "not measured":
        return Verdict("not measured", both)
    if b.verdict in (a.verdict, "not measured"):
        return Verdict(a.verdict, both)
    return Verdict("inconclusive", "the settings disagree — " + both)


@rule(agrees=dict(t_switch=100, lognormal_at_end=False, lo=20, hi=500, last=20_000),
      differs=dict(t_switch=None, lognormal_at_end=True, lo=20, hi=500, last=20_000))
def family_switch_time(t_switch: int | None, lognormal_at_end: bool, lo: float, hi: float, last: float) -> Verdict:
    """The log-normal → power-law switch: a lasting, decisive power-law regime (:func:`conc.family_switch`)
    that starts inside [lo, hi] agrees, outside differs; no such regime is ``differs`` only where the
    log-normal still wins decisively at the end of a run past ``hi``, else ``inconclusive`` (a broad
    log-normal and a power-law tail are often indistinguishable)."""
    if last < lo:
        return Verdict("inconclusive", f"the run stops at t = {last:g}, before the paper's window [{lo:g}, {hi:g}]")
    if t_switch is None:
        if lognormal_at_end and last >= hi:
            return Verdict("differs", f"the log-normal still wins decisively at t = {last:g}")
        return Verdict("inconclusive", "no lasting decisive power-law regime (R > 0, p < 0.1) from any checkpoint on")
    return time_in_window(t_switch, lo, hi, last)


@rule(agrees=dict(k=5, n=20, rho_before=0.9, p_before=1e-3, n_before=6, rho_after=-0.9, p_after=1e-3, n_after=15,
                  rho_all=0.1, p_all=0.6, last=2e5, from_t=4e4),
      differs=dict(k=None, n=20, rho_before=None, p_before=None, n_before=0, rho_after=None, p_after=None,
                   n_after=0, rho_all=0.95, p_all=1e-6, last=2e5, from_t=4e4))
def eps_turnaround(k: int | None, n: int, rho_before: float | None, p_before: float | None, n_before: int,
                   rho_after: float | None, p_after: float | None, n_after: int, rho_all: float | None,
                   p_all: float | None, last: float, from_t: float) -> Verdict:
    """ε(t) turns around (§2.2, in either direction — the paper states no direction): an interior extremum
    with significant trends of opposite sign before and after it (Spearman, p < 0.05, ≥ 3 points each).
    ``inconclusive`` for a run that stops before ``from_t`` (the paper's "similar behaviours" to the ΔS
    turnaround at ≈ 4×10⁴); ``differs`` when ε is significantly monotone with no interior extremum."""
    if n == 0 or (k is None and missing(rho_all)):
        return Verdict("not measured", "no finite ε")
    if last < from_t:
        return Verdict("inconclusive", f"the run stops at t = {last:g}, before the stage (t ≈ {from_t:g}) where the "
                                       "paper places the turnarounds")
    if k is None:
        if not missing(p_all) and p_all < 0.05:
            return Verdict("differs", f"ε is monotone (ρ = {rho_all:.2f}, p = {p_all:.2g}): no turnaround")
        return Verdict("inconclusive", "no interior extremum and no significant trend")
    if min(n_before, n_after) < 3 or missing(rho_before, p_before, rho_after, p_after):
        return Verdict("inconclusive", f"{n_before} checkpoints before and {n_after} after the extremum")
    if p_before < 0.05 and p_after < 0.05 and rho_before * rho_after < 0:
        return Verdict("agrees", f"significant trends of opposite sign around the extremum (p = {p_before:.2g}, "
                                 f"{p_after:.2g})")
    return Verdict("inconclusive", f"interior extremum without significant opposite trends (p = {p_before:.2g}, "
                                   f"{p_after:.2g})")


@rule(agrees=dict(p_with=[0.15, 0.02], bound=[0.6, 0.15], n_batches=2000),
      differs=dict(p_with=[0.3, 0.05], bound=[0.05, 0.001], n_batches=2000))
def bound_holds(p_with: list, bound: list, n_batches: int) -> Verdict:
    """Eq 1: every sampled frequency of L̂_B ≥ level at most three binomial standard errors above e^{−BΔS}."""
    if not p_with:
        return Verdict("not measured", "no checkpoint with a spread of losses")
    over = [(p, b) for p, b in zip(p_with, bound) if p > b + 3 * math.sqrt(max(b, 1e-4) / n_batches)]
    if over:
        return Verdict("differs", f"{len(over)} of {len(p_with)} frequencies above the bound")
    return Verdict("agrees", f"all {len(p_with)} sampled frequencies within the bound")


def wilson(k: int, n: int) -> tuple[float, float]:
    """The Wilson 95 % interval of a binomial fraction k/n."""
    if n == 0:
        return (math.nan, math.nan)
    z, f = 1.96, k / n
    c = (f + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(f * (1 - f) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (c - h, c + h)


@rule(agrees=dict(above=(0.8, 1.0), below=(0.0, 0.2), n_measured=8, acc_phi=0.95, acc_no_m=0.8),
      differs=dict(above=(0.0, 0.2), below=(0.6, 1.0), n_measured=8, acc_phi=0.3, acc_no_m=0.8))
def phase_sides(above: tuple[float, float], below: tuple[float, float], n_measured: int, acc_phi: float | None,
                acc_no_m: float | None) -> Verdict:
    """Converged fractions above and below the paper's boundary (their 95 % intervals): ``agrees`` when the
    above-interval lies over ½ and over the below-interval *and* φ classifies the grid better than the best
    rule that ignores M (``acc_phi`` > ``acc_no_m``; else the grid does not test M: ``inconclusive``);
    ``differs`` when the above-interval lies under ½ or under the below-interval; ``not measured`` when no
    learned cell has a measured 𝓛 at the end."""
    if n_measured == 0:
        return Verdict("not measured", "no learned cell has a measured 𝓛 at the end (L̄ > b everywhere)")
    if missing(*above, *below):
        return Verdict("not measured", "no grid cells on one side of the boundary")
    if above[1] < 0.5 or above[1] < below[0]:
        return Verdict("differs", "not mostly converged above the boundary (or more below)")
    if above[0] > 0.5 and above[0] > below[1]:
        if missing(acc_phi, acc_no_m) or acc_phi <= acc_no_m:
            return Verdict("inconclusive", f"mostly converged above the boundary, but a rule ignoring M classifies "
                                           f"as well (accuracy {acc_no_m:.2f} vs φ {acc_phi:.2f})")
        return Verdict("agrees", f"mostly converged above the boundary, fewer below; φ accuracy {acc_phi:.2f} > "
                                 f"{acc_no_m:.2f} without M")
    return Verdict("inconclusive", "the converged fractions' intervals overlap ½ or each other")


@rule(agrees=dict(c2=0.5, c2_se=0.1, n_points=5), differs=dict(c2=-0.6, c2_se=0.1, n_points=5))
def u_shaped(c2: float | None, c2_se: float | None, n_points: int) -> Verdict:
    """The boundary is a U (c₂ > 0) with its 95 % interval: < 4 boundary points give no interval."""
    if c2 is None:
        return Verdict("not measured", f"{n_points} boundary points: no parabola")
    if c2_se is None or n_points < 4:
        return Verdict("inconclusive", f"a parabola through {n_points} points has no error estimate")
    lo, hi = c2 - 1.96 * c2_se, c2 + 1.96 * c2_se
    if lo > 0:
        return Verdict("agrees", f"c₂ interval [{lo:.2g}, {hi:.2g}] > 0")
    if hi < 0:
        return Verdict("differs", f"c₂ interval [{lo:.2g}, {hi:.2g}] < 0: an inverted U")
    return Verdict("inconclusive", f"c₂ interval [{lo:.2g}, {hi:.2g}] contains 0")


@rule(agrees=dict(k=1.05, ci=(0.8, 1.3)), differs=dict(k=0.1, ci=(-0.2, 0.4)))
def collapse_k(k: float | None, ci: tuple[float, float] | None) -> Verdict:
    """ν and B act through γ = ν/B: the exponent k of value = f(ln ν − k ln B) (:func:`conc.collapse_exponent`)
    agrees when its 95 % interval contains 1 and excludes 0 ("only ν matters") and ½ ("ν/√B"), differs
    when it excludes 1, else ``inconclusive``."""
    if k is None or ci is None:
        return Verdict("not measured", "too few finite cells (≥ 4, two batch sizes) at the collapse width")
    lo, hi = ci
    if not lo <= 1.0 <= hi:
        return Verdict("differs", f"k interval [{lo:.2f}, {hi:.2f}] excludes 1: B acts beyond γ")
    if lo > 0.5:
        return Verdict("agrees", f"k interval [{lo:.2f}, {hi:.2f}] contains 1, excludes 0 and ½")
    return Verdict("inconclusive", f"k interval [{lo:.2f}, {hi:.2f}] cannot exclude ν alone or ν/√B")


def _side_fractions(res: ConcentrationResults, threshold: float | None = None) -> dict:
    thr = res.threshold if threshold is None else threshold
    cells = main_grid(res.cells, res.cfg.grid)
    runs = [cell_run(c) for c in cells]
    d = conc.boundary_distance([r.n_neurons for r in runs], [r.gamma for r in runs])
    conv = np.array([is_converged(c, thr) for c in cells], dtype=bool)
    status = [cell_status(c, thr) for c in cells]
    above, below = d > 0, d <= 0
    frac = lambda m: float(conv[m].mean()) if m.any() else None  # noqa: E731
    lg = np.log([r.gamma for r in runs])
    return {"above": frac(above), "below": frac(below), "n_above": int(above.sum()), "n_below": int(below.sum()),
            "ci_above": wilson(int(conv[above].sum()), int(above.sum())),
            "ci_below": wilson(int(conv[below].sum()), int(below.sum())),
            "n_measured": sum(s in ("converged", "unconverged") for s in status),
            "status": {s: status.count(s) for s in sorted(set(status))}, "threshold": thr,
            "acc_phi": float(np.mean(above == conv)) if cells else None,
            "acc_no_m": conc.window_accuracy(lg, conv) if cells else None}


def threshold_name(res: ConcentrationResults) -> str:
    """How ``res.threshold`` was set: fixed in the config, at the jump of 𝓛_end, or the paper's −5 (fewer than three
    learned cells with a measured 𝓛)."""
    if res.cfg.converged_below is not None:
        return "fixed threshold"
    if np.isfinite([final_crit(c) for c in res.cells]).sum() >= 3:
        return "jump threshold"
    return "paper's threshold (too few measured cells for a jump)"


def converged_losses(res: ConcentrationResults) -> np.ndarray:
    """The pooled final per-sample losses of the converged cells (Fig 2g, drawn), subsampled per cell."""
    pooled = [_subsample(c.losses[-1], res.cfg.family_max_samples, seed=i)
              for i, c in enumerate(res.cells) if is_converged(c, res.threshold)]
    return np.concatenate(pooled) if pooled else np.array([])


def cell_families(res: ConcentrationResults) -> list[dict]:
    """Per converged cell, its final p(L) tail: power law against log-normal (Fig 2g judged cell by cell —
    pooling cells would fit a mixture).  ``wins``: "power law" / "lognormal" (R's sign with p < 0.1),
    "undecided", "at_bound" (α on its search bound) or "error"."""
    out = []
    for i, c in enumerate(res.cells):
        if not is_converged(c, res.threshold):
            continue
        x = _subsample(c.losses[-1], res.cfg.family_max_samples, seed=i)
        x = x[np.isfinite(x) & (x > 0)]
        r = cell_run(c)
        row = {"M": r.n_neurons, "lr": r.lr, "B": r.batch_size, "n": int(x.size)}
        try:
            cf = fitting.compare_families(x)
        except ValueError as exc:
            out.append({**row, "wins": "error", "error": str(exc)})
            continue
        R, p = cf.comparisons["power_law_vs_lognormal"]
        wins = ("at_bound" if cf.at_bound else "undecided" if p >= 0.1 else "power law" if R > 0 else "lognormal")
        out.append({**row, "wins": wins, "R": R, "p": p, "alpha": cf.power_law.alpha, "n_tail": cf.n_tail})
    return out


def _turn_inputs(ser: conc.CriterionSeries, turn: conc.Turnaround, last: int) -> dict:
    return dict(t=turn.t, lo=TURN_WINDOW[0], hi=TURN_WINDOW[1], last=last, measured=bool(ser.measured.sum() >= 5))


def _trend_inputs(steps, values, t_from: float, sign: int) -> dict:
    tr = conc.monotonic_trend(steps, values, t_from)
    return dict(rho=None if math.isnan(tr.rho) else tr.rho, p=None if math.isnan(tr.p) else tr.p, sign=sign)


def free_energy_steps(res: ConcentrationResults) -> dict:
    """The free energy 𝓕 = L̄ − λS (Eq 2) of the primary reading over the measured checkpoints t ≥ t_c: per λ
    (``cfg.lam``, ``cfg.lams`` and λ* = −range(L̄)/range(ΔS), where λ·ΔS moves as much as L̄) the number of
    rising steps and Spearman's ρ (a Lyapunov function never rises)."""
    s, cfg = res.series, res.cfg
    keep = (res.steps >= cfg.trend_from) & s.measured
    out = {}
    lams = [cfg.lam, *cfg.lams]
    if keep.sum() >= 2:
        rng_s = np.ptp(s.delta_s[keep])
        if rng_s > 0:
            lams.append(-float(np.ptp(s.mean[keep]) / rng_s))
    for lam in sorted(set(lams)):
        f = conc.free_energy(s.mean[keep], s.delta_s[keep], res.losses.shape[1], lam)
        tr = conc.monotonic_trend(res.steps[keep], f)
        out[lam] = {"rising_steps": int(np.sum(np.diff(f) > 0)), "steps": max(int(keep.sum()) - 1, 0),
                    "rho": tr.rho, "p": tr.p}
    return out


def claims(res: ConcentrationResults) -> list[Claim]:
    cfg, steps = res.cfg, res.steps
    last = int(steps[-1])
    prim, sec = res.reading, res.other_reading
    names = (f"{prim} reading (a = {'L̄ + b' if prim == 'relative' else 'b'})",
             f"{sec} reading (a = {'L̄ + b' if sec == 'relative' else 'b'})")
    ours = (f"ours: {cfg.run.dataset}, inputs {cfg.run.normalize}, {cfg.run.steps} iterations (paper: MNIST, "
            f"{PAPER_STEPS})")
    stated = {"b": cfg.b, "reading": prim, "t_c": cfg.trend_from, "normalize": cfg.run.normalize,
              "dataset": cfg.run.dataset, "steps": cfg.run.steps}
    fam = res.family
    out = [Claim.judged(
        "concentration.family_switch.t", "p(L) switches from log-normal to a power-law-like tail at the connectivity "
        f"transition (Fig 2c): the power law wins decisively (R > 0, p < 0.1) from then on; {ours}", "t ≈ 100",
        fam.t_switch, "family_switch_time",
        detail={"switch": "first usable checkpoint from which the power law beats the log-normal decisively at every "
                          "later usable one (α on its search bound: not usable); "
                          f"window {SWITCH_WINDOW[0]:g} ≤ t ≤ {SWITCH_WINDOW[1]:g}",
                "first_t_lognormal_not_significant": fam.t_first_not_lognormal,
                "R_p_at_bound_by_t": {r.t: (r.R, r.p, r.at_bound) for r in fam.rows}, **stated},
        t_switch=fam.t_switch, lognormal_at_end=fam.lognormal_wins_at_end, lo=SWITCH_WINDOW[0], hi=SWITCH_WINDOW[1],
        last=last)]
    rs = res.readings
    out.append(Claim.judged(
        "concentration.turnaround.t", "energy-driven → entropy-driven turnaround of L̄ and ΔS (Fig 2d), judged on the "
        f"{prim} reading of b = {cfg.b:g} (checkpoints with a < L̄ not measured), inconclusive where the {sec} reading "
        f"disagrees; {ours}", "t ≈ 4×10⁴", res.turnaround.t, "consistent",
        detail={"turnaround": "minimum of the spline-smoothed ΔS(t) (t ≥ 10, ≥ 5 measured checkpoints) with ΔS rising "
                              f"afterwards; window {TURN_WINDOW[0]:g} ≤ t ≤ {TURN_WINDOW[1]:g}",
                f"t_{sec}": res.turnarounds[sec].t, **stated},
        base="time_in_window", primary=_turn_inputs(rs[prim], res.turnarounds[prim], last),
        secondary=_turn_inputs(rs[sec], res.turnarounds[sec], last), names=names))
    out.append(Claim.judged(
        "concentration.criterion.decreasing", f"𝓛 = ln(L̄/ΔS) decreases after the first iterations (Fig 2d; Spearman "
        f"over measured t ≥ {cfg.trend_from:g}), {prim} reading of b = {cfg.b:g}, inconclusive where the {sec} reading "
        f"disagrees; {ours}", "decreases",
        {r: conc.monotonic_trend(steps, rs[r].crit, cfg.trend_from).rho for r in READINGS}, "consistent",
        detail={"measured_checkpoints": {r: int(rs[r].measured.sum()) for r in READINGS},
                "filled_by_spline": {r: int(rs[r].filled.sum()) for r in READINGS}, **stated},
        base="trend", primary=_trend_inputs(steps, rs[prim].crit, cfg.trend_from, -1),
        secondary=_trend_inputs(steps, rs[sec].crit, cfg.trend_from, -1), names=names))
    out.append(Claim.judged(
        "concentration.delta_s.increasing", f"ΔS increases in the entropy-driven stage (§2.2; Spearman over measured "
        f"t ≥ {cfg.entropy_from:g}, where the paper's ΔS rises — it falls before), {prim} reading of b = {cfg.b:g}, "
        f"inconclusive where the {sec} reading disagrees; {ours}", "increases",
        {r: conc.monotonic_trend(steps, rs[r].delta_s, cfg.entropy_from).rho for r in READINGS}, "consistent",
        detail={"n_checkpoints_in_stage": int(np.sum(steps >= cfg.entropy_from)), **stated},
        base="trend", primary=_trend_inputs(steps, rs[prim].delta_s, cfg.entropy_from, +1),
        secondary=_trend_inputs(steps, rs[sec].delta_s, cfg.entropy_from, +1), names=names))
    fe = free_energy_steps(res)
    out.append(Claim(
        "concentration.free_energy.rising_steps", "the free energy 𝓕 = L̄ − λS (Eq 2), S = ln N − ΔS, over measured "
        f"checkpoints t ≥ {cfg.trend_from:g}: rising steps per λ (a Lyapunov function has none; the paper gives no λ, "
        "and where λΔS barely moves 𝓕 follows L̄)", None,
        {lam: f"{v['rising_steps']}/{v['steps']}" for lam, v in fe.items()}, kind="finding",
        detail={"per_lambda": fe, **stated}))
    ser = res.series
    ts = conc.turn_stats(steps, ser.eps, cfg.trend_from)
    out.append(Claim.judged(
        "concentration.eps.turnaround", "ε(t) = Var(L)/L̄² (the largest ε with Var(L) ≥ ε⟨L⟩²) turns around (§2.2, "
        f"either direction; judged on runs reaching t ≈ {cfg.entropy_from:g}); {ours}", "turnaround",
        ts.t, "eps_turnaround",
        detail={"extremum": ts.kind, "eps_start": float(ser.eps[0]), "eps_max": float(np.nanmax(ser.eps)),
                "eps_end": float(ser.eps[-1]), **stated},
        k=ts.k, n=int(np.isfinite(ser.eps).sum()), rho_before=ts.rho_before, p_before=ts.p_before,
        n_before=ts.n_before, rho_after=ts.rho_after, p_after=ts.p_after, n_after=ts.n_after,
        rho_all=None if math.isnan(ts.rho_all) else ts.rho_all, p_all=None if math.isnan(ts.p_all) else ts.p_all,
        last=last, from_t=cfg.entropy_from))
    checks = [(t, k, b) for t, bs in res.bounds.items() for k, b in zip(cfg.bound_sigmas, bs)]
    out.append(Claim.judged(
        "concentration.bound.eq1", f"P(L̂_B ≥ a) ≤ e^{{−BΔS}} for random batches (Eq 1, B = {cfg.bound_batch}) at "
        f"levels a = L̄ + kσ/√B, k ∈ {{{', '.join(f'{k:g}' for k in cfg.bound_sigmas)}}} (where the frequency is "
        "well above 0, so a wrong ΔS would show)", "holds", {f"{t}/k={k:g}": round(b.p_with, 4) for t, k, b in checks},
        "bound_holds", kind="check",
        detail={"bounds": {f"{t}/k={k:g}": b.bound for t, k, b in checks},
                "p_without_replacement": {f"{t}/k={k:g}": b.p_without for t, k, b in checks}},
        p_with=[b.p_with for _, _, b in checks], bound=[b.bound for _, _, b in checks], n_batches=cfg.bound_batches))
    grid_stated = {"b": cfg.b, "reading": prim, "grid_steps": cfg.grid.steps, "paper_steps": PAPER_STEPS,
                   "dataset": cfg.grid.dataset, "normalize": cfg.grid.normalize}
    conv_words = (f"converged = learned (train acc ≥ {CHANCE_ACC:g}, L̄ < 0.9 ln 10) and 𝓛_end < threshold, 𝓛 on the "
                  f"{prim} reading of b = {cfg.b:g}; grid of {cfg.grid.steps} iterations on {cfg.grid.dataset} "
                  f"(paper: {PAPER_STEPS}, MNIST)")
    sides, paper_sides = _side_fractions(res), _side_fractions(res, PAPER_THRESHOLD)
    side_in = lambda s: dict(above=s["ci_above"], below=s["ci_below"], n_measured=s["n_measured"],  # noqa: E731
                             acc_phi=s["acc_phi"], acc_no_m=s["acc_no_m"])
    thr_name = threshold_name(res)
    out.append(Claim.judged(
        "concentration.phase.sides", "grid cells converge above the paper's boundary ln M > φ(ln γ) and not below it, "
        f"and φ classifies better than any rule ignoring M (Fig 2f); judged at the {thr_name} 𝓛 < {res.threshold:.2f} "
        f"and at the paper's 𝓛 < {PAPER_THRESHOLD:g}, inconclusive where they disagree; {conv_words}",
        "above ≈ 1, below ≈ 0", {"above": sides["above"], "below": sides["below"]}, "consistent",
        detail={**sides, "with_paper_threshold": paper_sides, **grid_stated},
        base="phase_sides", primary=side_in(sides), secondary=side_in(paper_sides),
        names=(f"{thr_name} {res.threshold:.2f}", f"paper's threshold {PAPER_THRESHOLD:g}")))
    bf = res.boundary
    out.append(Claim.judged(
        "concentration.phase.boundary_u", "our fitted boundary ln M = c₂(ln γ)² + c₁ ln γ + c₀ is a U "
        f"(paper: ½(ln γ + 7.7)² + 2.5, c₂ = 0.5); {conv_words}", "c₂ > 0", None if bf.coef is None else bf.coef[0],
        "u_shaped", detail={"points": bf.points, "coef": bf.coef, "coef_se": bf.coef_se, **grid_stated},
        c2=None if bf.coef is None else bf.coef[0], c2_se=None if bf.coef_se is None else bf.coef_se[0],
        n_points=len(bf.points)))
    col = collapse_fit(res.cells, final_crit, cfg.grid)
    out.append(Claim.judged(
        "concentration.gamma.collapse", "ν and B act on 𝓛_end through γ = ν/B alone (Figs 2h–i): k in "
        f"𝓛_end = f(ln ν − k ln B) is 1, not 0 or ½ (learned cells with measured 𝓛, {prim} reading; cells compared "
        f"at equal iteration count, {cfg.grid.steps})", "k = 1", col.k, "collapse_k",
        detail={**col.as_dict(), "batch_sizes": (cfg.grid.batch_size, *cfg.grid.batch_sizes), **grid_stated},
        k=col.k, ci=col.ci))
    fams = cell_families(res)
    decided = [f for f in fams if f["wins"] in ("power law", "lognormal", "undecided")]
    k_pl = sum(f["wins"] == "power law" for f in decided)
    frac = k_pl / len(decided) if decided else None
    out.append(Claim.judged(
        "concentration.converged.heavy_tailed", "the final p(L) of converged cells is heavy tailed, power law rather "
        "than log-normal (Fig 2g): judged cell by cell, the fraction of converged cells whose tail favours the power "
        f"law decisively (R > 0, p < 0.1; α on its bound left out) exceeds ½; {conv_words}", "power law", frac,
        "exceeds", detail={"cells": fams, "threshold": res.threshold, "paper_selection": "𝓛 < −5 and ln M − φ > 1",
                           **grid_stated},
        value=frac, threshold=0.5, ci=wilson(k_pl, len(decided)) if decided else None))
    return out


def reproduce(profile=None, device=None, progress=True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


# --------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------
def _loss_pdf(ax, x, n_bins: int = 40, **kw):
    """p(L) on log–log axes with ``n_bins`` log-spaced bins between the smallest and largest positive loss
    (narrow early distributions and broad late ones alike)."""
    x = np.asarray(x, dtype=float)
    x = x[x > 0]
    e = np.geomspace(x.min(), x.max() * 1.001, n_bins + 1)
    c, h = fitting.log_binned_density(edges=e, counts=np.histogram(x, e)[0])
    ax.loglog(c, h, "o-", ms=3, **kw)


def _k(res, t) -> int:
    return int(np.argmin(np.abs(res.steps - t)))


def plot_distributions(res: ConcentrationResults, times=None, ax=None):
    """p(L) on log–log axes at several checkpoints (Fig 2c)."""
    fig, ax = axes(ax, figsize=(5, 3.8))
    times = times or [res.steps[k] for k in np.unique(np.geomspace(1, len(res.steps) - 1, 6).astype(int))]
    cmap = plt.get_cmap("viridis")
    for n, t in enumerate(times):
        _loss_pdf(ax, res.losses[_k(res, t)], color=cmap(n / max(len(times) - 1, 1)),
                  label=f"t = {res.steps[_k(res, t)]}")
    ax.set_xlabel("per-sample loss L (nats)")
    ax.set_ylabel("p(L) (1/nats)")
    ax.legend(fontsize=7)
    return fig


def plot_concentration(res: ConcentrationResults, ax=None):
    """P(L ≥ b) as a function of b (curves) for checkpoints t (colour), Fig 2b."""
    fig, ax = axes(ax, figsize=(5, 3.8))
    pos = res.losses[np.isfinite(res.losses) & (res.losses > 0)]
    b = np.geomspace(max(pos.min(), 1e-7), pos.max(), 80)
    cmap = plt.get_cmap("viridis")
    for k in range(len(res.steps)):
        ax.loglog(b, conc.concentration_curve(res.losses[k], b), color=cmap(k / max(len(res.steps) - 1, 1)), lw=1)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.matplotlib.colors.Normalize(0, np.log10(max(res.steps[-1], 1))))
    fig.colorbar(sm, ax=ax, label="log₁₀ t (iterations)")
    ax.set_xlabel("threshold b (nats)")
    ax.set_ylabel("P(L ≥ b)")
    return fig


def plot_moments(res: ConcentrationResults, ax=None):
    """L̄, Var(L) and ε(t) = Var(L)/L̄² against t (Fig 2e)."""
    fig, (axs,) = panels(ax, 1, 2, (9, 3.5))
    t = np.maximum(res.steps, 0.5)
    s = res.series
    axs[0].loglog(t, s.mean, label="L̄")
    axs[0].loglog(t, s.var, label="Var(L)")
    axs[0].set_ylabel("nats / nats²")
    axs[1].loglog(t, s.eps, color="C3")
    axs[1].set_ylabel("ε(t) = Var(L)/L̄²")
    for a in axs:
        a.set_xlabel("iteration t (t = 0 drawn at 0.5)")
    axs[0].legend()
    return fig


def plot_criterion(res: ConcentrationResults, *, reading: str = "absolute", ax=None):
    """ΔS, L̄ and 𝓛 = ln(L̄/ΔS) over training for one reading of b (Fig 2d): spline-filled ΔS hollow,
    checkpoints with a < L̄ (not measured) as gaps, with crosses at L̄, t_c and the turnaround dashed."""
    if reading not in res.readings:
        raise ValueError(f"reading must be one of {', '.join(res.readings)}, got {reading!r}")
    fig, (axs,) = panels(ax, 1, 2, (9, 3.5))
    t = np.maximum(res.steps, 0.5)
    s = res.readings[reading]
    f, low = s.filled, ~s.upper
    axs[0].loglog(t, s.delta_s, "C0-", label="ΔS")
    axs[0].loglog(t[f], s.delta_s[f], "o", mfc="none", color="C0", label="ΔS spline-filled")
    axs[0].loglog(t[low], s.mean[low], "x", color="C3", label="not measured (a < L̄)")
    axs[0].loglog(t, s.mean, "C1-", label="L̄ (nats)")
    axs[0].set_ylabel("ΔS (nats) / L̄ (nats)")
    axs[0].set_title(f"b = {s.b:g} read {reading}ly: a = {'L̄ + b' if s.relative else 'b'}", fontsize=9)
    axs[1].semilogx(t, s.crit, "k.-")
    axs[1].set_ylabel(r"$\mathcal{L} = \ln(\bar L/\Delta S)$")
    axs[1].axvline(res.cfg.trend_from, color="C2", ls=":", label="t_c (trend from here)")
    for a in axs:
        a.set_xlabel("iteration t")
        if res.turnarounds[reading].t is not None:
            a.axvline(res.turnarounds[reading].t, ls="--", color="gray")
    axs[0].legend(fontsize=7)
    axs[1].legend(fontsize=7)
    return fig


def plot_free_energy(res: ConcentrationResults, *, lam: float = -1.0, ax=None):
    """The free energy 𝓕 = L̄ − λ(ln N − ΔS) of Eq 2 over training, with its parts, for one λ ≤ 0."""
    fig, ax = axes(ax, figsize=(5, 3.6))
    s = res.series
    t = np.maximum(res.steps, 0.5)
    n = res.losses.shape[1]
    ax.semilogx(t, conc.free_energy(s.mean, s.delta_s, n, lam), "k.-", label=f"𝓕 (λ = {lam:g})")
    ax.semilogx(t, s.mean, "C1-", label="⟨E⟩ = L̄")
    ax.semilogx(t, -lam * (math.log(n) - s.delta_s), "C0-", label="−λS, S = ln N − ΔS")
    ax.axvline(res.cfg.trend_from, color="C2", ls=":")
    ax.set_xlabel("iteration t")
    ax.set_ylabel("nats")
    ax.legend(fontsize=7)
    return fig


def plot_bound(res: ConcentrationResults, ax=None):
    """Eq 1 checked: frequency of L̂_B ≥ a over random batches vs the bound e^{−BΔS}, at a = L̄ + kσ/√B
    (one colour per k)."""
    fig, ax = axes(ax)
    t = list(res.bounds)
    for n, k in enumerate(res.cfg.bound_sigmas):
        b = [bs[n] for bs in res.bounds.values()]
        ax.semilogx(t, [x.bound for x in b], "--", color=f"C{n}", label=f"k = {k:g}: bound e^{{−BΔS}}")
        ax.semilogx(t, [x.p_with for x in b], "o-", color=f"C{n}", label=f"k = {k:g}: sampled, with replacement")
        ax.semilogx(t, [x.p_without for x in b], "s:", color=f"C{n}", mfc="none", label=f"k = {k:g}: without")
    ax.set_yscale("log")
    ax.set_xlabel("iteration t")
    ax.set_ylabel("P(L̂_B ≥ a)")
    ax.legend(fontsize=7)
    return fig


def plot_slices(res: ConcentrationResults, ax=None):
    """L̂ (B = 64, fresh batch per point) and L̄ along a critical and a non-critical connection (Fig 2a)."""
    kinds = [k for k in ("critical", "noncritical") if k in res.slices]
    fig, (axs,) = panels(ax, 1, max(len(kinds), 1), (4.5 * max(len(kinds), 1), 3.5))
    for a, kind in zip(axs, kinds):
        i, j, c = getattr(res.connections, kind)
        for n, (t, sl) in enumerate(sorted(res.slices[kind].items())):
            a.semilogy(sl.w - sl.w0, sl.batch, color=f"C{n}", lw=0.7, alpha=0.6)
            a.semilogy(sl.w - sl.w0, sl.mean, color=f"C{n}", lw=2, label=f"t = {t}")
        a.set_title(f"{kind} connection {i}→{j} (C = {c:.2f})", fontsize=9)
        a.set_xlabel("weight shift δ = w − w(t)")
        a.set_ylabel("loss (nats): L̂ thin, L̄ thick")
        a.legend(fontsize=7)
    return fig


def plot_phase_diagram(res: ConcentrationResults, ax=None):
    """𝓛 at the end of training over (ln γ, ln M) at B = 64, failed/diverged cells as ×, the paper's boundary
    and ours (Fig 2f)."""
    fig, ax = axes(ax, figsize=(5.5, 4))
    cells = main_grid(res.cells, res.cfg.grid)
    lg = np.log([cell_run(c).gamma for c in cells])
    lm = np.log([cell_run(c).n_neurons for c in cells])
    crit = np.array([final_crit(c) for c in cells])
    status = np.array([cell_status(c, res.threshold) for c in cells])
    ok = np.isfinite(crit)
    if ok.any():
        sc = ax.scatter(lg[ok], lm[ok], c=crit[ok], cmap="coolwarm", s=120, marker="s", edgecolor="k")
        fig.colorbar(sc, ax=ax, label=r"$\mathcal{L}$ at the end")
    nm = status == "not measured"
    ax.scatter(lg[nm], lm[nm], marker="s", s=120, facecolor="none", edgecolor="gray", label="learned, L̄ > b: 𝓛 not measured")
    bad = np.isin(status, ["failed", "diverged", "dead"])
    ax.scatter(lg[bad], lm[bad], marker="x", s=80, color="k", label="failed, diverged or dead (chance)")
    conv = np.array([is_converged(c, res.threshold) for c in cells], dtype=bool)
    ax.scatter(lg[conv], lm[conv], marker=".", color="w", s=20, label=f"converged ($\\mathcal{{L}}$ < {res.threshold:.2f})")
    g = np.linspace(lg.min() - 0.3, lg.max() + 0.3, 200)
    ax.plot(g, conc.phi_paper(g), "k--", label="paper φ(ln γ)")
    if res.boundary.points:
        bp = np.array(res.boundary.points)
        ax.plot(bp[:, 0], bp[:, 1], "gD", ms=6, label="our boundary points")
    if res.boundary.coef is not None:
        ax.plot(g, np.polyval(res.boundary.coef, g), "g-", label="our parabola")
    ax.set_ylim(lm.min() - 0.5, lm.max() + 0.5)
    ax.set_xlabel("ln γ  (γ = ν/B)")
    ax.set_ylabel("ln M  (M = neurons)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.17), ncols=2)
    return fig


def plot_jump(res: ConcentrationResults, ax=None):
    """𝓛 at the end against the signed distance ln M − φ(ln γ) from the paper's boundary."""
    fig, ax = axes(ax)
    ok = [c for c in res.cells if np.isfinite(final_crit(c))]
    runs = [cell_run(c) for c in ok]
    d = conc.boundary_distance([r.n_neurons for r in runs], [r.gamma for r in runs])
    sc = ax.scatter(d, [final_crit(c) for c in ok], c=np.log([r.gamma for r in runs]), cmap="viridis")
    fig.colorbar(sc, ax=ax, label="ln γ")
    ax.axvline(0, color="k", ls="--")
    ax.axhline(res.threshold, color="gray", ls=":")
    ax.set_xlabel("ln M − φ(ln γ)")
    ax.set_ylabel(r"$\mathcal{L}$ at the end")
    return fig


def plot_collapse(res: ConcentrationResults, ax=None):
    """𝓛 at the end against ln γ, one curve per M at B = 64 and markers per extra B at the collapse width
    (Figs 2h–i: if ν and B act through γ alone, the markers sit on their width's curve)."""
    fig, ax = axes(ax, figsize=(5.5, 3.8))
    g = res.cfg.grid
    for n, w in enumerate(g.widths):
        cs = sorted([c for c in res.cells if cell_run(c).width == w and cell_run(c).batch_size == g.batch_size],
                    key=lambda c: cell_run(c).gamma)
        ax.plot(np.log([cell_run(c).gamma for c in cs]), [final_crit(c) for c in cs], "-o", color=f"C{n}", ms=4,
                label=f"M = {cell_run(cs[0]).n_neurons}, B = {g.batch_size}" if cs else None)
    wc = g.collapse_width or max(g.widths)
    for m, b in zip("s^vD", g.batch_sizes):
        cs = [c for c in res.cells if cell_run(c).width == wc and cell_run(c).batch_size == b]
        ax.plot(np.log([cell_run(c).gamma for c in cs]), [final_crit(c) for c in cs], m, mfc="none", color="k",
                ms=8, label=f"M = {2 * wc + 10}, B = {b}")
    ax.axhline(res.threshold, color="gray", ls=":")
    ax.set_xlabel("ln γ  (γ = ν/B)")
    ax.set_ylabel(r"$\mathcal{L}$ at the end (gaps: diverged)")
    ax.legend(fontsize=7)
    return fig


def plot_converged_pdf(res: ConcentrationResults, ax=None):
    """The pooled final p(L) of converged cells against that of unconverged trained cells (Fig 2g)."""
    fig, ax = axes(ax, figsize=(5, 3.8))
    x = converged_losses(res)
    if x.size and (x > 0).sum() > 1:
        _loss_pdf(ax, x, color="C0", label=f"converged cells (𝓛 < {res.threshold:.2f})")
    rest = [c.losses[-1] for c in res.cells
            if not is_converged(c, res.threshold) and np.isfinite(final_crit(c))]
    y = np.concatenate(rest) if rest else np.array([])
    if y.size and (y > 0).sum() > 1:
        _loss_pdf(ax, y, color="C3", label="unconverged cells")
    ax.set_xlabel("per-sample loss L (nats)")
    ax.set_ylabel("p(L) (1/nats)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    return fig


def plot_cell(res: ConcentrationResults, *, cell: int = 0, t: int = 100, ax=None):
    """Widget view: p(L) of grid cell ``cell`` at checkpoint t with its level a, and the cell's 𝓛(t)."""
    c = res.cells[cell]
    r = cell_run(c)
    fig, (axs,) = panels(ax, 1, 2, (9, 3.4))
    title = f"M = {r.n_neurons}, ν = {r.lr:g}, B = {r.batch_size} (γ = {r.gamma:.2g})"
    if isinstance(c, Failed):
        axs[0].set_title(title + ": training failed", fontsize=9)
        axs[0].text(0.5, 0.5, c.error.splitlines()[0][:60], ha="center", transform=axs[0].transAxes, fontsize=7)
        return fig
    k = int(np.argmin(np.abs(c.steps - t)))
    x = c.losses[k]
    if np.all(np.isfinite(x)) and (x > 0).sum() > 1:
        _loss_pdf(axs[0], x)
        axs[0].axvline(c.series.level[k], color="C3", ls="--", label=f"a; ΔS = {c.series.delta_s[k]:.3g}")
        axs[0].legend(fontsize=7)
    axs[1].semilogx(np.maximum(c.steps, 0.5), c.series.crit, "k.-")
    axs[1].axvline(max(c.steps[k], 0.5), color="C3", ls="--")
    axs[0].set_title(f"{title}{' (diverged)' if c.diverged else ''}, t = {c.steps[k]}", fontsize=9)
    axs[0].set_xlabel("per-sample loss L (nats)")
    axs[0].set_ylabel("p(L) (1/nats)")
    axs[1].set_xlabel("iteration t")
    axs[1].set_ylabel(r"$\mathcal{L} = \ln(\bar L/\Delta S)$" + f", b = {c.series.b:g}")
    return fig


def widget_controls(res: ConcentrationResults, cfg: ConcentrationConfig) -> dict:
    """The interactive controls (first value = default): a grid cell and checkpoint; the reading of b; λ."""
    ref = next((i for i, c in enumerate(res.cells) if cell_run(c).width == cfg.run.width
                and cell_run(c).lr == cfg.run.lr and cell_run(c).batch_size == cfg.grid.batch_size), 0)
    steps = [int(s) for s in cfg.grid.configs()[0].checkpoint_steps()]
    t0 = min(steps, key=lambda s: abs(s - 100))
    return {"plot_cell": {"cell": [ref] + [i for i in range(len(res.cells)) if i != ref],
                          "t": [t0] + [s for s in steps if s != t0]},
            "plot_criterion": {"reading": [res.reading, res.other_reading]},
            "plot_free_energy": {"lam": [cfg.lam] + [v for v in cfg.lams if v != cfg.lam]}}


def discussion(res: ConcentrationResults) -> str:
    """The chapter's closing paragraph, every number and every outcome computed from ``res``."""
    s, last, cfg = res.series, int(res.steps[-1]), res.cfg
    sides, paper_sides = _side_fractions(res), _side_fractions(res, PAPER_THRESHOLD)
    fmt = lambda v: "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.2f}"  # noqa: E731
    fam = res.family
    lines = [
        f"**This run** ({len(res.steps)} checkpoints up to t = {last}, {cfg.run.dataset}, inputs "
        f"{cfg.run.normalize}): L̄ went from {s.mean[0]:.3g} to {s.mean[-1]:.3g} nats; ε = Var(L)/L̄² from "
        f"{s.eps[0]:.3g} (maximum {np.nanmax(s.eps):.3g}) to {s.eps[-1]:.3g}.",
        (f"The power law beats the log-normal decisively at every usable checkpoint from t = {fam.t_switch} on "
         "(paper: the switch is at ≈ 100)." if fam.t_switch is not None else
         "No lasting decisive power-law regime is seen: at the last usable checkpoint the "
         + ("log-normal still wins decisively" if fam.lognormal_wins_at_end else "comparison is undecided")
         + (f" (the log-normal first fails to win at t = {fam.t_first_not_lognormal})." if fam.t_first_not_lognormal
            is not None else " (the log-normal wins at every usable checkpoint).")),
    ]
    for reading, ser in res.readings.items():
        n_meas, tr = int(ser.measured.sum()), conc.monotonic_trend(res.steps, ser.crit, cfg.trend_from)
        head = f"**b read {'relative' if ser.relative else 'absolute'}ly** (a = {'L̄ + b' if ser.relative else 'b'}): "
        if n_meas == 0:
            lines.append(head + f"𝓛 is measured at no checkpoint (a < L̄ throughout: L̄ stays above b = {cfg.b:g}).")
            continue
        turn = res.turnarounds[reading].t
        lines.append(head + f"𝓛 is measured at {n_meas} of {len(res.steps)} checkpoints ({int(ser.filled.sum())} "
                     f"spline-filled where a ≥ max L); over t ≥ {cfg.trend_from:g} Spearman ρ = {fmt(tr.rho)} "
                     f"(p = {tr.p:.2g}); " + (f"ΔS has its minimum and turns up at t = {turn:.0f}." if turn is not None
                                             else "no ΔS minimum followed by a rise is seen."))
    fe = free_energy_steps(res)
    if any(v["steps"] for v in fe.values()):
        lines.append("**Free energy** (primary reading): rising steps out of all steps per λ — "
                     + ", ".join(f"λ = {lam:.3g}: {v['rising_steps']}/{v['steps']}" for lam, v in fe.items()) + ".")
    if res.bounds:
        flat = [b for bs in res.bounds.values() for b in bs]
        n_ok = sum(b.holds() for b in flat)
        lines.append(f"**Eq 1** at a = L̄ + kσ/√B: {n_ok} of {len(flat)} sampled frequencies lie within the bound "
                     f"(three standard errors); sampled frequencies range from {min(b.p_with for b in flat):.3g} to "
                     f"{max(b.p_with for b in flat):.3g}, bounds from {min(b.bound for b in flat):.3g} to "
                     f"{max(b.bound for b in flat):.3g}.")
    st = sides["status"]
    col = collapse_fit(res.cells, final_crit, cfg.grid)
    lines.append(
        f"**Phase diagram** ({len(main_grid(res.cells, cfg.grid))} cells at B = {cfg.grid.batch_size}, "
        f"{cfg.grid.steps} iterations each): " + ", ".join(f"{n} {k}" for k, n in st.items()) + f". Converged "
        f"fraction {fmt(sides['above'])} above the paper's boundary ({sides['n_above']} cells) and {fmt(sides['below'])} "
        f"below it ({sides['n_below']} cells) at 𝓛 < {res.threshold:.2f}; at the paper's 𝓛 < {PAPER_THRESHOLD:g}: "
        f"{fmt(paper_sides['above'])} and {fmt(paper_sides['below'])}. φ classifies {fmt(sides['acc_phi'])} of the cells "
        f"right, the best rule ignoring M {fmt(sides['acc_no_m'])}. γ collapse: k = {fmt(col.k)}"
        + (f" (95 % interval {col.ci[0]:.2f}–{col.ci[1]:.2f}, {col.n} cells)." if col.ci else f" ({col.n} cells)."))
    if cfg.grid.steps < PAPER_STEPS:
        lines.append(f"The grid runs {cfg.grid.steps} iterations, the paper {PAPER_STEPS}: cells that would converge "
                     "later count as unconverged here.")
    return "\n\n".join(lines)
