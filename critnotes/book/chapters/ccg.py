"""Chapter 10 — critical computational graphs and coupling cost (paper 003 §4, Fig 5).

One CCG per digit is extracted from the shared paper-003 run with the clustering–growing–pruning
algorithm of :mod:`critnotes.analysis.computational_graphs`; the CCG-only networks (mean ablation) are
evaluated on train and test; N_V and N_E are measured over chapter 7's (M, γ) grid (same runs, cached)
with their trends in M and γ, per-digit difficulty and size distribution; N_E's sensitivity to the
extraction settings is measured; the coupling cost E_G is followed over training with the graph
re-extracted at every checkpoint (no hindsight), compared with a same-size random graph, and its form
−ln t compared with a power-law and an exponential relaxation by AIC.
"""
from __future__ import annotations

import dataclasses
import sys

import matplotlib.pyplot as plt
import numpy as np

from critnotes.analysis import computational_graphs as ccg
from critnotes.analysis import fitting, graphs
from critnotes.book.chapters import concentration as conc_ch
from critnotes.book.chapters import summarize
from critnotes.book.chapters.concentration import GridConfig
from critnotes.book.plotting import axes, panels
from critnotes.book.profiles import chapter_config
from critnotes.book.results import Claim
from critnotes.book.verdicts import Verdict, close_to, in_range, rule
from critnotes.training.data import MNIST_CREDIT
from critnotes.training.loop import run_data
from critnotes.training.runs import SHARED_RUN, CriticalRunConfig, critical_run
from critnotes.training.sweeps import Failed, sweep

CHAPTER = "ccg"


@dataclasses.dataclass(frozen=True)
class CCGConfig:
    run: CriticalRunConfig = SHARED_RUN["quick"]
    params: ccg.CCGParams = ccg.CCGParams()
    sweep: GridConfig = conc_ch.PROFILES["quick"].grid   # chapter 7's (M, γ) grid: runs shared
    min_test_acc: float = 0.5             # sweep runs below this (diverged / untrained) are left out
    #: N_E's sensitivity rows: the extraction re-run with one setting changed (a flip → inconclusive)
    sensitivity: tuple[tuple[str, object], ...] = (("keep", 0.95), ("keep", 0.99), ("snr_min", 0.3),
                                                    ("snr_min", 1.0), ("ablation", "zero"))
    tol_gamma: float = 0.05               # "almost the same" across γ: |d ln(1 + N) / d ln γ| ≤ tol_gamma
    seed: int = 0


PROFILES = {
    "ci": CCGConfig(run=SHARED_RUN["ci"], sweep=conc_ch.PROFILES["ci"].grid),
    "quick": CCGConfig(),
    "paper": CCGConfig(run=SHARED_RUN["paper"], sweep=conc_ch.PROFILES["paper"].grid),
    "paper-cpu": CCGConfig(run=SHARED_RUN["paper"], sweep=conc_ch.PROFILES["paper-cpu"].grid),
}
#: what a profile changes from the paper's settings (stored with each of its results)
PROFILE_DIFFERENCES = {"paper-cpu": (
    "the sweep of N_V and N_E over M and γ (Fig 5) is chapter 7's paper-cpu grid: the paper's 6 widths × 8 "
    "learning rates on full MNIST and the batch-size axis, each run 2×10⁴ iterations with 40 checkpoints, not 2×10⁵ "
    "with 60 (the CCGs of the sweep are extracted at 2×10⁴; less-trained runs above the accuracy cut may have other "
    "graph sizes); the reference run, its CCGs and their aging are the `paper` preset's (2×10⁵ iterations, full MNIST)",
)}


@dataclasses.dataclass
class CCGResults:
    cfg: CCGConfig
    ccgs: list                      # ccg.CCG per digit (shared run, at the end)
    layers: ccg.Layers              # final (W, b) per Linear layer
    sizes: list                     # neurons per layer
    probe_activity: np.ndarray      # (n_probe, M) at the end
    probe_labels: np.ndarray
    calibrations: dict              # "ccg" | "dense" → per digit ccg.Calibration (fitted on the training split)
    task: dict                      # "ccg" | "dense" → split → per digit ccg.TaskScore (own digit vs rest)
    union: dict                     # split → {"ccg": acc, "dense": acc}: argmax of the calibrated outputs
    features: np.ndarray            # (10, 28, 28) first-layer feature maps
    steps: np.ndarray
    snr_t: list                     # per digit: (N_V, n_ckpt) task SNR d' of the final CCG's neurons (Fig 5j)
    vertex_names: list              # per digit: "h1:12", "h2:40", "out:3" for the rows of snr_t
    cost_t: np.ndarray              # (10, n_ckpt) E_G(t) of the graph re-extracted at each checkpoint (Fig 5m)
    cost_final_graph_t: np.ndarray  # (10, n_ckpt) E_G(t) of the graph extracted at the end (hindsight)
    cost_null_t: np.ndarray         # (10, n_ckpt) E_G(t) of a same-size random graph (ccg.random_graph)
    edges_t: np.ndarray             # (10, n_ckpt) N_E of the re-extracted graphs
    cost_end: list                  # per digit: per-sample E_G(x) on the probe set at the end
    aging: list                     # per digit ccg.aging_fit LineFit of cost_t (α = −slope)
    aging_forms: list               # per digit ccg.AgingComparison of cost_t
    output_overlap: np.ndarray      # (10,) overlap of the output neuron's activity x∈T vs x∉T
    edges_sensitivity: dict         # "keep=0.95" … → per digit N_E with that extraction setting
    grid: list                      # per sweep run: sweep_point dict, or sweeps.Failed
    dense_edges: int


def sweep_point(cfg_params) -> dict:
    """N_V, N_E of each digit's CCG for one run of the grid (module level: joblib-picklable)."""
    rc, params = cfg_params
    res = critical_run(rc, progress=False)
    out = {"width": rc.width, "M": rc.n_neurons, "lr": rc.lr, "gamma": rc.gamma, "test_acc": res.test_acc,
           "diverged": res.diverged}
    if res.diverged:
        return out
    rec = res.probes["activity"]
    graphs = ccg.extract_all(ccg.network_layers(res.model()), ccg.split_activity(rec.activity[-1], rec.layer_sizes),
                             rec.labels, params)
    out.update(nv=[g.n_vertices for g in graphs], ne=[g.n_edges for g in graphs])
    return out


def outputs(layers: ccg.Layers, graphs: list, means: list, x) -> dict:
    """Each digit's CCG output (mean ablation with ``means``) and the dense logits for inputs ``x``:
    ``{"ccg": (n, 10), "dense": (n, 10)}`` (the scores of Fig 5e)."""
    a = ccg.forward_layers(layers, np.asarray(x).reshape(len(x), -1))
    return {"ccg": np.column_stack([ccg.ccg_output(layers, a[0], g.edges, g.task, means) for g in graphs]),
            "dense": a[-1]}


def _cost(g: ccg.CCG, acts, layers, labels) -> float:
    """E_G averaged over x ∈ T and x ∉ T with equal weight."""
    e = ccg.coupling_cost(g, acts, layers, labels)
    on = labels == g.task
    return float((e[on].mean() + e[~on].mean()) / 2)


def run(cfg: CCGConfig, device=None, progress: bool = True) -> CCGResults:
    res = critical_run(cfg.run, device=device, progress=progress)
    rec, wrec = res.probes["activity"], res.probes["weights"]
    model = res.model()
    layers = ccg.network_layers(model)
    acts = ccg.split_activity(rec.activity[-1], rec.layer_sizes)
    graphs = ccg.extract_all(layers, acts, rec.labels, cfg.params)

    data = run_data(cfg.run.train_config())
    splits = {"train": (data.x_train, data.y_train), "test": (data.x_test, data.y_test)}
    outs = {k: outputs(layers, graphs, ccg.layer_means(acts), x.numpy()) for k, (x, _) in splits.items()}
    ys = {k: y.numpy() for k, (_, y) in splits.items()}
    cals = {kind: [ccg.calibrate(outs["train"][kind][:, d], ys["train"] == d) for d in range(10)]
            for kind in ("ccg", "dense")}
    task = {kind: {k: [ccg.score_task(outs[k][kind][:, d], ys[k] == d, cals[kind][d]) for d in range(10)]
                   for k in splits} for kind in ("ccg", "dense")}
    union = {k: {kind: float((np.column_stack([cals[kind][d](outs[k][kind][:, d]) for d in range(10)]).argmax(1)
                              == ys[k]).mean()) for kind in ("ccg", "dense")} for k in splits}

    # coupling over training: weights and activities of each checkpoint; the graph re-extracted there
    shapes = [(w.shape, b.shape) for w, b in layers]
    n_k = len(rec.steps)
    cost_t, cost_final, cost_null, edges_t = (np.zeros((len(graphs), n_k)) for _ in range(4))
    snr_t = [np.zeros((g.n_vertices, n_k)) for g in graphs]
    names = [[f"{'out' if l == g.n_layers - 1 else f'h{l + 1}'}:{v}" for l, vs in enumerate(g.vertices) for v in vs]
             for g in graphs]
    for k in range(n_k):
        flat = wrec.weights[int(np.argmin(np.abs(wrec.steps - rec.steps[k])))].astype(float)
        lt, off = [], 0
        for ws, bs in shapes:
            nw, nb = int(np.prod(ws)), int(np.prod(bs))
            lt.append((flat[off:off + nw].reshape(ws), flat[off + nw:off + nw + nb]))
            off += nw + nb
        lt = ccg.Layers(lt, layers.activations)
        ak = ccg.split_activity(rec.activity[k], rec.layer_sizes)
        graphs_k = ccg.extract_all(lt, ak, rec.labels, cfg.params)
        for i, (g, gk) in enumerate(zip(graphs, graphs_k)):
            cost_t[i, k] = _cost(gk, ak, lt, rec.labels)
            cost_final[i, k] = _cost(g, ak, lt, rec.labels)
            cost_null[i, k] = _cost(ccg.random_graph(gk, rec.layer_sizes, seed=cfg.seed + 1000 * k + i), ak, lt,
                                    rec.labels)
            edges_t[i, k] = gk.n_edges
            _, snrs = ccg.task_snr(ak, rec.labels, g.task)
            snr_t[i][:, k] = np.concatenate([snrs[l][vs] for l, vs in enumerate(g.vertices)])
    aging = [ccg.aging_fit(rec.steps, c) for c in cost_t]
    forms = [ccg.aging_models(rec.steps, c) for c in cost_t]
    cost_end = [ccg.coupling_cost(g, acts, layers, rec.labels) for g in graphs]
    overlap = np.array([ccg.overlap(acts[-1][rec.labels == d, d], acts[-1][rec.labels != d, d]) for d in range(10)])
    features = np.stack([ccg.feature_map(g, layers).reshape(28, 28) for g in graphs])
    sens = {f"{k}={v}": [g.n_edges for g in ccg.extract_all(layers, acts, rec.labels,
                                                              dataclasses.replace(cfg.params, **{k: v}))]
            for k, v in cfg.sensitivity}

    grid = sweep(sweep_point, [(c, cfg.params) for c in cfg.sweep.configs()], n_jobs=cfg.sweep.n_jobs,
                 desc="CCG grid", progress=progress)
    dense_edges = int(sum(w.size for w, _ in layers[1:]))
    return CCGResults(cfg, graphs, layers, rec.layer_sizes, rec.activity[-1], rec.labels, cals, task, union,
                      features, rec.steps, snr_t, names, cost_t, cost_final, cost_null, edges_t, cost_end, aging,
                      forms, overlap, sens, grid, dense_edges)


# --------------------------------------------------------------------------------------------------
# derived numbers
# --------------------------------------------------------------------------------------------------
def usable_grid(res: CCGResults) -> list[dict]:
    """Grid runs that trained (not failed, not diverged, test accuracy ≥ min_test_acc)."""
    return [g for g in res.grid if not isinstance(g, Failed) and "nv" in g and g["test_acc"] >= res.cfg.min_test_acc]


def pooled_sizes(res: CCGResults, key: str) -> np.ndarray:
    """The positive sizes ``key`` ("nv" or "ne") of every digit's CCG over the usable grid runs (Fig 5i)."""
    vals = np.concatenate([np.asarray(g[key], float) for g in usable_grid(res)] or [np.zeros(0)])
    return vals[vals > 0]


def size_fits(res: CCGResults) -> dict:
    """Discrete power-law MLE of N_V and N_E pooled over all digits and usable grid runs (Fig 5i), with the
    range of the fitted tail (``tail_decades`` = log10(max / x_min)) and the family comparison; refused
    (``tau`` None, ``error`` says why) when the sizes span less than a decade."""
    out = {}
    for key in ("nv", "ne"):
        vals = pooled_sizes(res, key)
        span = fitting.decades(vals.min(), vals.max()) if vals.size else 0.0
        if span < 1.0:
            out[key] = {"tau": None, "n": int(vals.size), "span_decades": span, "tail_decades": None,
                        "error": f"sizes span {span:.2f} < 1 decade: no power-law fit"}
            continue
        try:
            f = fitting.fit_powerlaw(vals, discrete=True, alpha_range=(1.0, 12.0))
            out[key] = {"tau": f.alpha, "tau_se": f.alpha_se, "xmin": f.xmin, "n_tail": f.n_tail, "n": int(vals.size),
                        "span_decades": span, "tail_decades": fitting.decades(f.xmin, vals.max()),
                        "at_bound": f.at_bound, "reading": f.favoured(), "comparisons": f.comparisons}
        except ValueError as exc:
            out[key] = {"tau": None, "n": int(vals.size), "span_decades": span, "tail_decades": None,
                        "error": str(exc)}
    return out


def size_trends(res: CCGResults, key: str) -> dict:
    """Fig 5f–g: least squares of ln(1 + mean N) over digits on ln M and ln γ over the usable grid runs:
    elasticities ``b_M``, ``b_gamma`` with 95 % t-intervals (``None`` when the design cannot separate them)."""
    grid = usable_grid(res)
    none = {"b_M": None, "ci_M": None, "b_gamma": None, "ci_gamma": None, "n_runs": len(grid)}
    if len(grid) < 4:
        return none
    y = np.log1p([np.mean(g[key]) for g in grid])
    x = np.column_stack([np.ones(len(grid)), np.log([g["M"] for g in grid]), np.log([g["gamma"] for g in grid])])
    if np.linalg.matrix_rank(x) < 3:
        return none
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    dof = len(y) - 3
    s2 = float(np.sum((y - x @ beta) ** 2) / dof)
    se = np.sqrt(np.diag(s2 * np.linalg.inv(x.T @ x)))
    return {"b_M": float(beta[1]), "ci_M": fitting.t_interval(float(beta[1]), float(se[1]), dof),
            "b_gamma": float(beta[2]), "ci_gamma": fitting.t_interval(float(beta[2]), float(se[2]), dof),
            "n_runs": len(grid)}


def difficulty(res: CCGResults, key: str = "nv") -> dict:
    """Fig 5h: per digit the mean size over the usable grid runs, and the per-run contrast
    (N(5) + N(9))/2 − N(8) (the paper's hardest digits minus its easiest) with a 95 % t-interval over runs."""
    grid = usable_grid(res)
    if not grid:
        return {"per_digit": None, "contrast": None, "ci": None, "n_runs": 0}
    n = np.array([g[key] for g in grid], float)
    c = (n[:, 5] + n[:, 9]) / 2 - n[:, 8]
    ci = None
    if len(c) >= 2:
        ci = fitting.mean_interval(c)[1]
    return {"per_digit": n.mean(0), "contrast": float(c.mean()), "ci": ci, "n_runs": len(grid)}


def task_table(res: CCGResults, split: str = "test") -> dict:
    """Per digit, CCG and dense output on its own task: AUC, balanced accuracy, loss on the digit (Fig 5e)."""
    return {kind: {q: np.array([getattr(t, q) for t in res.task[kind][split]])
                   for q in ("auc", "balanced_acc", "loss_on_task")} for kind in ("ccg", "dense")}


def accuracy_gap(res: CCGResults, split: str = "test", n_boot: int = 300, seed: int = 0) -> tuple[float, tuple]:
    """Mean over digits of balanced accuracy (CCG − dense) and its 95 % bootstrap interval over the ten
    digits' per-digit gaps."""
    tt = task_table(res, split)
    d = tt["ccg"]["balanced_acc"] - tt["dense"]["balanced_acc"]
    return float(d.mean()), fitting.bootstrap_interval(d, n_boot=n_boot, seed=seed)


@rule(agrees=dict(tau=1.52, tau_se=0.03, n=500, tail_decades=1.5, favoured="power_law", n_tail=400),
      differs=dict(tau=2.6, tau_se=0.05, n=500, tail_decades=1.5, favoured="power_law", n_tail=400))
def size_exponent(tau: float | None, tau_se: float | None, n: int, tail_decades: float | None, favoured: str | None,
                  n_tail: int | None, at_bound: bool = False, target: float = 1.5, tol: float = 0.2,
                  min_decades: float = 1.0, min_tail_undecided: int = 1000) -> Verdict:
    """"Power-law distributed with τ ≈ 1.5" for CCG sizes: ``not measured`` without sizes, ``inconclusive``
    when the fit was refused, sits on its bound or its *tail* (x_min … max) spans less than ``min_decades``;
    ``differs`` when an alternative family wins decisively or τ (95 % interval from the MLE s.e.) lies
    outside ``target ± tol``; ``agrees`` when τ is inside and the power law wins (an undecided family
    comparison counts only on ≥ ``min_tail_undecided`` tail points, else ``inconclusive``)."""
    if not n:
        return Verdict("not measured", "no CCG sizes")
    if tau is None:
        return Verdict("inconclusive", "τ refused (sizes span < 1 decade or too few)")
    if at_bound or favoured == "at_bound":
        return Verdict("inconclusive", "the power-law fit sits on its search bound")
    if tail_decades is None or tail_decades < min_decades:
        return Verdict("inconclusive", f"the fitted tail spans {tail_decades or 0:.2f} < {min_decades:g} decade(s)")
    if favoured not in ("power_law", "undecided"):
        return Verdict("differs", f"{favoured} beats the power law decisively")
    v = close_to(tau, target, tol, ci=(tau - 1.96 * tau_se, tau + 1.96 * tau_se))
    if v.verdict == "agrees" and favoured != "power_law" and (n_tail or 0) < min_tail_undecided:
        return Verdict("inconclusive", f"τ inside, but the family comparison is undecided on {n_tail} tail points")
    return v


@rule(agrees=dict(value=10.0, variants=[8.0, 12.0], lo=3.16, hi=31.6),
      differs=dict(value=100.0, variants=[90.0, 120.0], lo=3.16, hi=31.6))
def robust_in_range(value: float | None, variants: list, lo: float, hi: float) -> Verdict:
    """:func:`~critnotes.book.verdicts.in_range` of ``value`` that must survive the stated sensitivity rows:
    ``inconclusive`` when any variant's verdict differs from the base verdict (the result is set by a
    setting, not measured)."""
    base = in_range(value, lo, hi)
    flips = [v for v in variants if in_range(v, lo, hi).verdict != base.verdict]
    if base.verdict != "not measured" and flips:
        return Verdict("inconclusive", f"{base.verdict} at the base setting, but not under {len(flips)} sensitivity "
                                       "row(s)")
    return base


@rule(agrees=dict(slopes=[-0.3, -0.2], ps=[1e-4, 1e-3], delta_aic=[0.0, 1.0]),
      differs=dict(slopes=[-0.3, -0.2], ps=[1e-4, 1e-3], delta_aic=[25.0, 40.0]))
def log_aging(slopes: list, ps: list, delta_aic: list, alpha: float = 0.05, close: float = 2.0,
              decisive: float = 10.0) -> Verdict:
    """E_G(t) ∝ −ln t for every digit: ``differs`` when any cost increases significantly with ln t, or for
    most digits another relaxation form (power law, exponential) fits decisively better (ΔAIC > ``decisive``);
    ``agrees`` when every slope is negative and significant and the log form is within ``close`` of the best
    AIC for every digit; ``inconclusive`` otherwise."""
    if not slopes:
        return Verdict("not measured", "no aging fit")
    if any(s > 0 and p < alpha for s, p in zip(slopes, ps)):
        return Verdict("differs", "a coupling cost increases significantly with ln t")
    worse = sum(d > decisive for d in delta_aic)
    if worse > len(delta_aic) / 2:
        return Verdict("differs", f"another form fits decisively better (ΔAIC > {decisive:g}) for {worse} of "
                                  f"{len(delta_aic)} digits")
    if all(s < 0 and p < alpha for s, p in zip(slopes, ps)) and all(d <= close for d in delta_aic):
        return Verdict("agrees", "every cost decreases significantly, and −ln t fits as well as the alternatives")
    return Verdict("inconclusive", "not every decrease is significant, or the log form is not the best for every "
                                   "digit")


def _grid_setting(res: CCGResults) -> str:
    g, r = res.cfg.sweep, res.cfg.run
    return (f"grid: {len(usable_grid(res))} usable runs (test accuracy ≥ {res.cfg.min_test_acc:g}), {g.steps} steps on "
            f"{g.dataset}, graphs from {g.n_probe} probe samples (reference run: {r.steps} steps, {r.n_probe} "
            "samples)")


def claims(res: CCGResults) -> list[Claim]:
    cfg = res.cfg
    nv = np.array([g.n_vertices for g in res.ccgs])
    ne = np.array([g.n_edges for g in res.ccgs])
    r = cfg.run
    setting = f"reference run: M = {r.n_neurons}, {r.steps} steps on {r.dataset}, {r.n_probe} probe samples"
    variants = {k: float(np.mean(v)) for k, v in res.edges_sensitivity.items()}
    out = [Claim.judged(f"{CHAPTER}.edges.mean", "CCGs have O(10) edges each (mean N_E in [10^0.5, 10^1.5]); N_E is "
                        f"set by the extraction settings ({cfg.params}): the verdict must hold in every sensitivity "
                        f"row ({', '.join(variants)}), else inconclusive; {setting}", "O(10)", float(ne.mean()),
                        "robust_in_range",
                        detail={"per_digit": ne, "sensitivity": variants, "dense_edges": res.dense_edges,
                                "reduction": res.dense_edges / max(ne.mean(), 1e-9)},
                        value=float(ne.mean()), variants=list(variants.values()), lo=10 ** 0.5, hi=10 ** 1.5),
           Claim(f"{CHAPTER}.vertices.mean", "mean number of CCG vertices N_V (output included)", None, float(nv.mean()),
                 kind="finding", detail={"per_digit": nv})]
    for split, fig_note, thr, what in (
            ("test", "'even achieving higher accuracy on the test dataset'", 0.0, "CCG − dense > 0 (superiority)"),
            ("train", "'maintaining adequate accuracy on the training dataset'", -0.02, "CCG − dense > −0.02 "
             "(non-inferiority)")):
        gap, ci = accuracy_gap(res, split)
        tt = task_table(res, split)
        out.append(Claim.judged(f"{CHAPTER}.task.{split}_balanced_acc", f"each CCG alone, every other neuron→neuron "
                                f"weight mean-ablated, on its own digit vs the rest ({fig_note}, Fig 5e): mean balanced "
                                f"{split} accuracy gap {what}; each output calibrated by class-balanced Platt scaling "
                                f"on the training split; 95 % bootstrap over digits; {setting}",
                                "higher" if split == "test" else "adequate", gap, "exceeds",
                                detail={k: {q: v for q, v in d.items()} for k, d in tt.items()},
                                value=gap, threshold=thr, ci=ci))
        out.append(Claim(f"{CHAPTER}.task.{split}_loss", f"mean {split} loss −ln p(T|x) of each CCG on its own digit "
                         "against the dense output (paper: 'only a minor increase', no number)", None,
                         {"ccg": float(tt["ccg"]["loss_on_task"].mean()), "dense": float(tt["dense"]["loss_on_task"].mean())},
                         kind="finding", detail={"per_digit_ccg": tt["ccg"]["loss_on_task"],
                                                 "per_digit_dense": tt["dense"]["loss_on_task"]}))
        out.append(Claim(f"{CHAPTER}.task.{split}_auc", f"mean {split} AUC of each CCG on its own digit", None,
                         float(tt["ccg"]["auc"].mean()), kind="finding",
                         detail={"ccg": tt["ccg"]["auc"], "dense": tt["dense"]["auc"]}))
    out.append(Claim(f"{CHAPTER}.union.calibrated_acc", "10-way accuracy of the union classifier argmax_T p_T(x) "
                     "over the calibrated CCG outputs (same calibration for the dense logits)", None, res.union["test"],
                     kind="finding", detail={"train": res.union["train"]}))
    grid_setting = _grid_setting(res)
    for key, name in (("nv", "N_V"), ("ne", "N_E")):
        tr = size_trends(res, key)
        out.append(Claim.judged(f"{CHAPTER}.size.{key}.vs_M", f"{name} grows with the model size M (Fig 5f): "
                                f"d ln(1 + {name}) / d ln M > 0 (least squares on ln M and ln γ, 95 % t-interval); "
                                + grid_setting, "increases", tr["b_M"], "exceeds", detail=tr, value=tr["b_M"],
                                threshold=0.0, ci=tr["ci_M"]))
        out.append(Claim.judged(f"{CHAPTER}.size.{key}.vs_gamma", f"{name} is almost the same across γ (Fig 5g): "
                                f"|d ln(1 + {name}) / d ln γ| ≤ {cfg.tol_gamma:g} (same fit; interval inside the band); "
                                + grid_setting, "flat", tr["b_gamma"], "close_to", detail=tr, value=tr["b_gamma"],
                                target=0.0, tol=cfg.tol_gamma, ci=tr["ci_gamma"]))
    dv, de = difficulty(res, "nv"), difficulty(res, "ne")
    out.append(Claim.judged(f"{CHAPTER}.difficulty", "digits 5 and 9 are the hardest and 8 the easiest (Fig 5h): per "
                            "grid run (N_V(5) + N_V(9))/2 − N_V(8) > 0, 95 % t-interval over runs; " + grid_setting,
                            "5, 9 hardest; 8 easiest", dv["contrast"], "exceeds",
                            detail={"nv": dv, "ne": de,
                                    "order_nv": None if dv["per_digit"] is None else np.argsort(-dv["per_digit"])},
                            value=dv["contrast"], threshold=0.0, ci=dv["ci"]))
    sf = size_fits(res)
    nvf = sf["nv"]
    out.append(Claim.judged(f"{CHAPTER}.tau.nv", "N_V over all runs and digits is power-law distributed, τ ≈ 1.5 "
                            "(± 0.2; MLE on the tail above x_min, which must span ≥ 1 decade; family comparison "
                            "against exponential and log-normal); " + grid_setting, 1.5, nvf["tau"], "size_exponent",
                            detail=nvf, tau=nvf["tau"], tau_se=nvf.get("tau_se"), n=nvf["n"],
                            tail_decades=nvf["tail_decades"], favoured=nvf.get("reading"), n_tail=nvf.get("n_tail"),
                            at_bound=bool(nvf.get("at_bound", False))))
    out.append(Claim(f"{CHAPTER}.tau.ne", "τ of N_E over all runs and digits (paper: power law, no value)", None,
                     sf["ne"]["tau"], kind="finding", detail=sf["ne"]))
    slopes = [a.slope for a in res.aging]
    d_aic = [f.delta_log for f in res.aging_forms]
    out.append(Claim.judged(f"{CHAPTER}.aging", "coupling cost decreases as E_G(t) = c − α ln t (Fig 5m), the graph "
                            "re-extracted at every checkpoint (no hindsight): every digit's slope in ln t negative "
                            "(p < 0.05) and −ln t within 2 AIC of a power-law and an exponential relaxation; "
                            f"{len(res.steps)} checkpoints; " + setting, "α > 0", float(-np.mean(slopes)), "log_aging",
                            detail={"alpha_per_digit": [-s for s in slopes], "r2_per_digit": [a.r2 for a in res.aging],
                                    "best_form": [f.best for f in res.aging_forms], "delta_aic_log": d_aic},
                            slopes=slopes, ps=[a.p for a in res.aging], delta_aic=d_aic))
    fin = [ccg.aging_fit(res.steps, c) for c in res.cost_final_graph_t]
    null = [ccg.aging_fit(res.steps, c) for c in res.cost_null_t]
    out.append(Claim(f"{CHAPTER}.aging.controls", "mean slope of E_G in ln t for the graph extracted at the end "
                     "(hindsight: chosen to be coherent at the end) and for same-size random graphs (null)", None,
                     {"final_graph": float(np.mean([a.slope for a in fin])), "random_graph":
                      float(np.mean([a.slope for a in null])), "re_extracted": float(np.mean(slopes))},
                     kind="finding", detail={"final_graph_p": [a.p for a in fin], "random_graph_p": [a.p for a in null]}))
    first = np.array([np.abs(s[:, 0]).mean() for s in res.snr_t])
    last = np.array([np.abs(s[:, -1]).mean() for s in res.snr_t])
    out.append(Claim(f"{CHAPTER}.coupling.snr_growth", "mean |d'| of each CCG's neurons at the first and last "
                     "checkpoint (Fig 5j: coupling emerges over training)", None,
                     {"first": float(first.mean()), "last": float(last.mean())}, kind="finding",
                     detail={"per_digit_first": first, "per_digit_last": last}))
    return out


def reproduce(profile=None, device=None, progress=True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


# --------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------
def draw_ccg(res: CCGResults, digit: int = 0, ax=None):
    """A digit's CCG drawn layer by layer (h1 → h2 → output); edge width ∝ |w|, red excitatory, blue
    inhibitory; node labels are neuron indices within their layer — Fig 5a."""
    fig, ax = axes(ax, figsize=(4, 3.5))
    g = res.ccgs[digit]
    verts = g.vertices
    pos = {}
    for layer, v in enumerate(verts):
        for i, n in enumerate(v):
            pos[(layer, int(n))] = (layer, (i + 1) / (len(v) + 1))
    wmax = max((abs(res.layers[lay][0][post, pre]) for lay, pre, post in g.edges), default=1.0)
    for lay, pre, post in g.edges:
        w = res.layers[lay][0][post, pre]
        (x0, y0), (x1, y1) = pos[(lay - 1, int(pre))], pos[(lay, int(post))]
        ax.plot([x0, x1], [y0, y1], color="#e76f51" if w > 0 else "#457b9d", lw=0.5 + 3 * abs(w) / wmax)
    for (layer, n), (x, y) in pos.items():
        ax.scatter([x], [y], s=250, color="#f1faee", edgecolor="k", zorder=3)
        ax.text(x, y, str(n), ha="center", va="center", fontsize=7, zorder=4)
    names = ["hidden 1", "hidden 2", "output"] if g.n_layers == 3 else [f"layer {i}" for i in range(g.n_layers)]
    ax.set_xticks(range(g.n_layers), names)
    ax.set_yticks([])
    ax.set_xlim(-0.4, g.n_layers - 0.6)
    ax.set_ylim(0, 1)
    ax.set_title(f"digit {digit}: N_V = {g.n_vertices}, N_E = {g.n_edges}", fontsize=9)
    return fig


def plot_feature(res: CCGResults, digit: int = 0, ax=None):
    """The CCG's first-layer feature map (28 × 28 pixels; red: raises the digit's logit) — Fig 5a."""
    fig, ax = axes(ax, figsize=(3, 3))
    f = res.features[digit]
    v = np.abs(f).max() or 1.0
    im = ax.imshow(f, cmap="RdBu_r", vmin=-v, vmax=v)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"feature map, digit {digit}", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8, label="weight (a.u.)")
    return fig


def plot_digit(res: CCGResults, *, digit: int = 0, ax=None):
    """A digit's CCG, its feature map, and its own-task scores (CCG vs dense) — Fig 5a, 5e."""
    if ax is None:
        fig, ax = plt.subplots(1, 3, figsize=(11, 3.4), constrained_layout=True,
                               gridspec_kw={"width_ratios": [1.3, 1, 1]})
    else:
        fig = ax[0].figure
    a1, a2, a3 = ax
    draw_ccg(res, digit, ax=a1)
    plot_feature(res, digit, ax=a2)
    c, d = res.task["ccg"]["test"][digit], res.task["dense"]["test"][digit]
    x = np.arange(2)
    a3.bar(x - 0.2, [c.auc, c.balanced_acc], 0.4, color="#e76f51", label="CCG alone")
    a3.bar(x + 0.2, [d.auc, d.balanced_acc], 0.4, color="#264653", label="dense")
    a3.set_xticks(x, ["AUC", "balanced acc."])
    a3.set_ylim(0.5, 1)
    a3.set_title(f"test, digit {digit} vs rest; loss on digit: CCG {c.loss_on_task:.2f}, dense {d.loss_on_task:.2f}",
                 fontsize=7)
    a3.legend(fontsize=7)
    fig.text(0.01, 0.01, MNIST_CREDIT, fontsize=6)
    return fig


def plot_accuracy(res: CCGResults, *, split: str = "test", metric: str = "balanced_acc", ax=None):
    """Each CCG on its own digit against the dense network's output on the same task: AUC, balanced
    accuracy or loss on the digit (calibrated outputs) — Fig 5e."""
    if metric not in ("auc", "balanced_acc", "loss_on_task"):
        raise ValueError(f"metric must be 'auc', 'balanced_acc' or 'loss_on_task', got {metric!r}")
    fig, ax = axes(ax, figsize=(6, 3.5))
    tt = task_table(res, split)
    d = np.arange(10)
    for i, (k, c) in enumerate((("ccg", "#e76f51"), ("dense", "#264653"))):
        ax.bar(d + 0.4 * (i - 0.5), tt[k][metric], 0.4, color=c, label=f"{k} (mean {tt[k][metric].mean():.3f})")
    ax.set_xticks(d)
    ax.set_xlabel("digit T (task: T vs rest)")
    ax.set_ylabel({"auc": "AUC", "balanced_acc": "balanced accuracy", "loss_on_task": "−ln p(T|x), x ∈ T (nats)"}[metric]
                  + f" ({split})")
    if metric != "loss_on_task":
        ax.set_ylim(0.5, 1)
    ax.legend(fontsize=7)
    return fig


def plot_sample_loss(res: CCGResults, *, split: str = "train", kind: str = "ccg", ax=None):
    """Distribution of the per-sample loss −ln p(T|x) for x ∈ T of each digit's CCG (or, for comparison,
    the dense output on the same task), one curve per digit — Fig 5d."""
    fig, ax = axes(ax, figsize=(5.5, 3.5))
    losses = [t.loss_per_sample for t in res.task[kind][split]]
    pos = np.concatenate([x[x > 0] for x in losses])
    edges = np.geomspace(max(pos.min(), 1e-12), pos.max() * 1.01, 40)
    cmap = plt.get_cmap("tab10")
    for d, x in enumerate(losses):
        c, p = fitting.log_binned_density(edges=edges, counts=np.histogram(x[x > 0], bins=edges)[0])
        ax.loglog(c, p, "-", color=cmap(d), lw=1, label=f"{d} (median {np.median(x):.1e})")
    ax.set_xlabel(f"per-sample {split} loss −ln p(T|x), x ∈ T (nats)")
    ax.set_ylabel("p(L) (1/nats)")
    ax.set_title(f"{'each CCG alone' if kind == 'ccg' else 'dense output'}, calibrated", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    return fig


def plot_coupling_training(res: CCGResults, *, digit: int = 0, ax=None):
    """Task SNR d' of each neuron of a digit's CCG over training (Fig 5j): coupling of the critical
    neurons emerging; positive for neurons on for x ∈ T, negative for suppressive ones."""
    fig, ax = axes(ax, figsize=(5.5, 3.5))
    t = np.maximum(res.steps.astype(float), 0.5)
    for row, name in zip(res.snr_t[digit], res.vertex_names[digit]):
        ax.semilogx(t, row, "-", lw=1.4 if name.startswith("out") else 0.8, label=name)
    ax.axhline(0, color="k", lw=0.4)
    ax.set_xlabel("training step t (t = 0 drawn at 0.5)")
    ax.set_ylabel("task SNR d' (dimensionless)")
    ax.set_title(f"CCG of digit {digit}: its neurons over training", fontsize=9)
    ax.legend(fontsize=5, ncol=2)
    return fig


def plot_ordered(res: CCGResults, ax=None):
    """Activity raster (z-scored; probe samples sorted by digit) and correlation matrix with neurons
    ordered by CCG membership (digit 0's CCG first, …, then the rest) — Fig 5b–c."""
    fig, (ax,) = panels(ax, 1, 2, (10, 4))
    order, starts = ccg.membership_order(res.ccgs, res.sizes)
    a = res.probe_activity[:, order].astype(float)
    z = (a - a.mean(0)) / np.where(a.std(0) > 0, a.std(0), 1)
    ax[0].imshow(z.T, aspect="auto", cmap="gray_r", vmin=0, vmax=2.5, interpolation="nearest")
    ax[0].set_xlabel("probe sample (sorted by digit)")
    ax[0].set_ylabel("neuron (CCG order)")
    c = graphs.correlation_matrix(a)
    im = ax[1].imshow(c, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    for axx in ax:
        for s in starts:
            axx.axhline(s - 0.5, color="#e76f51", lw=0.4)
    n_ccg = starts[-1]
    ax[1].set_xlim(-0.5, min(len(order), 2 * n_ccg) - 0.5)
    ax[1].set_ylim(min(len(order), 2 * n_ccg) - 0.5, -0.5)
    ax[1].set_xlabel("neuron (CCG order)")
    ax[1].set_title("Pearson C (CCG neurons, then others)", fontsize=9)
    fig.colorbar(im, ax=ax[1], label="C_ij")
    return fig


def plot_sizes(res: CCGResults, ax=None):
    """N_V and N_E against M (colour: γ) over the grid — Fig 5f–g."""
    fig, (ax,) = panels(ax, 1, 2, (9, 3.5))
    grid = usable_grid(res)
    gam = np.array([g["gamma"] for g in grid])
    for axx, key, name in ((ax[0], "nv", "N_V"), (ax[1], "ne", "N_E")):
        m = np.array([g["M"] for g in grid])
        v = np.array([np.mean(g[key]) for g in grid])
        sc = axx.scatter(m, v, c=np.log10(gam), cmap="viridis")
        axx.set_xscale("log")
        axx.set_xlabel("M (neurons)")
        axx.set_ylabel(f"mean {name} over digits")
    fig.colorbar(sc, ax=ax[1], label="log10 γ = log10(ν/B)")
    return fig


def plot_size_distribution(res: CCGResults, ax=None):
    """Distribution of N_V and N_E over all digits and grid runs, with the MLE τ — Fig 5i."""
    fig, ax = axes(ax, figsize=(5, 3.8))
    sf = size_fits(res)
    for key, c in (("nv", "#264653"), ("ne", "#e76f51")):
        vals = pooled_sizes(res, key)
        if not vals.size:
            continue
        u, cnt = np.unique(vals, return_counts=True)
        tau = sf[key]["tau"]
        ax.loglog(u, cnt / cnt.sum(), "o", color=c,
                  label=f"{'N_V' if key == 'nv' else 'N_E'}" + (f" (τ = {tau:.2f})" if tau else ""))
    x = np.array([2.0, 30.0])
    ax.loglog(x, 0.5 * (x / 2) ** -1.5, "--", color="k", label="paper τ = 1.5")
    ax.set_xlabel("CCG size N")
    ax.set_ylabel("P(N)")
    ax.legend(fontsize=7)
    return fig


def plot_difficulty(res: CCGResults, ax=None):
    """Mean N_V, N_E per digit over the grid (task difficulty) — Fig 5h."""
    fig, ax = axes(ax, figsize=(5.5, 3.5))
    grid = usable_grid(res)
    d = np.arange(10)
    for i, (key, c) in enumerate((("nv", "#264653"), ("ne", "#e76f51"))):
        v = np.mean([g[key] for g in grid], axis=0) if grid else np.zeros(10)
        ax.bar(d + 0.4 * (i - 0.5), v, 0.4, color=c, label=f"mean {'N_V' if key == 'nv' else 'N_E'}")
    ax.set_xticks(d)
    ax.set_xlabel("digit")
    ax.set_ylabel("CCG size (over grid runs)")
    ax.legend(fontsize=7)
    return fig


def plot_coupling(res: CCGResults, *, digit: int = 0, ax=None):
    """Coupling: the output neuron's activity for x ∈ T vs x ∉ T (Fig 5j–k) and the per-sample coupling
    cost E_G(x) for x ∈ T vs x ∉ T at the end (Fig 5l)."""
    fig, (ax,) = panels(ax, 1, 2, (9, 3.3))
    on = res.probe_labels == digit
    out = res.probe_activity[:, sum(res.sizes[:-1]) + digit]
    ax[0].hist(out[on], 30, density=True, alpha=0.6, color="#e76f51", label="x ∈ T")
    ax[0].hist(out[~on], 30, density=True, alpha=0.6, color="#9e9e9e", label="x ∉ T")
    ax[0].set_xlabel(f"logit of output neuron {digit}")
    ax[0].set_ylabel("density")
    ax[0].set_title(f"overlap = {res.output_overlap[digit]:.3f}", fontsize=9)
    ax[0].legend(fontsize=7)
    e = res.cost_end[digit]
    ax[1].hist(e[on], 30, density=True, alpha=0.6, color="#e76f51", label="x ∈ T")
    ax[1].hist(e[~on], 30, density=True, alpha=0.6, color="#9e9e9e", label="x ∉ T")
    ax[1].set_xlabel("per-sample coupling cost E_G(x) (dimensionless)")
    ax[1].set_ylabel("density")
    ax[1].legend(fontsize=7)
    return fig


def plot_aging(res: CCGResults, *, graph: str = "re-extracted", ax=None):
    """E_G(t) of every digit over training with the fits c − α ln t (Fig 5m): ``graph`` "re-extracted" (the
    CCG extracted at each checkpoint), "final" (the end's CCG throughout: hindsight) or "random" (null)."""
    series = {"re-extracted": res.cost_t, "final": res.cost_final_graph_t, "random": res.cost_null_t}
    if graph not in series:
        raise ValueError(f"graph must be one of {', '.join(series)}, got {graph!r}")
    fig, ax = axes(ax, figsize=(5.5, 3.8))
    t = res.steps.astype(float)
    sel = t >= 1
    cmap = plt.get_cmap("tab10")
    for d, c in enumerate(series[graph]):
        a = ccg.aging_fit(res.steps, c)
        ax.semilogx(t[sel], c[sel], "o", ms=3, color=cmap(d))
        ax.semilogx(t[sel], a.intercept + a.slope * np.log(t[sel]), "-", color=cmap(d), lw=0.8,
                    label=f"{d}: α={-a.slope:.2f}, R²={a.r2:.2f}")
    ax.set_xlabel("training step t")
    ax.set_ylabel("coupling cost E_G(t) (dimensionless)")
    ax.set_title(f"graph: {graph}", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    return fig


def widget_controls(res: CCGResults, cfg: CCGConfig) -> dict:
    """The interactive demo's controls (first value = default)."""
    digits = list(range(len(res.ccgs)))
    return {"plot_digit": {"digit": digits},
            "plot_accuracy": {"split": ["test", "train"], "metric": ["balanced_acc", "auc", "loss_on_task"]},
            "plot_sample_loss": {"split": ["train", "test"], "kind": ["ccg", "dense"]},
            "plot_coupling_training": {"digit": digits},
            "plot_coupling": {"digit": digits},
            "plot_aging": {"graph": ["re-extracted", "final", "random"]}}
