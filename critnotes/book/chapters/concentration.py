"""Chapter 7 — landscape concentration and the convergence phase diagram (paper 003 §2.1–2.3, Fig 2).

One reference run (:data:`critnotes.training.runs.SHARED_RUN`, shared with chapters 6, 8–10) gives the time
course: p(L), P(L ≥ b), L̄, Var(L), ε(t), ΔS and 𝓛 = ln(L̄/ΔS) under both readings of b (deviation above
L̄, or absolute level), the free energy of Eq 2, the Eq-1 bound checked by sampling batches, and landscape
slices along a critical and a non-critical connection.  A grid over (M, ν) at B = 64 plus a batch-size
axis at one width (:class:`GridConfig`, run through :func:`critnotes.training.sweeps.sweep`; the flux
chapter reuses it) gives the phase diagram, the γ = ν/B collapse and the pooled p(L) of converged cells.
The paper has no methods section: every choice is a config field, stated next to the verdict it moves.
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
from critnotes.book.plotting import axes
from critnotes.book.profiles import chapter_config
from critnotes.book.results import Claim
from critnotes.book.verdicts import Verdict, missing, rule
from critnotes.training import cache
from critnotes.training.loop import run_data
from critnotes.training.runs import SHARED_RUN, CriticalRunConfig, critical_run, model_at
from critnotes.training.sweeps import Failed, sweep

CHAPTER = "concentration"
READINGS = ("relative", "absolute")      # b as a deviation above L̄ (a = L̄ + b), or as the level (a = b)


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
    relative: bool = True                # the reading of b used for the grid (both are shown for the reference run)
    trend_from: float = 10.0             # t_c: "after several initial training iterations" (trend tests over t ≥ t_c)
    lam: float = -1.0                    # λ of the free energy (Eq 2; the paper gives no value, λ ≤ 0)
    converged_below: float | None = None  # 𝓛_end below this counts as converged; None: at the jump of 𝓛
                                          # over the grid (conc.jump_threshold); the paper's Fig 2g uses −5
    bound_batch: int = 64
    bound_batches: int = 20_000
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
}


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


def cell_run(cell) -> CriticalRunConfig:
    """The run config of a grid cell, trained (:class:`Cell`) or failed (:class:`Failed`, config = sweep args)."""
    return cell.config[0] if isinstance(cell, Failed) else cell.run


def final_crit(cell) -> float:
    """𝓛 at the end of a grid cell; NaN for a failed or diverged cell."""
    return math.nan if isinstance(cell, Failed) or cell.diverged else cell.final_crit


@dataclasses.dataclass
class ConcentrationResults:
    cfg: ConcentrationConfig
    steps: np.ndarray              # checkpoints of the reference run
    losses: np.ndarray             # (n_ckpt, N) per-sample losses L_k(t)
    readings: dict                 # {"relative" | "absolute": conc.CriterionSeries} of the reference run
    turnaround: conc.Turnaround
    family: conc.FamilySwitch
    bounds: dict                   # {t: conc.BoundCheck}: Eq-1 check at a few checkpoints
    connections: conc.ConnectionPicks
    slices: dict                   # {"critical"|"noncritical": {t: conc.LandscapeSlice}}
    cells: list                    # grid cells: Cell, or Failed when the training raised
    threshold: float               # 𝓛_end below which a cell counts as converged
    boundary: conc.BoundaryFit     # our fitted boundary
    test_acc: float

    @property
    def reading(self) -> str:
        return "relative" if self.cfg.relative else "absolute"

    @property
    def series(self) -> conc.CriterionSeries:
        """The criterion series of the configured reading."""
        return self.readings[self.reading]


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


def run(cfg: ConcentrationConfig, device=None, progress: bool = True) -> ConcentrationResults:
    """The reference run's concentration statistics (both readings of b) and the grid."""
    res = critical_run(cfg.run, device=device, progress=progress)
    rec = res.probes["sample_loss"]
    readings = {r: conc.criterion_series(rec.steps, rec.losses, cfg.b, relative=(r == "relative")) for r in READINGS}
    ser = readings["relative" if cfg.relative else "absolute"]
    family = conc.family_switch(rec.steps, _subsample(rec.losses, cfg.family_max_samples))
    picks = np.unique(np.linspace(1, len(rec.steps) - 1, 4).astype(int))
    bounds = {int(rec.steps[k]): conc.batch_bound_check(rec.losses[k], cfg.b, batch_size=cfg.bound_batch,
                                                        n_batches=cfg.bound_batches, relative=cfg.relative)
              for k in picks if ser.upper[k]}      # Eq 1 bounds the upper tail: level ≥ L̄ only
    conns, slices = _slices(res, cfg)
    cells = sweep(grid_cell, [(c, cfg.b, cfg.relative) for c in cfg.grid.configs()], n_jobs=cfg.grid.n_jobs,
                  desc="(M, γ) grid", progress=progress)
    threshold = convergence_threshold(cells, cfg.converged_below)
    runs = [cell_run(c) for c in cells]
    boundary = conc.fit_boundary(np.log([r.n_neurons for r in runs]), np.log([r.gamma for r in runs]),
                                 [is_converged(c, threshold) for c in cells])
    return ConcentrationResults(cfg, rec.steps, rec.losses, readings,
                                conc.turnaround_time(rec.steps, ser.mean, ser.delta_s), family, bounds,
                                conns, slices, cells, threshold, boundary, res.test_acc)


def convergence_threshold(cells: list, fixed: float | None) -> float:
    """``fixed``, or the jump of 𝓛_end over the trained, non-diverged cells (:func:`conc.jump_threshold`)."""
    if fixed is not None:
        return float(fixed)
    vals = [final_crit(c) for c in cells]
    return conc.jump_threshold(vals) if np.isfinite(vals).sum() >= 2 else -5.0


def is_converged(cell, threshold: float) -> bool:
    """A grid cell converged: trained, not diverged and 𝓛 at the end below ``threshold``."""
    v = final_crit(cell)
    return bool(np.isfinite(v)) and v < threshold


def main_grid(res_or_cells, grid: GridConfig) -> list:
    """The cells at the main batch size (the (M, ν) grid of Fig 2f), trained or failed."""
    return [c for c in res_or_cells if cell_run(c).batch_size == grid.batch_size]


def collapse_pairs(cells: list, value, grid: GridConfig) -> dict:
    """The γ collapse (Figs 2h–i, 3f/h): at the collapse width, |Δ value| between cells with the same γ and
    different B, against |Δ value| between neighbouring γ at the main B.  ``value(cell)`` gives a number
    (NaN: skipped).  ``ratio`` = median same-γ difference / median neighbouring-γ difference; < 1 means
    B and ν act through γ."""
    wc = grid.collapse_width or max(grid.widths)
    at = [c for c in cells if cell_run(c).width == wc]
    key = lambda c: round(math.log(cell_run(c).gamma), 6)  # noqa: E731
    main = {key(c): value(c) for c in at if cell_run(c).batch_size == grid.batch_size}
    same = [abs(value(c) - main[key(c)]) for c in at if cell_run(c).batch_size != grid.batch_size and key(c) in main]
    g = sorted(main)
    across = [abs(main[a] - main[b]) for a, b in zip(g[:-1], g[1:])]
    same = [d for d in same if np.isfinite(d)]
    across = [d for d in across if np.isfinite(d)]
    ratio = float(np.median(same) / np.median(across)) if same and across and np.median(across) > 0 else None
    return {"ratio": ratio, "n_pairs": len(same), "n_neighbours": len(across), "width": wc,
            "same_gamma": same, "neighbouring_gamma": across}


# --------------------------------------------------------------------------------------------------
# rules and claims
# --------------------------------------------------------------------------------------------------
@rule(agrees=dict(t=100, lo=20, hi=500, last=20_000), differs=dict(t=5000, lo=20, hi=500, last=20_000))
def time_in_window(t: float | None, lo: float, hi: float, last: float) -> Verdict:
    """An event time against the paper's window [lo, hi]: ``agrees`` inside, ``differs`` outside or when no
    event is seen in a run that passes ``hi``; ``inconclusive`` when the run stops before ``hi`` without
    the event, or before ``lo`` at all (it cannot reach the paper's window)."""
    if last < lo:
        return Verdict("inconclusive", f"the run stops at t = {last:g}, before the paper's window [{lo:g}, {hi:g}]")
    if t is None:
        if last >= hi:
            return Verdict("differs", f"no event up to t = {last:g}, past the paper's window")
        return Verdict("inconclusive", f"no event yet; the run stops at t = {last:g} inside the paper's window")
    if lo <= t <= hi:
        return Verdict("agrees", f"t = {t:g} inside [{lo:g}, {hi:g}]")
    return Verdict("differs", f"t = {t:g} outside [{lo:g}, {hi:g}]")


@rule(agrees=dict(k_max=5, n=12, rho_after=-0.9, p_after=0.001, n_after=6),
      differs=dict(k_max=11, n=12, rho_after=None, p_after=None, n_after=0))
def eps_turnaround(k_max: int | None, n: int, rho_after: float | None, p_after: float | None, n_after: int) -> Verdict:
    """ε(t) turns around: an interior maximum followed by a significant decrease (Spearman after the
    maximum).  A maximum at the last checkpoint differs (still rising); too few points after it, or no
    significant decrease, is inconclusive."""
    if k_max is None:
        return Verdict("not measured", "no finite ε")
    if k_max == n - 1:
        return Verdict("differs", "ε is largest at the last checkpoint: no turnaround")
    if k_max == 0:
        return Verdict("differs", "ε is largest at the first checkpoint: it only falls")
    if n_after < 3 or missing(rho_after, p_after):
        return Verdict("inconclusive", f"only {n_after} checkpoints after the maximum")
    if p_after < 0.05 and rho_after < 0:
        return Verdict("agrees", f"interior maximum, then a significant decrease (p = {p_after:.2g})")
    return Verdict("inconclusive", f"interior maximum, but no significant decrease after it (p = {p_after:.2g})")


@rule(agrees=dict(p_with=[0.01, 0.0], bound=[0.05, 0.001], n_batches=2000),
      differs=dict(p_with=[0.3, 0.0], bound=[0.05, 0.001], n_batches=2000))
def bound_holds(p_with: list, bound: list, n_batches: int) -> Verdict:
    """Eq 1: every sampled frequency of L̂_B ≥ level at most three binomial standard errors above e^{−BΔS}."""
    if not p_with:
        return Verdict("not measured", "no checkpoint with the level at or above L̄")
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


@rule(agrees=dict(above=(0.8, 1.0), below=(0.0, 0.2)), differs=dict(above=(0.0, 0.2), below=(0.6, 1.0)))
def phase_sides(above: tuple[float, float], below: tuple[float, float]) -> Verdict:
    """Converged fractions above and below the paper's boundary (their 95 % intervals): ``agrees`` when the
    above-interval lies over ½ and over the below-interval, ``differs`` when the above-interval lies
    under ½ or under the below-interval, else ``inconclusive``."""
    if missing(*above, *below):
        return Verdict("not measured", "no grid cells on one side of the boundary")
    if above[0] > 0.5 and above[0] > below[1]:
        return Verdict("agrees", "mostly converged above the boundary, fewer below")
    if above[1] < 0.5 or above[1] < below[0]:
        return Verdict("differs", "not mostly converged above the boundary (or more below)")
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


@rule(agrees=dict(ratio=0.2, n_pairs=6), differs=dict(ratio=2.5, n_pairs=6))
def gamma_collapse(ratio: float | None, n_pairs: int) -> Verdict:
    """ν and B act through γ = ν/B: same-γ differences (other B) well below neighbouring-γ differences
    (ratio < ½) agrees, above them (ratio > 1) differs; in between or < 3 pairs is inconclusive."""
    if ratio is None or n_pairs == 0:
        return Verdict("not measured", "no pair of finite cells with the same γ")
    if n_pairs < 3:
        return Verdict("inconclusive", f"only {n_pairs} same-γ pair(s)")
    if ratio < 0.5:
        return Verdict("agrees", f"same-γ spread {ratio:.2f}× the neighbouring-γ spread")
    if ratio > 1.0:
        return Verdict("differs", f"same-γ spread {ratio:.2f}× the neighbouring-γ spread: B acts beyond γ")
    return Verdict("inconclusive", f"same-γ spread {ratio:.2f}× the neighbouring-γ spread")


def _side_fractions(res: ConcentrationResults, threshold: float | None = None) -> dict:
    thr = res.threshold if threshold is None else threshold
    cells = main_grid(res.cells, res.cfg.grid)
    d = conc.boundary_distance([cell_run(c).n_neurons for c in cells], [cell_run(c).gamma for c in cells])
    conv = np.array([is_converged(c, thr) for c in cells])
    above, below = d > 0, d <= 0
    frac = lambda m: float(conv[m].mean()) if m.any() else None  # noqa: E731
    return {"above": frac(above), "below": frac(below), "n_above": int(above.sum()), "n_below": int(below.sum()),
            "ci_above": wilson(int(conv[above].sum()), int(above.sum())),
            "ci_below": wilson(int(conv[below].sum()), int(below.sum())),
            "n_failed_or_diverged": int(sum(c.diverged for c in cells)), "threshold": thr}


def converged_losses(res: ConcentrationResults) -> np.ndarray:
    """The pooled final per-sample losses of the converged cells (Fig 2g), subsampled per cell."""
    pooled = [_subsample(c.losses[-1], res.cfg.family_max_samples, seed=i)
              for i, c in enumerate(res.cells) if is_converged(c, res.threshold)]
    return np.concatenate(pooled) if pooled else np.array([])


def _pooled_family(res: ConcentrationResults) -> dict:
    x = converged_losses(res)
    x = x[np.isfinite(x) & (x > 0)]
    x = _subsample(x, res.cfg.family_max_samples)
    try:
        cf = fitting.compare_families(x)
    except ValueError as exc:
        return {"favoured": None, "decisive": False, "n": int(x.size), "error": str(exc)}
    r, p = cf["comparisons"]["power_law_vs_lognormal"]
    return {"favoured": "power law" if r > 0 else "lognormal", "decisive": bool(p < 0.1), "R": r, "p": p,
            "alpha": cf["power_law"]["alpha"], "n": int(x.size), "n_tail": cf["n_tail"]}


def claims(res: ConcentrationResults) -> list[Claim]:
    cfg, steps = res.cfg, res.steps
    last = int(steps[-1])
    stated = {"b": cfg.b, "t_c": cfg.trend_from, "normalize": cfg.run.normalize, "dataset": cfg.run.dataset,
              "steps": cfg.run.steps}
    fam = res.family
    out = [Claim.judged(
        "concentration.family_switch.t", "p(L) switches from log-normal to a power-law-like tail at the connectivity "
        "transition (Fig 2c)", "t ≈ 100", fam.t_switch, "time_in_window",
        detail={"switch": "first checkpoint from which the log-normal never beats the tail's power law significantly "
                          "(R < 0, p < 0.1) again; window 20 ≤ t ≤ 500",
                "first_t_lognormal_not_significant": fam.t_first_not_lognormal,
                "R_p_by_t": {r.t: (r.R, r.p) for r in fam.rows}, **stated},
        t=fam.t_switch, lo=20, hi=500, last=last)]
    out.append(Claim.judged(
        "concentration.turnaround.t", "energy-driven → entropy-driven turnaround of L̄ and ΔS (Fig 2d)", "t ≈ 4×10⁴",
        res.turnaround.t, "time_in_window",
        detail={"turnaround": "minimum of the spline-smoothed ΔS(t) (t ≥ 10) with ΔS rising afterwards; window "
                              "10⁴ ≤ t ≤ 1.6×10⁵", "reading": res.reading, **stated},
        t=res.turnaround.t, lo=1e4, hi=1.6e5, last=last))
    for reading, ser in res.readings.items():
        tr = conc.monotonic_trend(steps, ser.crit, cfg.trend_from)
        out.append(Claim.judged(
            f"concentration.criterion.decreasing.{reading}",
            f"𝓛 = ln(L̄/ΔS) decreases after the first iterations (Fig 2d); b read {reading}ly"
            + (" (a = L̄ + b)" if reading == "relative" else " (a = b; lower-tail rate while L̄ > b)"),
            "decreases", {"rho": tr.rho, "p": tr.p}, "trend",
            detail={"test": f"Spearman ρ of 𝓛 against t over t ≥ {cfg.trend_from:g} ({tr.n} checkpoints)",
                    "filled_by_spline": int(ser.filled.sum()), "lower_tail_checkpoints": int((~ser.upper).sum()),
                    **stated}, rho=tr.rho, p=tr.p, sign=-1))
        tr = conc.monotonic_trend(steps, ser.delta_s, cfg.trend_from)
        out.append(Claim.judged(
            f"concentration.delta_s.increasing.{reading}",
            f"ΔS increases monotonically during training (§2.2); b read {reading}ly", "increases",
            {"rho": tr.rho, "p": tr.p}, "trend",
            detail={"test": f"Spearman ρ of ΔS (spline-filled) against t over t ≥ {cfg.trend_from:g} ({tr.n} checkpoints)",
                    "note": "§2.2 also says ΔS falls in the energy-driven stage before t ≈ 4×10⁴", **stated},
            rho=tr.rho, p=tr.p, sign=+1))
    ser = res.series
    fe = {lam: conc.monotonic_trend(steps, conc.free_energy(ser.mean, ser.delta_s, res.losses.shape[1], lam),
                                    cfg.trend_from) for lam in sorted({cfg.lam, -0.1, -10.0})}
    tr = fe[cfg.lam]
    out.append(Claim.judged(
        "concentration.free_energy.decreasing", f"the free energy 𝓕 = L̄ − λS (Eq 2) falls over training "
        f"(a Lyapunov function), at λ = {cfg.lam:g}", "decreases", {"rho": tr.rho, "p": tr.p}, "trend",
        detail={"lambda_sensitivity": {lam: (t.rho, t.p) for lam, t in fe.items()}, "reading": res.reading,
                "note": "the paper gives no λ", **stated}, rho=tr.rho, p=tr.p, sign=-1))
    eps = ser.eps
    k_eps = int(np.nanargmax(eps)) if np.isfinite(eps).any() else None
    after = conc.monotonic_trend(steps[k_eps:], eps[k_eps:]) if k_eps is not None else None
    out.append(Claim.judged(
        "concentration.eps.turnaround", "ε(t) in Var(L) ≥ ε(t)⟨L⟩² has a turnaround (§2.2)", "turnaround",
        None if k_eps is None else int(steps[k_eps]), "eps_turnaround",
        detail={"eps_start": float(eps[0]), "eps_max": float(np.nanmax(eps)), "eps_end": float(eps[-1]), **stated},
        k_max=k_eps, n=len(steps), rho_after=None if after is None else after.rho,
        p_after=None if after is None else after.p, n_after=0 if after is None else after.n))
    out.append(Claim.judged(
        "concentration.bound.eq1", f"P(L̂_B ≥ a) ≤ e^{{−BΔS}} for random batches (Eq 1, B = {cfg.bound_batch}), "
        "at checkpoints with a ≥ L̄", "holds", {t: round(b.p_with, 4) for t, b in res.bounds.items()}, "bound_holds",
        kind="check", detail={"bounds": {t: b.bound for t, b in res.bounds.items()},
                              "p_without_replacement": {t: b.p_without for t, b in res.bounds.items()},
                              "reading": res.reading},
        p_with=[b.p_with for b in res.bounds.values()], bound=[b.bound for b in res.bounds.values()],
        n_batches=cfg.bound_batches))
    sides = _side_fractions(res)
    out.append(Claim.judged(
        "concentration.phase.sides", "grid cells converge above the paper's boundary ln M > φ(ln γ) and not below "
        "it (Fig 2f)", "above ≈ 1, below ≈ 0", {"above": sides["above"], "below": sides["below"]}, "phase_sides",
        detail={**sides, "converged": "trained, not diverged, 𝓛_end < threshold "
                f"({'fixed' if cfg.converged_below is not None else 'at the jump of 𝓛_end'})",
                "with_paper_threshold_-5": _side_fractions(res, -5.0), "grid_steps": cfg.grid.steps,
                "paper_steps": 200_000}, above=sides["ci_above"], below=sides["ci_below"]))
    bf = res.boundary
    out.append(Claim.judged(
        "concentration.phase.boundary_u", "our fitted boundary ln M = c₂(ln γ)² + c₁ ln γ + c₀ is a U "
        "(paper: ½(ln γ + 7.7)² + 2.5, c₂ = 0.5)", "c₂ > 0", None if bf.coef is None else bf.coef[0], "u_shaped",
        detail={"points": bf.points, "coef": bf.coef, "coef_se": bf.coef_se},
        c2=None if bf.coef is None else bf.coef[0], c2_se=None if bf.coef_se is None else bf.coef_se[0],
        n_points=len(bf.points)))
    col = collapse_pairs(res.cells, final_crit, cfg.grid)
    out.append(Claim.judged(
        "concentration.gamma.collapse", "ν and B act on 𝓛_end through γ = ν/B alone (Figs 2h–i)", "collapse",
        col["ratio"], "gamma_collapse",
        detail={**col, "batch_sizes": (cfg.grid.batch_size, *cfg.grid.batch_sizes),
                "note": "cells compared at equal iteration count"}, ratio=col["ratio"], n_pairs=col["n_pairs"]))
    pf = _pooled_family(res)
    out.append(Claim.judged(
        "concentration.converged.heavy_tailed", "the pooled p(L) of converged cells is heavy tailed, power law "
        "rather than log-normal (Fig 2g)", "power law", pf.get("favoured"), "family",
        detail={**pf, "converged": f"𝓛_end < {res.threshold:.3g} (paper: 𝓛 < −5 and ln M − φ > 1)"},
        favoured=pf.get("favoured"), expected="power law", alternatives=("lognormal",), decisive=pf["decisive"]))
    return out


def reproduce(profile=None, device=None, progress=True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


# --------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------
def panels(axs=None, ncols: int = 2, figsize=(9, 3.5)):
    """``(fig, axs)``: the given row of axes' figure, or a new row of ``ncols`` panels (chapters 7–8)."""
    if axs is None:
        axs = plt.subplots(1, ncols, figsize=figsize, constrained_layout=True, squeeze=False)[1][0]
    return axs[0].figure, axs


def _loss_pdf(ax, x, n_bins: int = 40, **kw):
    """p(L) on log–log axes with ``n_bins`` log-spaced bins between the smallest and largest positive loss
    (narrow early distributions and broad late ones alike)."""
    x = np.asarray(x, dtype=float)
    x = x[x > 0]
    h, e = np.histogram(x, np.geomspace(x.min(), x.max() * 1.001, n_bins + 1), density=True)
    c = np.sqrt(e[1:] * e[:-1])
    ax.loglog(c[h > 0], h[h > 0], "o-", ms=3, **kw)


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
    fig, axs = panels(ax)
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


def plot_criterion(res: ConcentrationResults, *, reading: str = "relative", ax=None):
    """ΔS, L̄ and 𝓛 = ln(L̄/ΔS) over training for one reading of b (Fig 2d): spline-filled ΔS hollow,
    lower-tail checkpoints (absolute reading, L̄ > b) as crosses, t_c and the turnaround dashed."""
    if reading not in res.readings:
        raise ValueError(f"reading must be one of {', '.join(res.readings)}, got {reading!r}")
    fig, axs = panels(ax)
    t = np.maximum(res.steps, 0.5)
    s = res.readings[reading]
    f, low = s.filled, ~s.upper
    axs[0].loglog(t, s.delta_s, "C0-", label="ΔS")
    axs[0].loglog(t[f], s.delta_s[f], "o", mfc="none", color="C0", label="ΔS spline-filled")
    axs[0].loglog(t[low], s.delta_s[low], "x", color="C3", label="lower-tail rate (a = b < L̄)")
    axs[0].loglog(t, s.mean, "C1-", label="L̄ (nats)")
    axs[0].set_ylabel("ΔS (nats) / L̄ (nats)")
    axs[0].set_title(f"b = {s.b:g} read {reading}ly: a = {'L̄ + b' if s.relative else 'b'}", fontsize=9)
    axs[1].semilogx(t, s.crit, "k.-")
    axs[1].set_ylabel(r"$\mathcal{L} = \ln(\bar L/\Delta S)$")
    axs[1].axvline(res.cfg.trend_from, color="C2", ls=":", label="t_c (trend from here)")
    for a in axs:
        a.set_xlabel("iteration t")
        if res.turnaround.t is not None:
            a.axvline(res.turnaround.t, ls="--", color="gray")
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
    """Eq 1 checked: frequency of L̂_B ≥ a over random batches vs the bound e^{−BΔS}."""
    fig, ax = axes(ax)
    t = list(res.bounds)
    b = list(res.bounds.values())
    ax.semilogx(t, [x.bound for x in b], "k--o", label="bound e^{−BΔS}")
    ax.semilogx(t, [x.p_with for x in b], "C0o-", label="sampled, with replacement")
    ax.semilogx(t, [x.p_without for x in b], "C1s:", label="sampled, without replacement")
    ax.set_xlabel("iteration t")
    ax.set_ylabel("P(L̂_B ≥ a)")
    ax.legend(fontsize=7)
    return fig


def plot_slices(res: ConcentrationResults, ax=None):
    """L̂ (B = 64, fresh batch per point) and L̄ along a critical and a non-critical connection (Fig 2a)."""
    kinds = [k for k in ("critical", "noncritical") if k in res.slices]
    fig, axs = panels(ax, max(len(kinds), 1), figsize=(4.5 * max(len(kinds), 1), 3.5))
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
    bad = ~np.isfinite(crit)
    sc = ax.scatter(lg[~bad], lm[~bad], c=crit[~bad], cmap="coolwarm", s=120, marker="s", edgecolor="k")
    ax.scatter(lg[bad], lm[bad], marker="x", s=80, color="k", label="diverged or failed")
    fig.colorbar(sc, ax=ax, label=r"$\mathcal{L}$ at the end")
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
    fig, axs = panels(ax, figsize=(9, 3.4))
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
            "plot_criterion": {"reading": ["relative", "absolute"]},
            "plot_free_energy": {"lam": [cfg.lam] + [v for v in (-0.1, -10.0) if v != cfg.lam]}}


def discussion(res: ConcentrationResults) -> str:
    """The chapter's closing paragraph, every number computed from ``res``."""
    s, last = res.series, int(res.steps[-1])
    fin = np.isfinite(s.crit)
    sides = _side_fractions(res)
    fmt = lambda v: "—" if v is None else f"{v:.2f}"  # noqa: E731
    sw, turn = res.family.t_switch, res.turnaround.t
    lines = [
        f"**This run** ({len(res.steps)} checkpoints up to t = {last}, {res.cfg.run.dataset}, inputs "
        f"{res.cfg.run.normalize}): L̄ fell from {s.mean[0]:.3g} to {s.mean[-1]:.3g} nats, ε = Var(L)/L̄² went from "
        f"{s.eps[0]:.3g} to a maximum of {np.nanmax(s.eps):.3g} and ended at {s.eps[-1]:.3g}.",
        f"The log-normal stops winning against a power-law tail at t = {sw} (paper: ≈ 100)." if sw is not None else
        "The log-normal still beats a power-law tail significantly (R < 0, p < 0.1) at the last checkpoint, so no "
        f"lasting switch is seen (paper: ≈ 100); it first fails to win at t = {res.family.t_first_not_lognormal}.",
    ]
    for reading, ser in res.readings.items():
        tr = conc.monotonic_trend(res.steps, ser.crit, res.cfg.trend_from)
        ts = conc.monotonic_trend(res.steps, ser.delta_s, res.cfg.trend_from)
        lines.append(f"**b read {reading}ly** (a = {'L̄ + b' if ser.relative else 'b'}): over t ≥ {res.cfg.trend_from:g} "
                     f"Spearman ρ = {tr.rho:.2f} (p = {tr.p:.2g}) for 𝓛 and ρ = {ts.rho:.2f} (p = {ts.p:.2g}) for ΔS; "
                     f"{int(ser.filled.sum())} checkpoint(s) spline-filled, {int((~ser.upper).sum())} with a below L̄ "
                     "(there ΔS is the lower-tail rate of P(L̂ ≤ a), which Eq 1 does not bound).")
    if fin.any():
        lines.append(f"With the {res.reading} reading 𝓛 went from {s.crit[fin][0]:.2f} to {s.crit[fin][-1]:.2f}.")
    lines.append((f"ΔS reaches its minimum and turns up at t = {turn:.0f}" if turn is not None else
                  "ΔS has not turned up by the last checkpoint") + f" (paper's turnaround: ≈ 4×10⁴; this run stops at t = {last}).")
    if res.bounds:
        worst_t, worst = max(res.bounds.items(), key=lambda kv: kv[1].p_with / kv[1].bound)
        lines.append(f"The Eq-1 bound {'held at every checked checkpoint' if all(b.holds() for b in res.bounds.values()) else 'was violated'}; "
                     f"the tightest was t = {worst_t} (sampled {worst.p_with:.3g}, bound {worst.bound:.3g}).")
    col = collapse_pairs(res.cells, final_crit, res.cfg.grid)
    lines.append(
        f"Phase diagram ({len(main_grid(res.cells, res.cfg.grid))} cells at B = {res.cfg.grid.batch_size}, "
        f"{res.cfg.grid.steps} iterations each, {sides['n_failed_or_diverged']} diverged or failed): converged fraction "
        f"{fmt(sides['above'])} above the paper's boundary ({sides['n_above']} cells) and {fmt(sides['below'])} below it "
        f"({sides['n_below']} cells), with converged meaning 𝓛 < {res.threshold:.2f} "
        f"({'fixed' if res.cfg.converged_below is not None else 'the jump of 𝓛 over the grid'}); with the paper's 𝓛 < −5 "
        f"the fractions are {fmt(_side_fractions(res, -5.0)['above'])} and {fmt(_side_fractions(res, -5.0)['below'])}. "
        f"γ collapse: {col['n_pairs']} same-γ pairs, spread ratio {fmt(col['ratio'])}.")
    if res.cfg.grid.steps < 200_000:
        lines.append(f"The grid runs {200_000 // res.cfg.grid.steps}× fewer iterations than the paper's 2×10⁵, so cells "
                     "that would converge later count as unconverged here; the comparison with φ is only indicative.")
    return "\n\n".join(lines)
