"""Marginal flux estimators and the 2-D Langevin toy (critnotes.analysis.probability_flux, chapter 8)."""
import numpy as np
import pytest

from critnotes.analysis import probability_flux as flux


def test_constant_drift_gives_its_speed():
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=20000)
    out = flux.marginal_flux(x0, x0 + 0.3 * 2.0, dt=2.0, n_bins=40)
    assert out.total == pytest.approx(0.3, rel=1e-9)
    # J(x) = v p(x): integrates to v, and its shape follows the density
    assert np.sum(out.J * np.diff(out.edges)) == pytest.approx(0.3, rel=1e-9)


def test_linear_decay_drift_recovered():
    # ẋ = −c x for every member: J(x) = −c x p(x), so ∫|J| dx = c ⟨x⟩ for x > 0
    rng = np.random.default_rng(1)
    x0 = rng.lognormal(0, 0.5, 50000)
    c, dt = 0.01, 0.1
    x1 = x0 * np.exp(-c * dt)
    out = flux.marginal_flux(x0, x1, dt, n_bins=50, log=True)
    assert out.total == pytest.approx(c * x0.mean(), rel=1e-3)


def test_one_bin_is_the_rate_of_the_mean():
    # one bin: |Ĵ| = |dx̄/dt|; many bins: ≥ |dx̄/dt| (the triangle inequality), = ⟨|ẋ|⟩ with one member per bin
    rng = np.random.default_rng(5)
    x0 = rng.random(200)
    x1 = x0 + rng.normal(0, 0.01, 200) - 0.002
    one = flux.marginal_flux(x0, x1, 2.0, n_bins=1).total
    assert one == pytest.approx(abs(np.mean(x1 - x0)) / 2.0, rel=1e-9)
    assert flux.marginal_flux(x0, x1, 2.0, n_bins=20).total >= one


def test_opposite_moves_cancel_in_a_bin():
    x0 = np.array([0.5, 0.5])
    x1 = np.array([0.6, 0.4])
    assert flux.marginal_flux(x0, x1, 1.0, edges=[0.0, 1.0]).total == pytest.approx(0.0)
    assert flux.marginal_flux(x0, x1, 1.0, edges=[0.0, 0.5, 1.0]).total == pytest.approx(0.1)


def test_series_times_and_interpolation():
    steps = [0, 1, 4, 16]
    snaps = np.outer([0.0, 1.0, 4.0, 16.0], np.ones(10))   # every member moves at speed 1
    s = flux.total_flux_series(steps, snaps, n_bins=5)
    assert s.t.tolist() == [0.5, 2.0, 8.0]
    assert np.allclose(s.total, 1.0)
    assert flux.flux_at(s.t, s.total, 3.0) == pytest.approx(1.0)


def test_bad_flux_input():
    with pytest.raises(ValueError, match="same ensemble"):
        flux.marginal_flux([1, 2], [1, 2, 3], 1.0)
    with pytest.raises(ValueError, match="dt"):
        flux.marginal_flux([1, 2], [1, 2], 0.0)


def test_toy_detailed_balance_has_no_flux_and_curl_has_exact_flux():
    dt = 0.01
    est0 = flux.estimate_toy_flux(flux.simulate_toy(0.0, n_walkers=1000, n_steps=2000, dt=dt), dt)
    est1 = flux.estimate_toy_flux(flux.simulate_toy(1.0, n_walkers=1000, n_steps=2000, dt=dt), dt)
    exact = flux.exact_toy_flux(est1.centers, 1.0)
    area = (est1.centers[1] - est1.centers[0]) ** 2
    assert exact.circulation == pytest.approx(np.sum(np.hypot(exact.Jx, exact.Jy)) * area, rel=1e-9)
    assert flux.exact_toy_flux(est1.centers, -1.0).circulation == pytest.approx(-exact.circulation)
    exact_circ = exact.circulation
    assert abs(est0.circulation) < 0.05 * exact_circ
    assert est1.circulation == pytest.approx(exact_circ, rel=0.1)
    # the potential part is unchanged by the curl: p_ss ∝ exp(−U₀/D) in both cases
    assert np.max(np.abs(est0.p - exact.p)) < 0.2 * exact.p.max()
    assert np.max(np.abs(est1.p - exact.p)) < 0.2 * exact.p.max()


# --------------------------------------------------------------------------------------------------
# chapter 8's rules (critnotes.book.chapters.flux)
# --------------------------------------------------------------------------------------------------
def test_late_peak_must_rise_above_a_power_law():
    from critnotes.book.chapters import flux as ch
    t = np.geomspace(1000, 2e5, 20)
    noise = np.exp(np.random.default_rng(0).normal(0, 0.05, t.size))
    smooth = flux.FluxSeries(t, 1e-3 * t ** -0.7 * noise)
    assert ch.peak_times(smooth, 1000)["late_peak"] is None
    bump = 1 + 2.0 * np.exp(-(np.log(t) - np.log(1e4)) ** 2 / 0.1)
    pk = ch.peak_times(flux.FluxSeries(t, 1e-3 * t ** -0.7 * noise * bump), 1000)
    assert pk["late_peak"] == pytest.approx(1e4, rel=0.4) and pk["late_excess"] > 3


def test_slope_rules_need_range_stage_and_more_than_the_update_rule():
    from critnotes.book.chapters import flux as ch
    assert ch.slope_sign(-0.8, (-1.2, -0.4), -1, x_range=(30, 210)).verdict == "inconclusive"   # < 1 decade
    assert ch.slope_sign(-0.8, (-1.2, -0.4), -1, x_range=(30, 3000)).verdict == "agrees"
    assert ch.slope_sign(-0.8, (-1.2, -0.4), -1, last=5000, needs=1e4).verdict == "not measured"
    assert ch.slope_sign(0.7, (0.4, 0.9), 1, trivial=1.0).verdict == "inconclusive"   # Δw ∝ ν explains it
    assert ch.slope_sign(1.5, (1.2, 1.8), 1, trivial=1.0).verdict == "agrees"
    assert ch.lower_branch((1, 2), (3, 4), 3, 3, last=5000, needs=1e4).verdict == "not measured"


@pytest.mark.parametrize("form, verdict", [("power", "differs"), ("exp", "agrees")])
def test_barrier_form_tells_exponential_from_power(form, verdict):
    from critnotes.book.chapters import flux as ch
    g = np.geomspace(5e-5, 5e-2, 8)
    noise = np.exp(np.random.default_rng(1).normal(0, 0.05, g.size))
    j = (g ** 1.0 if form == "power" else np.exp(-2e-4 / g)) * noise
    bc = ch.barrier_compare(g, j)
    ci = bc["inv_gamma"].ci()
    v = ch.barrier_form(bc["inv_gamma"].slope, ci, bc["delta_aic"], bc["n"], last=2e5, needs=1e4)
    assert v.verdict == verdict, v.reason


def test_weight_sample_is_fixed_and_checked():
    from critnotes.book.chapters import flux as ch
    w = np.arange(20.0).reshape(2, 10)
    assert ch.sampled_weights(w, 4).shape == (2, 4) and np.array_equal(ch.sampled_weights(w, 4), ch.sampled_weights(w, 4))
    with pytest.raises(ValueError, match="n_flux_weights"):
        ch.sampled_weights(w, 11)
