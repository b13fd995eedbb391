"""Perturbation scans: the fast scan equals the naive full-forward reference; synthetic landscapes."""
import copy

import numpy as np
import pytest
import torch

from critnotes.analysis import landscape
from critnotes.analysis.losses import loss_per_sample
from critnotes.book.chapters.ruggedness import both_signs, family_test, fit_scan, landscape_outcome, planted_recovered
from critnotes.training.models import build_model


@pytest.fixture(scope="module")
def setup():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(300, 1, 28, 28, generator=g)
    x[:, :, :4] = 0.0                                   # zero 'border pixels' like MNIST: exact-zero ΔL
    y = torch.randint(0, 10, (300,), generator=g)
    return build_model("mlp-small", seed=3), x, y


@pytest.mark.parametrize("eps", [0.01, 1.0, -0.3])
def test_smart_scan_equals_naive(setup, eps):
    model, x, y = setup
    trials = landscape.random_trials(model, 12, seed=1)
    fast = landscape.scan(model, x, y, eps, trials, max_rows=700)    # several chunks per layer
    ref = landscape.scan_naive(model, x, y, eps, trials)
    assert fast.shape == ref.shape == (2, len(trials))
    np.testing.assert_allclose(fast, ref, rtol=1e-9, atol=1e-12)
    assert np.abs(ref).max() > 0


def test_scan_other_activation_and_loss():
    model = build_model("mlp", hidden=(7, 5), activation="tanh", seed=1)
    x, y = torch.randn(50, 1, 28, 28), torch.randint(0, 10, (50,))
    trials = landscape.random_trials(model, 20, seed=2)
    np.testing.assert_allclose(landscape.scan(model, x, y, 0.5, trials, loss="mse"),
                               landscape.scan_naive(model, x, y, 0.5, trials, loss="mse"), rtol=1e-9, atol=1e-13)


def test_hand_computed_last_layer_bias():
    """A bias of the output layer changes one logit by ε for every sample: ΔL is the mean CE change."""
    model = build_model("mlp", hidden=(4,), seed=0)
    x, y = torch.rand(10, 1, 28, 28), torch.arange(10)
    lin = model.linears[-1]
    k = lin.weight.numel() + 3                          # bias of class 3
    trials = landscape.Trials(np.array([1]), np.array([k]))
    with torch.no_grad():
        logits = copy.deepcopy(model).double()(x.double())
        base = torch.nn.functional.cross_entropy(logits, y)
        logits[:, 3] += 0.2
        expect = float(torch.nn.functional.cross_entropy(logits, y) - base)
    assert landscape.scan(model, x, y, 0.2, trials, signs=(1,))[0, 0] == pytest.approx(expect, rel=1e-10)


def test_random_trials_caps_small_layers():
    model = build_model("mlp-small")
    t = landscape.random_trials(model, 5000, seed=0)
    sizes = np.bincount(t.layer)
    assert sizes.tolist() == [5000, 2550, 2550, 2550, 510]    # 50·50+50 = 2550 params; output layer 510
    assert len(t) == 5000 + 3 * 2550 + 510                      # not the paper's 25,000
    for li in range(5):
        idx = t.index[t.layer == li]
        assert len(np.unique(idx)) == len(idx)


@pytest.mark.parametrize("family", landscape.CURVATURE_FAMILIES)
def test_synthetic_landscape_recovers_planted_family(family):
    """Above the common x_min, for each sign on its own, the planted family survives and the wrong one is
    rejected (decisive); at δ = 10 every family, exponential included."""
    vals = landscape.synthetic_scan(landscape.synthetic_curvatures(family, 30_000, seed=4), 10.0, seed=4)
    tests = [family_test(row) for row in vals]
    assert landscape_outcome(tests, family, delta=10.0) == "decisive", (family, [t.survivors for t in tests])
    if family == "power_law":      # a bounded factor |2xδ ± δ²| keeps the planted tail exponent
        assert all(t.alpha == pytest.approx(2.5, abs=0.15) and not t.at_bound for t in tests)


def test_small_delta_exponential_curvatures_need_only_reject_the_power_law():
    """Audit: at δ = 0.1, |Δf| = c·|2xδ ± δ²| is a mixture of exponentials; at D = 1e5 the log-normal beats the
    exponential and the old check 'failed' by construction.  Only the power law must be rejected there."""
    vals = landscape.synthetic_scan(landscape.synthetic_curvatures("exponential", 100_000, seed=0), 0.1, seed=0)
    tests = [family_test(row) for row in vals]
    assert all("power_law" not in t.survivors for t in tests)
    assert landscape_outcome(tests, "exponential", delta=0.1) == "decisive"


def test_signs_are_tested_separately():
    """Audit: |ΔL(+ε)| and |ΔL(−ε)| of one parameter are nearly equal, so pooling counts each parameter
    twice (Vuong's z × √2).  fit_scan tests each sign on its own; both must agree."""
    rng = np.random.default_rng(0)
    e = rng.exponential(1.0, 4000)
    same = fit_scan(np.stack([e, -e * (1 + 1e-3 * rng.standard_normal(4000))]))
    assert [t.n_tail for t in same.signs] == [400, 400] and same.test.n_tail == 800
    pooled_p = same.test.comparisons["power_law_vs_exponential"][1]
    assert all(t.comparisons["power_law_vs_exponential"][1] >= pooled_p for t in same.signs)
    mixed = fit_scan(np.stack([e, landscape.synthetic_curvatures("power_law", 4000, seed=1)]))
    v = both_signs(*(x for t in mixed.signs for x in (t.favoured, t.decisive)), expected="exponential")
    assert v.verdict == "inconclusive"
    assert both_signs("exponential", True, "exponential", True, "exponential").verdict == "agrees"
    assert both_signs("power_law", True, "power_law", True, "exponential").verdict == "differs"
    assert both_signs("exponential", True, "exponential", False, "exponential").verdict == "inconclusive"
    with pytest.raises(ValueError, match="rows"):
        fit_scan(e)


def test_validation_can_fail():
    """The check says 'failed' when the planted family loses: exponential data judged as a planted power law."""
    vals = landscape.synthetic_scan(landscape.synthetic_curvatures("exponential", 30_000, seed=5), 10.0, seed=5)
    assert landscape_outcome([family_test(row) for row in vals], "power_law") == "failed"
    assert planted_recovered(["decisive", "failed"]).verdict == "differs"
    assert planted_recovered(["decisive", "undecided"]).verdict == "inconclusive"
    with pytest.raises(ValueError, match="non-zero values"):
        family_test(np.zeros(1000))


def test_loss_per_sample_ce_equals_torch():
    z, y = torch.randn(500, 10, dtype=torch.float64) * 4, torch.randint(0, 10, (500,))
    np.testing.assert_allclose(loss_per_sample("ce", z, y).numpy(),
                               torch.nn.functional.cross_entropy(z, y, reduction="none").numpy(), rtol=1e-12, atol=1e-13)


def test_synthetic_scan_is_exact():
    c = np.array([2.0, -1.0])
    v = landscape.synthetic_scan(c, 0.5, seed=0)
    x = np.random.default_rng(1).uniform(-1, 1, 2)
    np.testing.assert_allclose(v[0], np.abs(c * ((x + 0.5) ** 2 - x ** 2)))
    np.testing.assert_allclose(v[1], np.abs(c * ((x - 0.5) ** 2 - x ** 2)))


def test_bad_input(setup):
    model, x, y = setup
    trials = landscape.random_trials(model, 2)
    with pytest.raises(ValueError, match="eps"):
        landscape.scan(model, x, y, 0.0, trials)
    with pytest.raises(TypeError, match="MLP"):
        landscape.scan(build_model("cnn", in_shape=(3, 32, 32)), x, y, 0.1, trials)
    with pytest.raises(ValueError, match="curvature family"):
        landscape.synthetic_curvatures("cauchy", 10)
    with pytest.raises(ValueError, match="layers"):
        landscape.scan(model, x, y, 0.1, landscape.Trials(np.array([9]), np.array([0])))
