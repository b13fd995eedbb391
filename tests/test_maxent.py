"""Chapter `maxent`: summaries on hand-made records, rules that can fail, and the results contract on ci."""
import numpy as np
import pytest
import torch

from critnotes.analysis import information as inf
from critnotes.book.chapters import maxent as ch
from critnotes.probes.information_probes import KLRecord


def _record(kl, quad, fim, norm=None):
    n = len(kl)
    radii = np.array([[0.1, 1.0, 10.0]])
    return KLRecord(np.arange(n), np.array(kl), np.array(quad), np.ones(n) if norm is None else np.array(norm),
                    np.array([0]), radii, np.array([[1e-4, 1e-2, 1.0]]), np.array([[1e-4, 1e-2, 1.0]]),
                    np.array([fim]), np.array([0]), np.array([1.0]), np.array([1.0]), np.array([1.0]))


def test_kl_agreement_and_scan_slope_hand_computed():
    rec = _record([1.0, 2.0, 4.4], [1.0, 2.2, 4.0], [3.0, 3.0, 3.0])
    a = ch.kl_agreement(rec.kl, rec.quad)
    assert np.isclose(a.median_rel_err, 1 - 2 / 2.2)                 # median of 0, 0.0909, 0.1
    assert a.ci[0] <= a.median_rel_err <= a.ci[1]
    s = ch.scan_slope(rec)
    assert np.isclose(s.slope, 0.0) and s.decades == pytest.approx(1.0)      # r = 1 … 10 × |Δw|


def test_update_slope_recovers_planted_scaling_within_bursts():
    """Within-burst slopes: a planted slope 0 (Eq 4) or 2 (constant F) comes back; a level that differs between
    bursts (F grows with the gradient along training) does not leak into the slope, as it would in one pooled regression."""
    shift = np.repeat([1.0, 10.0, 100.0, 1000.0], 10)                # later bursts: larger updates …
    norm = np.tile(np.geomspace(1e-3, 1e-1, 10), 4) * shift
    steps = np.concatenate([a + np.arange(10) for a in (0, 100, 200, 300)])
    level = shift ** 4                                                # … and a larger F (F ≈ E[ggᵀ])
    for k in (0.0, 2.0):
        rec = _record(np.ones(40), level * norm ** k, [1.0, 1.0, 1.0], norm=norm)
        rec.steps, rec.multi_steps = steps, np.array([0, 100, 200, 300])
        s = ch.update_slope(rec)
        assert s.slope == pytest.approx(k, abs=1e-9) and s.n == 4 and s.decades == pytest.approx(2.0)
        assert ch.eq4_slope(s.slope, s.ci, s.decades).verdict == ("agrees" if k == 0 else "differs")
    pooled = np.polyfit(np.log(norm), np.log(level * norm ** 0), 1)[0]
    assert abs(pooled) > 0.5                                          # what the pooled fit would have said
    assert ch.eq4_slope(0.0, (-0.1, 0.1), 0.5).verdict == "inconclusive"   # less than a decade
    assert "above" in ch.eq4_slope(5.0, (4.0, 6.0), 2.0).reason               # a slope > 2 is not "towards 2"


def test_scan_slope_splits_within_and_beyond_the_update():
    """r ≤ |Δw|: slope 2 (smoothness) and r ≥ |Δw|: slope 0 are read separately from one scan."""
    rec = _record([1.0], [1.0], [1e-2, 1.0, 1.0])                      # r = 0.1, 1, 10 × |Δw|
    within, beyond = ch.scan_slope(rec, "within"), ch.scan_slope(rec, "beyond")
    assert within.slope == pytest.approx(2.0) and beyond.slope == pytest.approx(0.0)
    assert within.decades == pytest.approx(1.0) and beyond.decades == pytest.approx(1.0)
    with pytest.raises(ValueError, match="within"):
        ch.scan_slope(rec, "all")


@pytest.mark.parametrize("n_batches", [40, 300, 1000])
def test_gaussian_shape_does_not_flip_with_the_batch_count(n_batches):
    """t(20)-shaped noise (normaltest rejects more often the more batches) is judged Gaussian at every batch
    count; skewed (exponential) noise differs at every batch count."""
    rng = np.random.default_rng(n_batches)
    for sample, want in ((rng.standard_t(20, size=(n_batches, 300)), "agrees"),
                         (rng.exponential(size=(n_batches, 300)), "differs")):
        g = inf.gaussianity(sample)
        v = ch.gaussian_shape(float(np.median(np.abs(g.skew))), float(np.median(g.kurtosis)), n_batches)
        assert v.verdict == want, (n_batches, v)
    assert ch.gaussian_shape(0.1, 0.1, n_batches=20).verdict == "inconclusive"


def test_solver_rule_needs_convergence():
    assert ch.solver_matches(1e-4, converged=False, tol=0.01).verdict == "inconclusive"
    assert ch.solver_matches(1e-4, converged=True, tol=0.01).verdict == "agrees"


def test_quadratic_form_fails_far_from_the_update():
    """KL ≈ ½ΔwᵀFΔw holds for a small step and fails for a step 300× larger: the check can fail."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    f = inf.logits_fn(net)
    th = torch.nn.utils.parameters_to_vector(net.parameters()).detach()
    x = torch.randn(64, 5)
    u = torch.randn_like(th)
    u /= u.norm()
    kl = lambda r: inf.output_kl(f, th, th + r * u, x)                   # noqa: E731
    q = lambda r: 0.5 * r * r * inf.fisher_quadratic(f, th, x, u)       # noqa: E731
    small, big = ch.kl_agreement([kl(1e-3)], [q(1e-3)]), ch.kl_agreement([kl(30.0)], [q(30.0)])
    assert small.median_rel_err < 0.01 and big.median_rel_err > 0.5
    from critnotes.book.verdicts import exceeds
    assert exceeds(big.median_rel_err, 0.1, above=False).verdict == "differs"


def test_reproduce_ci_follows_results_contract():
    res = ch.reproduce("ci", progress=False)
    c = {x.id: x for x in res.claims}
    assert {"maxent.alpha_equals_lambda_kappa", "maxent.kl_quadratic.b50", "maxent.fim_scaling_updates.b50",
            "maxent.fim_scaling_within.b50", "maxent.kl_quadratic_limits.b50",
            "maxent.gradient_noise_gaussian.b50.t0.inputs_none"} <= set(c)
    assert c["maxent.alpha_equals_lambda_kappa"].kind == "check"
    assert c["maxent.alpha_equals_lambda_kappa"].verdict == "agrees"      # the converged solver finds α = λκ
    assert c["maxent.kl_quadratic.b50"].kind == "check" and c["maxent.fim_scaling.b50"].kind == "reproduction"
    assert c["maxent.kl_quadratic_limits.b50"].kind == "finding"
    assert c["maxent.fim_scaling_within.b50"].kind == "check"
    assert c["maxent.gradient_noise_gaussian.b50.t0.inputs_none"].kind == "finding"       # sensitivity row
    assert c["maxent.gradient_noise_gaussian.b50.t0"].rule == "gaussian_shape"
    assert f"{ch.PROFILES['ci'].noise_batches} mini-batches" in c["maxent.gradient_noise_gaussian.b50.t0"].statement
