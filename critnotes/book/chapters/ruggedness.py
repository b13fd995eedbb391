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
from critnotes.book.verdicts import Verdict, family, rule
from critnotes.training import cache
from critnotes.training.data import load_dataset
from critnotes.training.device import resolve_device
from critnotes.training.loop import TrainConfig, run_data, train

CHAPTER = "ruggedness"
#: the family the paper reports at each ε (Fig 4 B–E) and the family it is contrasted with
PAPER_FAMILY = {0.01: "exponential", 1.0: "power_law"}
OTHER = {"exponential": "power_law", "power_law": "exponential"}
#: per planted curvature family: the family a correct method must keep, and the wrong one it must reject.
#: A Gaussian is not among the three candidates: no family must be kept, but the power law must go
#: (see :func:`expected_family` for exponential curvatures at small δ).
EXPECTED_FAMILY = {"gaussian": None, "power_law": "power_law", "exponential": "exponential",
                   "lognormal": "lognormal"}
WRONG_FAMILY = {"gaussian": "power_law", "power_law": "exponential", "exponential": "power_law",
                "lognormal": "exponential"}
#: the paper's training-set size and batch: full MNIST, 60,000 images of batch 64 → steps per epoch
PAPER_STEPS_PER_EPOCH = 60_000 // 64
#: the power-law exponent's search range (a fit on its end is flagged, never read as an exponent)
ALPHA_RANGE = (1.0, 12.0)
FAMILIES = ("exponential", "power_law", "lognormal")


@dataclasses.dataclass(frozen=True)
class RuggednessConfig:
    model: str = "mlp-small"
    dataset: str = "mnist-10k"
    normalize: str = "pm1"              # input normalisation (paper 002's released code: (x − 0.5)/0.5)
    sensitivity_normalize: str | None = "none"   # the other setting, scanned at the last epoch (None: skip)
    n_train: int | None = None          # training subset (None → all); the loss is on all of it
    lr: float = 0.01
    batch_size: int = 64
    epochs: tuple[int, ...] = (50, 100)  # checkpoints scanned (paper: 50 and 100 epochs)
    eps: tuple[float, ...] = (0.01, 1.0)            # scanned at every checkpoint (paper's two scales)
    eps_grid: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)   # scanned at the last checkpoint
    per_layer: int = 5000               # random parameters per layer (paper: 5,000)
    seed: int = 0
    tail_quantile: float = 0.9          # common x_min of all three families: this quantile of the non-zero values
    synthetic_D: int = 100_000          # dimension of the synthetic paraboloids
    synthetic_delta: tuple[float, ...] = (0.1, 10.0)   # coordinate-wise perturbations δ (the paper's value is lost)
    synthetic_alpha: float = 2.5        # exponent of the planted power-law curvatures
    synthetic_replicates: int = 3       # independent landscapes per family and δ
    p_threshold: float = 0.1            # significance of a likelihood-ratio test


PROFILES = {
    "ci": RuggednessConfig(n_train=1000, epochs=(2, 4), eps_grid=(0.01, 0.1, 1.0), per_layer=250,
                           synthetic_D=10_000, synthetic_replicates=1),
    "quick": RuggednessConfig(per_layer=1000),
    "paper": RuggednessConfig(dataset="mnist"),
    "paper-cpu": RuggednessConfig(dataset="mnist", per_layer=1000),
}
#: what a profile changes from the paper's settings (stored with each of its results)
PROFILE_DIFFERENCES = {"paper-cpu": (
    "1,000 random parameters per layer are perturbed at each checkpoint, not the paper's 5,000: five times the "
    "scans over the 60,000-image loss exceed a 2-core CPU session (the tail fits see a fifth of the samples)",
)}


@dataclasses.dataclass(frozen=True)
class FamilyTest:
    """Power law / exponential / log-normal fitted by MLE above one common x_min, compared pairwise
    (Vuong).  ``survivors``: families no other beats significantly; ``favoured``: the winner of the
    power law vs exponential test (the paper's contrast) — ``"lognormal"`` when the log-normal beats
    that winner, ``"at_bound"`` when the power-law exponent sits on its search bound; ``decisive``:
    that test is significant."""

    survivors: tuple[str, ...]
    favoured: str
    decisive: bool
    alpha: float
    alpha_se: float
    at_bound: bool
    xmin: float
    exp_rate: float
    n_tail: int
    n: int
    comparisons: dict        # "power_law_vs_exponential" etc. → (R, p); R > 0 favours the first


def survivors(comparisons: dict, p_threshold: float = 0.1) -> tuple[str, ...]:
    """Families that no other beats with a significant likelihood ratio (Vuong p < ``p_threshold``).
    One survivor is a decisive answer; several mean the data cannot tell them apart."""
    beaten = set()
    for key, (R, p) in comparisons.items():
        a, b = key.split("_vs_")
        if p < p_threshold:
            beaten.add(b if R > 0 else a)
    return tuple(f for f in FAMILIES if f not in beaten)


def family_test(values, tail_quantile: float = 0.9, p_threshold: float = 0.1) -> FamilyTest:
    """:class:`FamilyTest` of the non-zero ``|values|`` above x_min = their ``tail_quantile`` quantile
    (the same x_min for every family, every scan and every synthetic landscape)."""
    if not 0 <= tail_quantile < 1:
        raise ValueError(f"tail_quantile must lie in [0, 1), got {tail_quantile!r}")
    v = np.abs(np.asarray(values, dtype=float)).ravel()
    v = v[v > 0]
    need = int(np.ceil(fitting.MIN_TAIL / (1 - tail_quantile)))
    if v.size < need:
        raise ValueError(f"only {v.size} non-zero values; a family test above the {tail_quantile:g} quantile "
                         f"needs {need} (draw more trials: per_layer / synthetic_D, or lower tail_quantile)")
    xmin = float(np.quantile(v, tail_quantile))
    cmp = fitting.compare_families(v, xmin=xmin, alpha_range=ALPHA_RANGE)
    comps = {k: tuple(map(float, rp)) for k, rp in cmp.comparisons.items()}
    surv = survivors(comps, p_threshold)
    alpha = float(cmp.power_law.alpha)
    at_bound = bool(cmp.at_bound)
    R, p = comps["power_law_vs_exponential"]
    leader = "power_law" if R > 0 else "exponential"
    favoured = "at_bound" if at_bound else (leader if leader in surv or p >= p_threshold else "lognormal")
    return FamilyTest(survivors=surv, favoured=favoured, decisive=bool(p < p_threshold), alpha=alpha,
                      alpha_se=float(cmp.power_law.alpha_se), at_bound=at_bound, xmin=xmin,
                      exp_rate=float(cmp.exponential.rate), n_tail=int(cmp.n_tail), n=int(v.size),
                      comparisons=comps)


@dataclasses.dataclass(frozen=True)
class ScanFit:
    """Fits of one scan's |ΔL| (exact zeros — flat directions — dropped and counted): the family test of
    each sign (``signs``: +ε, −ε; the verdicts use these, since |ΔL(+ε)| and |ΔL(−ε)| of one parameter are
    nearly the same number and pooling them would count each parameter twice), the test of both signs
    pooled (``test``: only the drawn lines) and the paper's least-squares readings on the pooled values
    (semi-log line on linear bins; log-log line on log bins above x_min)."""

    signs: tuple[FamilyTest, FamilyTest]
    test: FamilyTest
    ls_semilog: fitting.LineFit
    ls_loglog: fitting.LineFit
    zero_fraction: float
    n: int


@dataclasses.dataclass
class RuggednessResults:
    cfg: RuggednessConfig
    layer_names: list[str]
    layer_sizes: list[int]     # parameters (weights + biases) per Linear layer
    trials: landscape.Trials
    runs: dict                 # epoch → {"steps", "train_loss", "train_acc", "test_acc"}
    scans: dict                # (epoch, eps) → (2, n_trials) signed ΔL for +ε, −ε
    fits: dict                 # (epoch, eps) → ScanFit
    sensitivity: dict          # eps → ScanFit of the last epoch trained with cfg.sensitivity_normalize
    params: dict               # layer name → parameter values of the last checkpoint (Fig S15)
    synthetic: dict            # (family, δ) → {"values": (2, D) |Δf| of replicate 0, "tests": [(FamilyTest +δ, −δ)]}
    dataset: str

    def eps_values(self, epoch: int | None = None) -> list[float]:
        epoch = self.cfg.epochs[-1] if epoch is None else epoch
        return sorted(e for (ep, e) in self.scans if ep == epoch)


def train_config(cfg: RuggednessConfig, epochs: int, normalize: str | None = None) -> TrainConfig:
    """The training run scanned at ``epochs`` (steps = epochs × ⌊N / B⌋)."""
    n = len(load_dataset(cfg.dataset).y_train) if cfg.n_train is None else cfg.n_train
    return TrainConfig(model=cfg.model, dataset=cfg.dataset, lr=cfg.lr, batch_size=cfg.batch_size,
                       steps=epochs * (n // cfg.batch_size), seed=cfg.seed, n_train=cfg.n_train,
                       normalize=cfg.normalize if normalize is None else normalize)


def semilog_slope(samples, bins: int = 40) -> fitting.LineFit:
    """Least-squares line through ln p(x) vs x on linear bins up to the 99.9th percentile: the
    paper's semi-log reading of an exponential (Fig 4 B–C); the rate is −slope."""
    x = np.asarray(samples, dtype=float)
    counts, edges = np.histogram(x, bins=bins, range=(0.0, float(np.quantile(x, 0.999))))
    dens = counts / (len(x) * np.diff(edges))
    return fitting.linear_fit(0.5 * (edges[1:] + edges[:-1]), dens, log_y=True)


def fit_scan(dL: np.ndarray, tail_quantile: float = 0.9, p_threshold: float = 0.1) -> ScanFit:
    """:class:`ScanFit` of one scan (signed ΔL, shape (2, trials): +ε, −ε)."""
    d = np.asarray(dL, dtype=float)
    if d.ndim != 2 or d.shape[0] != 2:
        raise ValueError(f"dL must be (2, trials): rows +ε and −ε, got shape {d.shape}")
    v = np.abs(d).ravel()
    pos = v[v > 0]
    test = family_test(pos, tail_quantile, p_threshold)
    x, p = fitting.log_binned_density(pos)
    return ScanFit(signs=tuple(family_test(row, tail_quantile, p_threshold) for row in np.abs(d)), test=test,
                   ls_semilog=semilog_slope(pos),
                   ls_loglog=fitting.loglog_fit(x, p, xrange=(test.xmin, None)),
                   zero_fraction=float(1 - pos.size / v.size), n=int(v.size))


def _scan(cfg: RuggednessConfig, tcfg: TrainConfig, eps: float, device, progress: bool) -> np.ndarray:
    def compute():
        r = train(tcfg, device=device, progress=progress)
        data = run_data(tcfg)
        dev = resolve_device(device)
        trials = landscape.random_trials(r.model(), cfg.per_layer, cfg.seed)
        return landscape.scan(r.model(), data.x_train.to(dev), data.y_train.to(dev), eps, trials)

    return cache.cached("ruggedness-scan", (tcfg, cfg.per_layer, cfg.seed, float(eps)), compute,
                        code=(compute, landscape), expect=np.ndarray)


def run(cfg: RuggednessConfig, device=None, progress: bool = True) -> RuggednessResults:
    """Train (cached), scan every (epoch, ε), fit, scan the sensitivity setting, run the synthetic landscapes."""
    fit = dict(tail_quantile=cfg.tail_quantile, p_threshold=cfg.p_threshold)
    runs, scans = {}, {}
    for ep in cfg.epochs:
        tcfg = train_config(cfg, ep)
        r = train(tcfg, device=device, progress=progress)
        runs[ep] = {"steps": r.cfg.steps, "train_loss": r.train_loss, "train_acc": r.train_acc,
                    "test_acc": r.test_acc}
        grid = set(cfg.eps) | (set(cfg.eps_grid) if ep == cfg.epochs[-1] else set())
        for eps in sorted(grid):
            scans[(ep, eps)] = _scan(cfg, tcfg, eps, device, progress)
    model = r.model()
    sens = {}
    if cfg.sensitivity_normalize is not None:
        alt = train_config(cfg, cfg.epochs[-1], cfg.sensitivity_normalize)
        for eps in cfg.eps:
            sens[eps] = fit_scan(_scan(cfg, alt, eps, device, progress), **fit)
    synthetic = {}
    for fam in landscape.CURVATURE_FAMILIES:
        for delta in cfg.synthetic_delta:
            tests = []
            for rep in range(cfg.synthetic_replicates):
                seed = cfg.seed + 1000 * rep
                c = landscape.synthetic_curvatures(fam, cfg.synthetic_D, seed, alpha=cfg.synthetic_alpha)
                vals = landscape.synthetic_scan(c, delta, seed)
                tests.append(tuple(family_test(row, **fit) for row in vals))
                if rep == 0:
                    first = vals
            synthetic[(fam, delta)] = {"values": first, "tests": tests}
    names = [f"L{i + 1} ({m.in_features}→{m.out_features})" for i, m in enumerate(model.linears)]
    params = {n: np.concatenate([m.weight.detach().cpu().numpy().ravel(), m.bias.detach().cpu().numpy()])
              for n, m in zip(names, model.linears)}
    return RuggednessResults(cfg=cfg, layer_names=names, layer_sizes=[len(v) for v in params.values()],
                             trials=landscape.random_trials(model, cfg.per_layer, cfg.seed), runs=runs,
                             scans=scans, fits={k: fit_scan(v, **fit) for k, v in scans.items()},
                             sensitivity=sens, params=params,
                             synthetic=synthetic, dataset=cfg.dataset)


def expected_family(family: str, delta: float) -> str | None:
    """The family a synthetic landscape must keep: the planted one, except exponential curvatures at small δ,
    where |Δf| = c·|2xδ ± δ²| is a *mixture* of exponentials (the factor is spread over [0, 2δ + δ²]), so only
    the power law must be rejected (as for Gaussian curvatures)."""
    if family == "exponential" and delta < 1:
        return None
    return EXPECTED_FAMILY[family]


def synthetic_outcome(test: FamilyTest, family: str, delta: float = 10.0) -> str:
    """One sign of one synthetic landscape judged: ``"failed"`` (the expected family of
    :func:`expected_family` is beaten, or only the wrong family of :data:`WRONG_FAMILY` survives),
    ``"at_bound"`` (planted power law whose exponent sits on its search bound), ``"decisive"`` (the expected
    family survives and the wrong one is rejected) or ``"undecided"`` (the wrong one survives too)."""
    expected = expected_family(family, delta)
    if (expected is not None and expected not in test.survivors) or test.survivors == (WRONG_FAMILY[family],):
        return "failed"
    if family == "power_law" and test.at_bound:
        return "at_bound"
    return "decisive" if WRONG_FAMILY[family] not in test.survivors else "undecided"


def landscape_outcome(tests, family: str, delta: float = 10.0) -> str:
    """Both signs of one landscape: ``failed`` / ``at_bound`` if either sign is, ``decisive`` if both are,
    else ``undecided``."""
    o = [synthetic_outcome(t, family, delta) for t in tests]
    for worst in ("failed", "at_bound"):
        if worst in o:
            return worst
    return "decisive" if all(x == "decisive" for x in o) else "undecided"


@rule(agrees=dict(outcomes=["decisive", "decisive"]), differs=dict(outcomes=["decisive", "failed"]))
def planted_recovered(outcomes: list[str]) -> Verdict:
    """Synthetic validation: ``agrees`` when every landscape is decisive for the planted family,
    ``differs`` when any landscape fails, ``inconclusive`` when some stay undecided or at the bound."""
    if not outcomes:
        return Verdict("not measured", "no landscape")
    if "failed" in outcomes:
        return Verdict("differs", f"the method fails in {outcomes.count('failed')} of {len(outcomes)} landscapes")
    if all(o == "decisive" for o in outcomes):
        return Verdict("agrees", f"planted family kept and the wrong one rejected in all {len(outcomes)}")
    return Verdict("inconclusive", f"decisive in {outcomes.count('decisive')} of {len(outcomes)} landscapes "
                                   f"(the others undecided or at the exponent's bound)")


@rule(agrees=dict(plus="exponential", plus_decisive=True, minus="exponential", minus_decisive=True,
                  expected="exponential"),
      differs=dict(plus="power_law", plus_decisive=True, minus="power_law", minus_decisive=True,
                   expected="exponential"))
def both_signs(plus: str | None, plus_decisive: bool, minus: str | None, minus_decisive: bool,
               expected: str) -> Verdict:
    """The paper's family "consistent across both positive and negative perturbations": the
    :func:`~critnotes.book.verdicts.family` rule (``expected`` against :data:`OTHER`) on +ε and on −ε
    separately; ``agrees`` / ``differs`` only when both signs say so, else ``inconclusive``."""
    v = [family(f, expected, (OTHER[expected],), d) for f, d in ((plus, plus_decisive), (minus, minus_decisive))]
    if v[0].verdict == v[1].verdict:
        return Verdict(v[0].verdict, f"both signs: {v[0].reason}")
    return Verdict("inconclusive" if "not measured" not in (v[0].verdict, v[1].verdict) else "not measured",
                   f"+ε: {v[0].verdict} ({v[0].reason}); −ε: {v[1].verdict} ({v[1].reason})")


def _setting(res: RuggednessResults, normalize: str) -> str:
    return (f"{res.cfg.model} on {res.dataset}, inputs {normalize!r}, {len(res.trials):,} distinct parameters "
            f"× 2 signs, whole training set; families compared above the common x_min = the "
            f"{res.cfg.tail_quantile:g} quantile of the non-zero |ΔL|")


def _epochs(res: RuggednessResults, ep: int) -> str:
    """An epoch count with its SGD steps here and in the paper (full MNIST, batch 64)."""
    return (f"{ep} epochs = {res.runs[ep]['steps']:,} SGD steps on {res.dataset} "
            f"(paper: {ep} epochs of full MNIST = {ep * PAPER_STEPS_PER_EPOCH:,} steps)")


def _family_claim(cid: str, res: RuggednessResults, ep: int, eps: float, f: ScanFit, normalize: str) -> Claim:
    expected = PAPER_FAMILY[eps]
    tp, tm = f.signs
    light = (" — here this means only: lighter-tailed than a power law above the x_min (a Gaussian-curvature "
             "landscape passes too)") if expected == "exponential" else ""
    statement = (f"|ΔL| under +ε and under −ε = {eps:g} single-parameter perturbations after {_epochs(res, ep)} "
                 f"follows {'an exponential' if expected == 'exponential' else 'a power law'} rather than "
                 f"{'a power law' if expected == 'exponential' else 'an exponential'}, each sign tested on its own"
                 f"{light} ({_setting(res, normalize)}; paper: full MNIST, 25,000 trials)")
    measured = {s: (t.favoured if t.decisive else f"undecided ({t.favoured} ahead)")
                for s, t in (("+eps", tp), ("-eps", tm))}
    detail = {"survivors": {"+eps": list(tp.survivors), "-eps": list(tm.survivors)},
              "comparisons": {"+eps": tp.comparisons, "-eps": tm.comparisons},
              "alpha_mle": {"+eps": tp.alpha, "-eps": tm.alpha}, "alpha_se": {"+eps": tp.alpha_se, "-eps": tm.alpha_se},
              "at_bound": tp.at_bound or tm.at_bound, "xmin": {"+eps": tp.xmin, "-eps": tm.xmin},
              "n_tail": {"+eps": tp.n_tail, "-eps": tm.n_tail}, "ls_semilog_r2": f.ls_semilog.r2,
              "ls_loglog_alpha": -f.ls_loglog.slope, "ls_loglog_r2": f.ls_loglog.r2, "zero_fraction": f.zero_fraction,
              "normalize": normalize, "train_acc": res.runs[ep]["train_acc"], "steps": res.runs[ep]["steps"]}
    if normalize != res.cfg.normalize:
        return Claim(cid, statement + f" — a sensitivity row: inputs {normalize!r}, not the paper code's "
                                      f"{res.cfg.normalize!r}", None, measured, kind="finding",
                     detail={**detail, "paper": expected})
    return Claim.judged(cid, statement, expected, measured, "both_signs", detail=detail, plus=tp.favoured,
                        plus_decisive=tp.decisive, minus=tm.favoured, minus_decisive=tm.decisive, expected=expected)


def claims(res: RuggednessResults) -> list[Claim]:
    """Family verdicts at the paper's two ε (and the sensitivity setting), the exponent and parameter
    ranges as findings, and the synthetic validation as checks."""
    out, cfg = [], res.cfg
    ep_last = cfg.epochs[-1]
    for (ep, eps), f in sorted(res.fits.items()):
        if eps in PAPER_FAMILY:
            out.append(_family_claim(f"{CHAPTER}.family.eps{eps:g}.epoch{ep}", res, ep, eps, f, cfg.normalize))
    for eps, f in sorted(res.sensitivity.items()):
        if eps in PAPER_FAMILY:
            out.append(_family_claim(f"{CHAPTER}.family.eps{eps:g}.epoch{ep_last}.inputs_{cfg.sensitivity_normalize}",
                                     res, ep_last, eps, f, cfg.sensitivity_normalize))
    big = max(e for e in res.eps_values(ep_last) if e in PAPER_FAMILY)
    f = res.fits[(ep_last, big)]
    out.append(Claim(
        id=f"{CHAPTER}.alpha.eps{big:g}.epoch{ep_last}", kind="finding",
        statement="power-law exponent of |ΔL| at large ε above the common x_min (the paper's number was lost "
                  "in the text extraction, so there is no value to compare)",
        paper=None, measured={"mle_plus": f.signs[0].alpha, "mle_plus_se": f.signs[0].alpha_se,
                              "mle_minus": f.signs[1].alpha, "mle_minus_se": f.signs[1].alpha_se,
                              "ls": -f.ls_loglog.slope},
        detail={"at_bound": f.signs[0].at_bound or f.signs[1].at_bound, "xmin": [t.xmin for t in f.signs],
                "ls_r2": f.ls_loglog.r2, "n_tail": [t.n_tail for t in f.signs]}))
    allp = np.abs(np.concatenate(list(res.params.values())))
    out.append(Claim(
        id=f"{CHAPTER}.parameter_range.epoch{ep_last}", kind="finding",
        statement=f"range of the trained parameters (Fig S15), against which the paper chose ε = "
                  f"{min(cfg.eps):g} and {max(cfg.eps):g}",
        paper=None, measured={"median_abs": float(np.median(allp)), "max_abs": float(allp.max()),
                              f"frac_below_{min(cfg.eps):g}": float(np.mean(allp < min(cfg.eps))),
                              f"frac_above_{max(cfg.eps):g}": float(np.mean(allp > max(cfg.eps)))},
        detail={"n_params": int(allp.size)}))
    for (fam, delta), syn in res.synthetic.items():
        outcomes = [landscape_outcome(t, fam, delta) for t in syn["tests"]]
        keep = expected_family(fam, delta)
        mixture = " (at small δ exponential curvatures give a mixture of exponentials: only the power law must go)" \
            if fam == "exponential" and keep is None else ""
        out.append(Claim.judged(
            f"{CHAPTER}.synthetic.{fam}.delta{delta:g}", kind="check",
            statement=(f"D={cfg.synthetic_D:,} paraboloids with {fam} curvatures, coordinates moved by ±{delta:g}: "
                       f"{keep or 'a light tail'} kept and {WRONG_FAMILY[fam]} rejected above the common x_min, "
                       f"for +δ and for −δ, in each of {len(outcomes)} landscapes{mixture}"),
            paper=keep or f"not {WRONG_FAMILY[fam]}", measured={o: outcomes.count(o) for o in sorted(set(outcomes))},
            rule="planted_recovered", outcomes=outcomes,
            detail={"survivors": [[list(t.survivors) for t in pair] for pair in syn["tests"]],
                    "alpha_mle": [[t.alpha for t in pair] for pair in syn["tests"]],
                    "at_bound": [[t.at_bound for t in pair] for pair in syn["tests"]]}))
    return out


def reproduce(profile=None, device=None, progress=True):
    cfg = chapter_config(PROFILES, profile)
    return summarize(sys.modules[__name__], run(cfg, device, progress), profile, device, save=False)


# --------------------------------------------------------------------------------------------------
# figures (each redraws from results; nothing is recomputed)
# --------------------------------------------------------------------------------------------------
def widget_controls(res: RuggednessResults, cfg: RuggednessConfig) -> dict:
    """The interactive demo's controls (first value = default)."""
    eps = res.eps_values()
    return {"plot_perturbations": {"eps": [max(cfg.eps)] + [e for e in eps if e != max(cfg.eps)],
                                   "epoch": list(cfg.epochs[::-1]), "layer": ["all", *res.layer_names],
                                   "scale": ["auto", "semilog", "loglog"]},
            "plot_parameters": {"layer": ["all", *res.layer_names], "absolute": [True, False]},
            "plot_synthetic": {"delta": list(cfg.synthetic_delta)}}


def _select(res: RuggednessResults, epoch, eps, layer) -> tuple[np.ndarray, int, float]:
    epoch = res.cfg.epochs[-1] if epoch is None else epoch
    eps = min(res.eps_values(epoch), key=lambda e: abs(e - (eps if eps is not None else 0.01)))
    dL = res.scans[(epoch, eps)]
    if layer not in (None, "all"):
        li = res.layer_names.index(layer) if isinstance(layer, str) else int(layer)
        dL = dL[:, res.trials.layer == li]
    return dL, epoch, eps


def plot_perturbations(res: RuggednessResults, *, eps: float | None = None, epoch: int | None = None,
                       layer: str | int | None = "all", scale: str = "auto", ax=None):
    """Distribution of |ΔL| for +ε and −ε (Fig 4 B–E): semi-log with the MLE exponential for small ε,
    log-log with the MLE power law for large ε (``scale="auto"``: semi-log below ε = 0.1).  The fitted
    lines are those of all layers pooled, above the common x_min (dotted).  At an earlier ``epoch`` only the
    paper's two ε were scanned: the nearest is shown."""
    dL, epoch, eps = _select(res, epoch, eps, layer)
    t = res.fits[(epoch, eps)].test
    fig, ax = axes(ax)
    semilog = eps < 0.1 if scale == "auto" else scale == "semilog"
    pooled = np.abs(dL).ravel()
    pooled = pooled[pooled > 0]
    top = np.quantile(pooled, 0.999) if pooled.size else 1.0
    for row, sign, col in zip(dL, ("+ε", "−ε"), (PALETTE["stage1"], PALETTE["stage2"])):
        v = np.abs(row[row != 0])
        if v.size < 2:
            continue
        if semilog:
            counts, edges = np.histogram(v, bins=30, range=(0, top))
            mid = 0.5 * (edges[1:] + edges[:-1])
            keep = counts > 0
            ax.semilogy(mid[keep], counts[keep] / (v.size * np.diff(edges)[keep]), "o", ms=3, color=col, label=sign)
        else:
            x, p = fitting.log_binned_density(v)
            ax.loglog(x, p, "o", ms=3, color=col, label=sign)
    share = 1 - res.cfg.tail_quantile          # the tail above x_min holds this share of the values
    if semilog:
        xs = np.linspace(t.xmin, max(top, t.xmin), 50)
        ax.semilogy(xs, share * t.exp_rate * np.exp(-t.exp_rate * (xs - t.xmin)), "-", color=PALETTE["fit"],
                    label=f"MLE exponential above x_min, rate {t.exp_rate:.3g}")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    else:
        xs = np.geomspace(t.xmin, max(pooled.max() if pooled.size else 1.0, t.xmin * 1.01), 20)
        ax.loglog(xs, share * (t.alpha - 1) / t.xmin * (xs / t.xmin) ** -t.alpha, "-", color=PALETTE["fit"],
                  label=f"MLE power law α={t.alpha:.2f}{' (on its bound)' if t.at_bound else ''}")
    ax.axvline(t.xmin, color=PALETTE["null"], ls=":", lw=0.8)
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
        plot_perturbations(res, eps=eps_small, epoch=ep, ax=axs[0, j])
        plot_perturbations(res, eps=eps_big, epoch=ep, ax=axs[1, j])
    return fig


def plot_parameters(res: RuggednessResults, *, layer: str = "all", absolute: bool = True, ax=None):
    """Fig S15: distribution of the trained parameters (last checkpoint), with the two ε of the paper
    marked — the scale against which "small" and "large" perturbations are meant."""
    fig, ax = axes(ax)
    names = res.layer_names if layer == "all" else [layer]
    for k, name in enumerate(names):
        v = res.params[name]
        if absolute:
            v = np.abs(v[v != 0])
            bins = np.geomspace(v.min(), v.max(), 50)
            ax.set_xscale("log")
        else:
            bins = 60
        ax.hist(v, bins=bins, histtype="step", density=True, label=f"{name}: {len(res.params[name]):,}")
    for e in res.cfg.eps:
        for sgn in ((1,) if absolute else (1, -1)):
            ax.axvline(sgn * e, color=PALETTE["fit"], ls="--", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("|θ| (trained parameter)" if absolute else "θ (trained parameter)")
    ax.set_ylabel("density")
    ax.set_title(f"parameters after {res.cfg.epochs[-1]} epochs; dashed: ε = "
                 + ", ".join(f"{e:g}" for e in res.cfg.eps), fontsize=9)
    ax.legend(fontsize=6)
    return fig


def plot_transition(res: RuggednessResults, ax=None):
    """Across ε (last epoch): per-sample log-likelihood ratios of the power law against the
    exponential and the log-normal (> 0 favours the power law) — where the landscape turns rugged."""
    fig, ax = axes(ax)
    ep = res.cfg.epochs[-1]
    eps = res.eps_values(ep)
    for key, label, col in (("power_law_vs_exponential", "power law vs exponential", PALETTE["stage1"]),
                            ("power_law_vs_lognormal", "power law vs log-normal", PALETTE["stage2"])):
        for k, (sign, mk) in enumerate((("+ε", "o-"), ("−ε", "s--"))):
            r = [res.fits[(ep, e)].signs[k].comparisons[key][0] / res.fits[(ep, e)].signs[k].n_tail for e in eps]
            ax.semilogx(eps, r, mk, color=col, mfc="none" if k else col, label=f"{label}, {sign}")
    ax.axhline(0, color=PALETTE["null"], lw=0.8)
    for e in eps:
        surv = [x for x in FAMILIES if all(x in t.survivors for t in res.fits[(ep, e)].signs)]
        ax.annotate("/".join(x.replace("_law", "") for x in surv), (e, 0), fontsize=6, rotation=90,
                    xytext=(0, 4), textcoords="offset points", ha="center")
    ax.set_xlabel("perturbation ε")
    ax.set_ylabel("log-likelihood ratio per tail sample")
    ax.set_title(f"which family fits |ΔL| ({ep} epochs); text: families rejected for neither sign", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot_synthetic(res: RuggednessResults, *, delta: float | None = None, ax=None):
    """Figs S16–S18: |Δf| of the synthetic paraboloids (replicate 0), semi-log (top) and log-log
    (bottom), titled with the outcome of the validation.  Draws its own grid (``ax`` must be None)."""
    if ax is not None:
        raise ValueError("plot_synthetic draws a grid of panels; call it with ax=None")
    delta = res.cfg.synthetic_delta[0] if delta is None else delta
    fams = landscape.CURVATURE_FAMILIES
    fig, axs = plt.subplots(2, len(fams), figsize=(3.3 * len(fams), 5.6), constrained_layout=True)
    for j, fam in enumerate(fams):
        syn = res.synthetic[(fam, delta)]
        v = syn["values"].ravel()
        v = v[v > 0]
        counts, edges = np.histogram(v, bins=40, range=(0, np.quantile(v, 0.999)))
        keep = counts > 0
        axs[0, j].semilogy(0.5 * (edges[1:] + edges[:-1])[keep], counts[keep] / (v.size * np.diff(edges)[keep]),
                           "o", ms=3, color=PALETTE["stage2"])
        x, p = fitting.log_binned_density(v)
        axs[1, j].loglog(x, p, "o", ms=3, color=PALETTE["stage2"])
        t = syn["tests"][0][0]
        for a in axs[:, j]:
            a.axvline(t.xmin, color=PALETTE["null"], ls=":", lw=0.8)
            a.set_xlabel("|Δf| (function change)")
        axs[0, j].set_title(f"planted: {fam}, δ={delta:g}\nnot rejected (+δ): {', '.join(t.survivors)}\n"
                            f"→ {landscape_outcome(syn['tests'][0], fam, delta)} (both signs)",
                            fontsize=8)
        axs[0, j].set_ylabel("density (semi-log)")
        axs[1, j].set_ylabel("density (log-log)")
    return fig


def fit_table(res: RuggednessResults) -> str:
    """One line per (epoch, ε) and the sensitivity setting: zero fraction, common x_min, tail size, MLE α
    (flagged on its bound), likelihood ratios (R, p), the families not rejected, and the paper-style
    least-squares readings."""
    lines = [f"{'inputs':6} {'epoch':>5} {'eps':>5} {'sign':>4} {'zeros':>6} {'x_min':>8} {'n_tail':>6} {'alpha':>7} "
             f"{'R pl-exp (p)':>16} {'R pl-ln (p)':>16} {'R ln-exp (p)':>16}  {'not rejected':30} "
             f"{'LS semilog r2':>13} {'LS loglog a (r2)':>16}"]
    rows = [(res.cfg.normalize, ep, eps, f) for (ep, eps), f in sorted(res.fits.items())]
    rows += [(res.cfg.sensitivity_normalize, res.cfg.epochs[-1], eps, f) for eps, f in sorted(res.sensitivity.items())]
    for norm, ep, eps, f, sign, t in [(*r, sg, t) for r in rows for sg, t in zip("+-", r[3].signs)]:

        def rp(k):
            return f"{t.comparisons[k][0]:8.1f} ({t.comparisons[k][1]:.2g})"
        lines.append(f"{norm:6} {ep:>5} {eps:>5g} {sign:>4} {f.zero_fraction:>6.1%} {t.xmin:>8.2g} {t.n_tail:>6} "
                     f"{t.alpha:>6.2f}{'*' if t.at_bound else ' '} {rp('power_law_vs_exponential'):>16} "
                     f"{rp('power_law_vs_lognormal'):>16} {rp('lognormal_vs_exponential'):>16}  "
                     f"{'/'.join(t.survivors):30} {f.ls_semilog.r2:>13.3f} "
                     f"{-f.ls_loglog.slope:>8.2f} ({f.ls_loglog.r2:.3f})")
    return "\n".join(lines + ["(* the exponent sits on its search bound)"])


def synthetic_table(res: RuggednessResults) -> str:
    """Per planted family and δ: each landscape's outcome (both signs), families not rejected and MLE α (+δ | −δ)."""
    lines = [f"{'planted':12} {'delta':>6}  outcome: not rejected, MLE power-law alpha (+δ | −δ, per landscape)"]
    for (fam, delta), syn in res.synthetic.items():
        reps = "; ".join(f"{landscape_outcome(pair, fam, delta)}: " + " | ".join(
            f"{'/'.join(t.survivors)}, α={t.alpha:.2f}{'*' if t.at_bound else ''}" for t in pair) for pair in syn["tests"])
        lines.append(f"{fam:12} {delta:>6g}  {reps}")
    return "\n".join(lines)
