"""Concentration statistics and the quasi-thermal entropy (critnotes.analysis.loss_concentration, chapter 7)."""
import math

import numpy as np
import pytest
from scipy import optimize

from critnotes.analysis import loss_concentration as conc


def bernoulli_kl(a, q):
    return a * math.log(a / q) + (1 - a) * math.log((1 - a) / (1 - q))


@pytest.mark.parametrize("level", [0.3, 1.2, 1.9])
def test_delta_s_two_valued_closed_form(level):
    # losses 0.1 (30 %) and 2.0 (70 %): the tilt reaching mean `level` puts weight a on the high value,
    # ΔS = ln N − S(p_β) = KL(Bernoulli(a) ‖ Bernoulli(0.7)) with a = (level − 0.1)/1.9
    x = np.array([0.1] * 300 + [2.0] * 700)
    tl = conc.tilt(x, level)
    a = (level - 0.1) / 1.9
    assert tl.delta_s == pytest.approx(bernoulli_kl(a, 0.7), rel=1e-8)
    assert tl.entropy == pytest.approx(math.log(x.size) - tl.delta_s, rel=1e-10)
    # β > 0 lowers the mean, β < 0 raises it
    assert np.sign(tl.beta) == np.sign(x.mean() - level)


def test_delta_s_is_the_legendre_transform():
    rng = np.random.default_rng(1)
    x = rng.lognormal(-1, 1, 5000)
    level = x.mean() + 0.2
    res = optimize.minimize_scalar(lambda t: -(t * level - np.log(np.mean(np.exp(t * x)))), bounds=(0, 5),
                                   method="bounded", options={"xatol": 1e-10})
    assert conc.tilt(x, level).delta_s == pytest.approx(-res.fun, rel=1e-6)


def test_small_deviation_is_gaussian_rate():
    rng = np.random.default_rng(2)
    x = rng.gamma(4.0, 0.5, 20000)
    b = 1e-3
    tl = conc.quasi_thermal_entropy(x, b)
    assert tl.delta_s == pytest.approx(b ** 2 / (2 * x.var()), rel=1e-2)


def test_unreachable_level_is_infinite_and_spline_filled():
    x = np.array([0.0, 0.001, 0.002])
    assert conc.quasi_thermal_entropy(x, 5e-3).delta_s == math.inf
    steps = np.array([1, 2, 4, 8, 16, 32, 64])
    vals = np.exp(0.5 * np.log1p(steps))          # ΔS ∝ (1 + t)^0.5, last one unreachable
    vals[-1] = np.inf
    filled, was = conc.fill_by_spline(steps, vals)
    assert was.tolist() == [False] * 6 + [True]
    assert filled[-1] == pytest.approx(np.sqrt(65), rel=0.02)
    nan_kept, _ = conc.fill_by_spline(steps, np.where(steps == 2, np.nan, vals))
    assert np.isnan(nan_kept[1])


def test_eq1_bound_holds_by_sampling():
    rng = np.random.default_rng(3)
    x = rng.lognormal(-2, 1.5, 8000)
    chk = conc.batch_bound_check(x, b=0.1, batch_size=64, n_batches=20000)
    assert 0 < chk.p_with <= chk.bound < 1


def test_moments_and_concentration_curve():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    m = conc.loss_moments(x)
    assert m.mean == 2.5 and m.var == pytest.approx(1.25) and m.eps == pytest.approx(0.2)
    assert conc.concentration_curve(x, [0.5, 2.0, 4.0, 5.0]).tolist() == [1.0, 0.75, 0.25, 0.0]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="diverged"):
        conc.loss_moments([1.0, np.nan])
    with pytest.raises(ValueError, match=">= 0"):
        conc.tilt([-1.0, 2.0], 0.5)
    with pytest.raises(ValueError, match="b above the mean"):
        conc.quasi_thermal_entropy([1.0, 2.0], 0.0)


def test_family_switch_finds_planted_change():
    rng = np.random.default_rng(4)
    steps = [1, 10, 100, 1000]
    data = [rng.lognormal(0.8, 0.1, 3000), rng.lognormal(0.5, 0.1, 3000),
            1e-3 * (1 - rng.random(3000)) ** (-1 / 1.5), 1e-4 * (1 - rng.random(3000)) ** (-1 / 1.5)]
    assert conc.family_switch(steps, data).t_switch == 100


def test_turnaround_at_minimum_of_entropy():
    t = np.geomspace(10, 1e5, 30)
    mean = 2.0 * t ** -0.5
    ds = np.exp((np.log(t) - np.log(1e3)) ** 2 / 4)  # falls until t = 10³, then rises
    res = conc.turnaround_time(t, mean, ds)
    assert res.t == pytest.approx(1e3, rel=0.4)
    assert conc.turnaround_time(t, mean, 1 / t).t is None


def test_paper_boundary_and_fit():
    # φ takes ln γ: the U's minimum ln M = 2.5 sits at ln γ = −7.7
    assert conc.phi_paper(-7.7) == 2.5
    assert conc.boundary_distance(np.exp(3.0), np.exp(-7.7)) == pytest.approx(0.5)
    lg = np.repeat(np.linspace(-11, -4, 8), 6)
    lm = np.tile(np.linspace(2, 12, 6), 8)
    converged = lm > conc.phi_paper(lg)
    fit = conc.fit_boundary(lm, lg, converged)
    assert len(fit.points) >= 3
    assert fit.coef[0] > 0        # U-shaped
    # planted parabola through exact points: recovered, with standard errors ~ 0
    g = np.array([-10.0, -9.0, -8.0, -7.0, -6.0])
    exact = conc.fit_boundary(np.r_[conc.phi_paper(g) - 0.1, conc.phi_paper(g) + 0.1], np.r_[g, g], [False] * 5 + [True] * 5)
    assert np.allclose(exact.coef, [0.5, 7.7, 0.5 * 7.7 ** 2 + 2.5], atol=1e-6) and max(exact.coef_se) < 1e-6


def test_jump_threshold_splits_two_groups():
    vals = [-6.0, -5.0, -4.5, 7.0, 8.0, 8.5, 9.0, 10.0]
    assert conc.jump_threshold(vals) == pytest.approx(1.25)     # midway across the jump
    with pytest.raises(ValueError, match=">= 2 finite"):
        conc.jump_threshold([1.0, np.nan])


def test_pick_connections_skips_silent_neurons():
    c = np.full((5, 5), 0.3)
    np.fill_diagonal(c, 1.0)
    c[0, 3] = c[3, 0] = 0.8
    c[1, 4] = c[4, 1] = 0.01
    c[2, 2] = 0.0                    # silent hidden-1 neuron
    picks = conc.pick_connections(c, [3, 2, 0])
    assert picks.critical[:2] == (0, 0)        # hidden-1 neuron 0 → hidden-2 neuron 0 (column 3)
    assert picks.noncritical[:2] == (1, 1)


def test_delta_s_and_criterion_by_hand_on_two_losses():
    # L = (0, 1), level a = L̄ + b = 0.75: the tilt puts mass (1 − a, a) on the two samples, so
    # ΔS = ln 2 − S = ln 2 + a ln a + (1 − a) ln(1 − a) and 𝓛 = ln(L̄/ΔS) (paper 003 §2.2, Fig 2d)
    a = 0.75
    hand = math.log(2) + a * math.log(a) + (1 - a) * math.log(1 - a)
    assert conc.quasi_thermal_entropy([0.0, 1.0], 0.25).delta_s == pytest.approx(hand, rel=1e-9)
    ser = conc.criterion_series([1], [np.array([0.0, 1.0])], 0.25)
    assert ser.crit[0] == pytest.approx(math.log(0.5 / hand), rel=1e-9)


def test_delta_s_grows_as_losses_concentrate():
    # the paper's direction: a concentrated landscape (small spread) has a large rate ΔS at fixed b
    rng = np.random.default_rng(4)
    z = rng.standard_normal(5000)
    wide, narrow = (conc.quasi_thermal_entropy(1.0 + s * z - (s * z).min(), 0.05).delta_s for s in (0.3, 0.1))
    assert narrow > 2 * wide


def test_absolute_reading_gives_the_lower_tail_rate_below_the_mean():
    # relative=False and b < L̄: the tilt pulls the mean down to b (β > 0), the rate of P(L̂ ≤ b), not of L̂ ≥ b
    x = np.array([0.1] * 300 + [2.0] * 700)
    ser = conc.criterion_series([1], [x], 1.2, relative=False)
    a = (1.2 - 0.1) / 1.9
    assert ser.beta[0] > 0 and not ser.upper[0]
    assert ser.delta_s[0] == pytest.approx(bernoulli_kl(a, 0.7), rel=1e-8)
    assert conc.criterion_series([1], [x], 1.2, relative=True).upper[0]


def test_monotonic_trend_after_t_from():
    t = np.arange(1, 41)
    v = np.where(t < 10, t, -t).astype(float)        # rises first, then falls
    assert conc.monotonic_trend(t, v, 10).rho == pytest.approx(-1.0)
    assert conc.monotonic_trend(t, v, 10).n == 31
    assert conc.monotonic_trend(t, v, 0).rho > -1.0
    assert math.isnan(conc.monotonic_trend(t, v, 39).rho)


def test_free_energy_of_eq2():
    # 𝓕 = L̄ − λ (ln N − ΔS); λ = 0 is the mean loss, λ > 0 is refused
    assert conc.free_energy(0.5, 0.2, 100, -2.0) == pytest.approx(0.5 + 2.0 * (math.log(100) - 0.2))
    assert conc.free_energy(0.5, 0.2, 100, 0.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="λ ≤ 0"):
        conc.free_energy(0.5, 0.2, 100, 1.0)
