"""Chapter 1 (heavy-tailed updates): the analysis on a tiny config."""

from types import SimpleNamespace

import numpy as np
import pytest

from critnotes.analysis import fitting
from critnotes.analysis.update_stats import bin_edges
from critnotes.book.chapters import updates as ch
from critnotes.book.profiles import chapter_config
from critnotes.training.data import load_dataset

TINY = ch.UpdatesConfig(models=("mlp-medium",), variations=("adam",), stage_scale=0.004, late_stage=False,
                        n_train=512, n_test=128, cifar_download=False)


@pytest.fixture(scope="module")
def tiny():
    return ch.run(TINY, progress=False)


def test_claims_are_judged_by_registered_rules(tiny):
    claims = {c.id: c for c in ch.claims(tiny)}
    assert set(claims) == {"updates.alpha.mlp_medium.stage1", "updates.alpha.mlp_medium.stage2",
                           "updates.alpha_stable.mlp_medium", "updates.family.mlp_medium.stage1",
                           "updates.family.mlp_medium.stage2", "updates.adam_bound", "updates.adam_cutoff"}
    r = tiny.runs["mlp-medium"]
    for w, stage in enumerate(("stage1", "stage2")):
        c = claims[f"updates.alpha.mlp_medium.{stage}"]
        assert c.kind == "reproduction" and c.rule == "heavy_in_range" and "x_max/60" in c.statement
        (inp,) = c.detail["rule_inputs"]["stages"]
        lo, hi = inp["ci"]
        assert lo <= inp["alpha"] <= hi and inp["decades"] > 0     # the interval holds the paper-range estimate
        assert inp["alpha"] == r.paper_fits[w].alpha and inp["ks_alpha"] == r.fits[w].alpha
        assert claims[f"updates.family.mlp_medium.{stage}"].verdict is None
    stable = claims["updates.alpha_stable.mlp_medium"]
    assert stable.rule == "exponent_stable" and stable.detail["n_xmin"] >= 1
    bound, adam = claims["updates.adam_bound"], claims["updates.adam_cutoff"]
    assert bound.kind == "check" and bound.rule == "exceeds" and bound.verdict == "agrees"
    assert adam.rule == "power_law_cutoff" and adam.kind == "reproduction" and "Differences" in adam.statement
    # Adam's step is bounded (a hard cutoff); the measured value is a bin's upper edge (bins are 2^(1/8) wide)
    assert all(0 < x <= ch.ADAM_BOUND * 2 ** (1 / 8) for x in bound.detail["adam_max_update_over_lr"])
    assert tiny.runs["mlp-medium"].train_cfg.normalize == "pm1" and tiny.runs["mlp-medium"].train_cfg.lr == 0.1


def test_heavy_in_range_needs_both_heavier_than_exponential_and_3_to_5():
    ok = dict(ci=(3.6, 4.1), R_exp=900.0, p_exp=1e-9, decades=2.0)
    assert ch.heavy_in_range([ok]).verdict == "agrees"
    # sigmoid/Xavier-like: heavy-tailed but α far above 5 must not agree
    assert ch.heavy_in_range([ok, dict(ok, ci=(8.1, 9.7))]).verdict == "differs"
    assert ch.heavy_in_range([dict(ok, R_exp=-50.0)]).verdict == "differs"
    assert ch.heavy_in_range([dict(ok, p_exp=0.5)]).verdict == "inconclusive"
    assert ch.heavy_in_range([dict(ok, ci=(4.5, 5.5))]).verdict == "inconclusive"
    assert ch.heavy_in_range([dict(ok, decades=0.5)]).verdict == "inconclusive"
    assert ch.heavy_in_range([ok], standin=True).verdict == "not measured"
    # a fit on its search bound, or on < 1 decade, cannot differ either (the guards come first)
    assert ch.heavy_in_range([dict(ok, ci=(11.9, 12.0), at_bound=True)]).verdict == "inconclusive"
    assert ch.heavy_in_range([dict(ok, ci=(8.1, 9.7), decades=0.4)]).verdict == "inconclusive"
    assert ch.heavy_in_range([dict(ok, R_exp=-50.0, decades=0.4)]).verdict == "inconclusive"
    # full-batch (Fig S6): heavier than exponential only, whatever α
    assert ch.heavier_than_exponential([dict(ok, ci=(8.1, 9.7))]).verdict == "agrees"
    assert ch.heavier_than_exponential([dict(ok, R_exp=-50.0)]).verdict == "differs"


def _cutoff_inputs(x: np.ndarray) -> list[dict]:
    """power_law_cutoff's inputs for planted samples, through the chapter's own fits."""
    edges = bin_edges()
    counts = np.histogram(x, bins=edges)[0]
    e, c = ch.trim(edges, counts)
    f = fitting.fit_powerlaw_binned(e, c)
    run = ch.RunAnalysis(key="x", label="x", figure="", train_cfg=None, dataset="", standin=False, windows=((0, 1),),
                         stats=SimpleNamespace(histogram=lambda w: (edges, counts)), losses=None, diverged=False,
                         n_params=0, test_acc=0.0, n_test=0, n_train=0, n_classes=10, fits=[f], paper_fits=[None],
                         ls=[None], scans=[ch.alpha_vs_xmin(e, c)], errors=[None])
    return [{"x_max": ch.largest_update(edges, counts), "tails": ch.cutoff_tails(run, 0)}]


def test_two_pure_power_laws_are_not_a_cutoff():
    # the reviewer's counter-example to the old rule: a steeper power law "ends sooner" but is not cut off
    for alpha in (4.0, 6.0):
        pl = fitting.sample_pareto(alpha, 2_000_000, xmin=1e-4, seed=int(alpha))
        assert ch.power_law_cutoff(_cutoff_inputs(pl)).verdict == "differs"
    # the same α = 4 tail truncated well below where its largest draw would lie is a cutoff
    pl = fitting.sample_pareto(4.0, 2_000_000, xmin=1e-4, seed=4)
    assert ch.power_law_cutoff(_cutoff_inputs(pl[pl < 1e-3])).verdict == "agrees"


def test_exponent_stable_interval_and_guards():
    assert ch.exponent_stable(0.1, (-0.2, 0.4), decades=2.0).verdict == "agrees"
    assert ch.exponent_stable(0.1, (-0.2, 0.4), decades=0.5).verdict == "inconclusive"
    assert ch.exponent_stable(1.5, (1.1, 1.9), decades=2.0, at_bound=True).verdict == "inconclusive"
    assert ch.exponent_stable(0.1, (-0.9, 1.1), decades=2.0).verdict == "inconclusive"
    assert ch.exponent_stable(1.5, (1.1, 1.9), decades=2.0).verdict == "differs"


def test_paper_range_fit_recovers_a_planted_alpha():
    edges = bin_edges()
    x = fitting.sample_pareto(2.7, 2_000_000, xmin=1e-4, seed=5)
    counts = np.histogram(x, bins=edges)[0]
    f = ch.paper_range_fit(edges, counts, 60)
    e, _ = ch.trim(edges, counts)
    assert abs(np.log10(e[-1] / 60 / f.xmin)) < 0.05                # x_min at x_max / 60
    assert f.alpha == pytest.approx(2.7, abs=3 * f.alpha_se + 0.05)


def test_equal_tail_fraction_and_xmin_scan():
    edges = bin_edges()
    counts = np.histogram(fitting.sample_pareto(4.0, 200_000, xmin=1e-4, seed=3), bins=edges)[0]
    x, a, s = ch.alpha_vs_xmin(edges, counts)
    assert np.all(np.abs(a[x < 1e-3] - 4.0) < 5 * s[x < 1e-3] + 0.05)       # planted α at every x_min
    f = ch.fit_at_tail_fraction(edges, counts, 0.1)
    assert f.n_tail / f.n_total == pytest.approx(0.1, rel=0.3) and f.alpha == pytest.approx(4.0, abs=0.1)
    full = fitting.fit_powerlaw_binned(*ch.trim(edges, counts), xmin=f.xmin)
    assert a[x == f.xmin][0] == pytest.approx(full.alpha) and s[x == f.xmin][0] == pytest.approx(full.alpha_se)
    with pytest.raises(ValueError, match="fraction must lie in"):
        ch.tail_edge(edges, counts, 0.0)


def test_moderate_lr_rule_uses_binomial_errors():
    assert ch.moderate_lr_best([0.001, 0.1, 1.0], [0.90, 0.901, 0.2], 1000).verdict == "inconclusive"
    assert ch.moderate_lr_best([0.1, 1.0], [0.9, 0.8], 1000).verdict == "not measured"


def test_lr_sweep_reproduction_and_a_diverged_end():
    assert ch.heavy_at_moderate_lr("heavy", ["not heavy", "not heavy"]).verdict == "agrees"
    assert ch.heavy_at_moderate_lr("heavy", ["heavy", "not heavy"]).verdict == "differs"
    assert ch.heavy_at_moderate_lr("not heavy", ["not heavy", "not heavy"]).verdict == "differs"
    assert ch.heavy_at_moderate_lr("heavy", ["unclear", "not heavy"]).verdict == "inconclusive"
    r = SimpleNamespace(diverged=True, n_classes=10, test_acc=float("nan"))
    assert ch.sweep_accuracy(r) == pytest.approx(0.1) and ch._heavy_status(r) == "not heavy"


def test_windows_scale_and_histograms_are_complete(tiny):
    r = tiny.runs["mlp-medium"]
    assert r.windows == ((20, 40), (100, 120)) and r.train_cfg.steps == 120
    for w, (a, b) in enumerate(r.windows):
        assert r.stats.n_updates(w) == r.n_params * (b - a)
    assert ch.stage_windows(ch.UpdatesConfig(stage_scale=0.1), "mlp-small")[-1] == (2000, 3000)
    paper = chapter_config(ch.PROFILES, "paper")
    assert ch.stage_windows(paper, "mlp-large") == ch.PAPER_STAGES
    assert ch.stage_windows(paper, "mlp-medium") == ((5000, 10000), (25000, 30000), ch.PAPER_LATE)
    assert ch.train_config(paper, "mlp-medium").dataset == "mnist"
    assert ch.train_config(paper, "transformer-batch-8").batch_size == 8
    assert ch.train_config(paper, "transformer").batch_size == 8             # the authors' charac-transformer.py
    assert ch.train_config(paper, "mlp-medium").batch_size == 64
    assert ch.train_config(paper, "transformer").normalize == "none"


def test_fit_stage_recovers_a_planted_exponent():
    # |Δw| planted as a Pareto tail with alpha = 4, binned like the recorder does
    x = fitting.sample_pareto(4.0, 200_000, xmin=1e-4, seed=1).astype(np.float32)
    edges = bin_edges()
    counts = np.histogram(x, bins=edges)[0]
    fit, ls = ch.fit_stage(edges, counts)
    assert fit.alpha == pytest.approx(4.0, abs=0.1)
    assert ls is not None and 3 < -ls.slope < 5


def test_cifar_fallback_is_labelled(monkeypatch, tmp_path):
    monkeypatch.setenv("CRITNOTES_DATA", str(tmp_path))
    data = load_dataset("cifar10", download=False, fallback=True)
    assert data.standin and "STAND-IN" in data.description
    cfg = ch.UpdatesConfig(models=("cnn",), variations=(), stage_scale=0.0002, late_stage=False, n_train=128,
                           n_test=64, cifar_download=False)
    res = ch.run(cfg, progress=False)
    r = res.runs["cnn"]
    assert r.standin and r.dataset == "cifar10-standin"
    claims = [c for c in ch.claims(res) if c.kind != "finding"]
    assert claims and all(c.verdict == "not measured" and "STAND-IN" in c.statement for c in claims)


def test_bad_names_are_clear_errors(tiny):
    with pytest.raises(ValueError, match="unknown variation.*'batch-3'.*choose from"):
        ch.run(ch.UpdatesConfig(variations=("batch-3",)), progress=False)
    with pytest.raises(ValueError, match="unknown model"):
        ch.run(ch.UpdatesConfig(models=("resnet",)), progress=False)
    with pytest.raises(ValueError, match="no run 'cnn'"):
        ch.plot_distribution(tiny, "cnn")
