"""Chapter 1 (heavy-tailed updates): the analysis on a tiny config."""
import math

import numpy as np
import pytest

from critnotes.analysis import fitting
from critnotes.analysis.update_stats import bin_edges
from critnotes.book.chapters import updates as ch
from critnotes.book.profiles import chapter_config
from critnotes.training.data import load_dataset

TINY = ch.UpdatesConfig(models=("mlp-small",), variations=("adam",), stage_scale=0.004, late_stage=False,
                        n_train=512, n_test=128, cifar_download=False)


@pytest.fixture(scope="module")
def tiny():
    return ch.run(TINY, progress=False)


def test_claims_have_finite_measured_values(tiny):
    claims = {c.id: c for c in ch.claims(tiny)}
    assert set(claims) == {"updates.alpha.mlp_small.stage1", "updates.alpha.mlp_small.stage2",
                           "updates.alpha_stable.mlp_small", "updates.adam_cutoff"}
    for stage in ("stage1", "stage2"):
        c = claims[f"updates.alpha.mlp_small.{stage}"]
        assert math.isfinite(c.measured) and c.measured > 1
        assert c.agrees == (3 <= c.measured <= 5 and not c.detail["favoured"] in ("lognormal", "exponential"))
        assert c.detail["xmin"] > 0 and 0 < c.detail["tail_fraction"] <= 1 and c.detail["standin"] is False
    adam = claims["updates.adam_cutoff"]
    # Adam's step is bounded (a hard cutoff); the measured value is a bin's upper edge (bins are 2^(1/8) wide)
    assert 0 < adam.measured["max_update_over_lr"] <= ch.ADAM_BOUND * 2 ** (1 / 8)
    assert ch.fit_table(tiny).count("\n") == 4


def test_windows_scale_and_histograms_are_complete(tiny):
    r = tiny.runs["mlp-small"]
    assert r.windows == ((0, 40), (80, 120)) and r.train_cfg.steps == 120
    for w, (a, b) in enumerate(r.windows):
        assert r.stats.n_updates(w) == r.n_params * (b - a)
    assert ch.stage_windows(ch.UpdatesConfig(stage_scale=0.1), "mlp-small")[-1] == (8000, 9000)
    assert ch.stage_windows(chapter_config(ch.PROFILES, "paper"), "mlp-large") == ch.PAPER_STAGES


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
    claims = ch.claims(res)
    assert claims and all(c.agrees is None and "STAND-IN" in c.statement for c in claims)


def test_bad_names_are_clear_errors(tiny):
    with pytest.raises(ValueError, match="unknown variation.*'batch-3'.*choose from"):
        ch.run(ch.UpdatesConfig(variations=("batch-3",)), progress=False)
    with pytest.raises(ValueError, match="unknown model"):
        ch.run(ch.UpdatesConfig(models=("resnet",)), progress=False)
    with pytest.raises(ValueError, match="no run 'cnn'"):
        ch.plot_distribution(tiny, "cnn")
