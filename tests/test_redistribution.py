"""The critical redistribution model (chapter 9, paper 003 Fig 4j–k)."""
import numpy as np
import pytest

from critnotes.analysis import redistribution as rd

SMALL = rd.RedistributionConfig(n_neurons=30, n_matrices=40, sweeps=25, seed=1)


def test_total_weight_is_conserved_and_nonnegative():
    w = rd.simulate(rd.RedistributionConfig(p_c=0.6, n_neurons=10, n_matrices=5, sweeps=3))
    assert w.shape == (5, 90)
    assert np.all(w >= 0)
    np.testing.assert_allclose(w.sum(1), 90.0, rtol=1e-9)


def test_random_redistribution_has_no_heavy_tail():
    # P_C = 0: every piece lands uniformly -> weights stay near the mean (max far below a power law's)
    w = rd.simulate(rd.RedistributionConfig(p_c=0.0, n_neurons=20, n_matrices=10, sweeps=10))
    assert w.max() < 15 * w.mean()


def test_stationary_tail_follows_mean_field_exponent():
    # mean-field theory (Lynn, Holmes & Palmer): alpha = 1 + 1/P_C; P_C = 0.5 -> 3
    fit = rd.stationary_alpha(rd.simulate(SMALL.__class__(**{**SMALL.__dict__, "p_c": 0.5})))
    assert abs(fit.alpha - 3.0) < 0.5
    w_strong = rd.simulate(SMALL.__class__(**{**SMALL.__dict__, "p_c": 0.9}))
    w_weak = rd.simulate(SMALL.__class__(**{**SMALL.__dict__, "p_c": 0.3}))
    assert w_strong.max() > w_weak.max()      # more preferential placement -> heavier tail


def test_alpha_vs_pc_fits_a_line_in_inverse_pc():
    out = rd.alpha_vs_pc((0.3, 0.5, 0.9), SMALL, n_fit=50_000)
    assert out.alpha[0] > out.alpha[-1]
    assert 0.5 < out.slope < 1.5              # theory slope 1
    assert out.slope_se > 0 and not out.at_bound.any()
    assert set(out.weights) == {0.3, 0.5, 0.9} and "weights" not in out.as_dict()
    # the paper's form α = 1 + b/P_C: least squares through (1/P_C, α − 1) by hand
    x, y = 1 / out.p_c, out.alpha - 1
    assert out.slope_fixed == pytest.approx(x @ y / (x @ x)) and out.slope_fixed_se > 0


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="p_c"):
        rd.simulate(rd.RedistributionConfig(p_c=1.5))
    with pytest.raises(ValueError, match="two P_C"):
        rd.alpha_vs_pc((0.1, 0.5), rd.RedistributionConfig(n_neurons=5, n_matrices=2, sweeps=1))
