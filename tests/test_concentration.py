"""Concentration statistics and the quasi-thermal entropy (critnotes.analysis.loss_concentration, chapter 7)."""
import math
from types import SimpleNamespace

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
    # the log-normal stops winning where the samples turn Pareto; a pure power law is never *decisively* told
    # from a broad log-normal by the Vuong test, so there is no switch without that evidence
    rng = np.random.default_rng(4)
    steps = [1, 10, 100, 1000]
    data = [rng.lognormal(0.8, 0.1, 3000), rng.lognormal(0.5, 0.1, 3000),
            1e-3 * (1 - rng.random(3000)) ** (-1 / 1.5), 1e-4 * (1 - rng.random(3000)) ** (-1 / 1.5)]
    fs = conc.family_switch(steps, data)
    assert fs.t_first_not_lognormal == 100 and fs.t_switch is None and not fs.lognormal_wins_at_end


def _planted_rows(monkeypatch, rows):
    """compare_families replaced by planted (R, p, at_bound) per checkpoint: the switch logic alone."""
    it = iter(rows)

    def fake(x):
        r, p, ab = next(it)
        return SimpleNamespace(comparisons={"power_law_vs_lognormal": (r, p)}, power_law=SimpleNamespace(alpha=2.0, xmin=1.0),
                               best="power_law", at_bound=ab)
    monkeypatch.setattr(conc.fitting, "compare_families", fake)
    return conc.family_switch(list(range(1, len(rows) + 1)), [np.ones(5)] * len(rows))


def test_switch_needs_the_power_law_to_win_from_then_on(monkeypatch):
    win, lose, undecided = (5.0, 0.01, False), (-5.0, 0.01, False), (0.5, 0.6, False)
    assert _planted_rows(monkeypatch, [lose, lose, win, win, win]).t_switch == 3
    assert _planted_rows(monkeypatch, [lose, win, undecided, win, win]).t_switch == 4   # undecided breaks it
    assert _planted_rows(monkeypatch, [lose, win, win, win, undecided]).t_switch is None
    # a row whose α sits on its bound is no evidence: skipped, it neither breaks nor starts the regime
    assert _planted_rows(monkeypatch, [lose, win, (5.0, 0.01, True), win, win]).t_switch == 2
    assert _planted_rows(monkeypatch, [win, win, (-5.0, 0.01, True)]).t_switch == 1
    assert _planted_rows(monkeypatch, [win, lose]).lognormal_wins_at_end


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


def test_absolute_reading_leaves_the_lower_tail_unmeasured():
    # relative=False and b < L̄: the tilt would pull the mean down (β > 0), the rate of P(L̂ ≤ b), not Eq 1's
    # upper-tail rate — tilt() still gives that rate, but the criterion series marks the checkpoint not measured
    x = np.array([0.1] * 300 + [2.0] * 700)
    a = (1.2 - 0.1) / 1.9
    assert conc.tilt(x, 1.2).delta_s == pytest.approx(bernoulli_kl(a, 0.7), rel=1e-8) and conc.tilt(x, 1.2).beta > 0
    ser = conc.criterion_series([1], [x], 1.2, relative=False)
    assert not ser.upper[0] and np.isnan(ser.delta_s[0]) and np.isnan(ser.crit[0]) and not ser.measured[0]
    assert conc.criterion_series([1], [x], 0.2, relative=True).measured[0]      # a = L̄ + 0.2 < max L


def test_spline_fills_only_levels_above_every_loss():
    # a = b = 0.5: early checkpoints have b below every loss (lower tail: not measured, never filled), the middle
    # ones straddle it (measured), the last lies wholly below b (b > max L: +inf, spline-filled as in the paper)
    rng = np.random.default_rng(7)
    steps = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256])
    scales = [3.0, 2.0, 0.40, 0.30, 0.22, 0.16, 0.12, 0.09, 0.01]
    losses = [s * rng.lognormal(0, 0.5, 2000) for s in scales]
    losses[-1] = np.minimum(losses[-1], 0.4)
    ser = conc.criterion_series(steps, losses, 0.5, relative=False)
    assert not ser.measured[:2].any() and not ser.filled[:2].any()
    assert ser.filled.tolist() == [x.max() <= 0.5 for x in losses] and ser.filled[-1] and ser.filled.sum() < 7
    assert np.all(np.isfinite(ser.delta_s[2:])) and ser.measured[2:].all()


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


def test_turn_stats_finds_either_direction():
    t = np.geomspace(10, 1e5, 25)
    up_down = -(np.log(t) - np.log(1e3)) ** 2
    ts = conc.turn_stats(t, up_down)
    assert ts.kind == "max" and ts.t == pytest.approx(1e3, rel=0.5) and ts.rho_before > 0.9 and ts.rho_after < -0.9
    assert conc.turn_stats(t, -up_down).kind == "min"
    mono = conc.turn_stats(t, np.log(t))
    assert mono.k is None and mono.rho_all == pytest.approx(1.0)


def test_window_accuracy_by_hand():
    lg = np.array([-8, -8, -7, -7, -6, -6], float)
    conv = np.array([False, False, True, True, False, True])
    # best window: ln γ ∈ [−7, −6] → wrong only on the unconverged cell at −6: 5/6
    assert conc.window_accuracy(lg, conv) == pytest.approx(5 / 6)
    assert conc.window_accuracy(lg, np.zeros(6, bool)) == 1.0


@pytest.mark.parametrize("k_true", [1.0, 0.0, 0.5])
def test_collapse_exponent_recovers_a_planted_k(k_true):
    rng = np.random.default_rng(8)
    nu = np.tile(np.geomspace(0.003, 3.0, 7), 3) * np.repeat([0.5, 1.0, 2.0], 7)
    bs = np.repeat([32.0, 64.0, 128.0], 7)
    u = np.log(nu) - k_true * np.log(bs)
    y = 0.3 * u ** 2 + 2 * u + rng.normal(0, 0.3, u.size)
    fit = conc.collapse_exponent(nu, bs, y)
    assert fit.ci[0] <= k_true <= fit.ci[1] and fit.ci[1] - fit.ci[0] < 0.5
    assert conc.collapse_exponent(nu[:3], bs[:3], y[:3]).k is None      # too few points


# --------------------------------------------------------------------------------------------------
# chapter 7's convergence definition and rules (critnotes.book.chapters.concentration)
# --------------------------------------------------------------------------------------------------
def _cell(acc: float, mean_loss: float, crit: float, diverged: bool = False):
    from critnotes.book.chapters import concentration as ch
    from critnotes.training.runs import CriticalRunConfig
    x = np.random.default_rng(0).gamma(4.0, mean_loss / 4.0, 500)
    ser = conc.criterion_series([0, 10], [x, x], 5e-3, relative=False)
    return ch.Cell(CriticalRunConfig(steps=10), diverged, np.array([0, 10]), np.stack([x, x]), ser, crit, acc)


def test_a_dead_network_is_not_converged():
    from critnotes.book.chapters import concentration as ch
    dead = _cell(0.10, math.log(10), -10.0)              # frozen at chance, however small its 𝓛
    alive = _cell(0.95, 0.01, -10.0)
    assert not ch.is_converged(dead, -5.0) and ch.cell_status(dead, -5.0) == "dead" and math.isnan(ch.final_crit(dead))
    assert ch.is_converged(alive, -5.0) and ch.cell_status(alive, -5.0) == "converged"
    assert not ch.is_converged(_cell(0.95, 0.01, -10.0, diverged=True), -5.0)
    assert ch.cell_status(_cell(0.95, 0.3, math.nan), -5.0) == "not measured"
    # the jump threshold is found over learned cells only: dead cells with low 𝓛 cannot pull it
    cells = [_cell(0.1, 2.3, -12.0), _cell(0.1, 2.3, -11.0), _cell(0.9, 0.01, -8.0), _cell(0.9, 0.01, -7.5),
             _cell(0.9, 0.2, 4.0), _cell(0.9, 0.2, 5.0)]
    thr = ch.convergence_threshold(cells, None)
    assert -7.5 < thr < 4.0 and [ch.is_converged(c, thr) for c in cells] == [False, False, True, True, False, False]
    assert ch.convergence_threshold(cells[:2], None) == ch.PAPER_THRESHOLD      # no learned cell: the paper's −5


def test_two_settings_that_disagree_are_inconclusive():
    from critnotes.book.chapters import concentration as ch
    up, down = dict(rho=0.9, p=1e-4, sign=-1), dict(rho=-0.9, p=1e-4, sign=-1)
    assert ch.consistent("trend", down, down).verdict == "agrees"
    assert ch.consistent("trend", down, up).verdict == "inconclusive"
    assert ch.consistent("trend", dict(rho=None, p=None, sign=-1), down).verdict == "not measured"


def test_phase_sides_needs_m_and_measured_cells():
    from critnotes.book.chapters import concentration as ch
    good = dict(above=(0.8, 1.0), below=(0.0, 0.2), n_measured=8)
    assert ch.phase_sides(**good, acc_phi=0.95, acc_no_m=0.8).verdict == "agrees"
    assert ch.phase_sides(**good, acc_phi=0.9, acc_no_m=0.9).verdict == "inconclusive"   # γ alone does as well
    assert ch.phase_sides(**{**good, "n_measured": 0}, acc_phi=0.9, acc_no_m=0.5).verdict == "not measured"


def test_collapse_rule_rejects_nu_alone_and_sqrt_b():
    from critnotes.book.chapters import concentration as ch
    assert ch.collapse_k(1.0, (0.7, 1.3)).verdict == "agrees"
    assert ch.collapse_k(0.8, (0.3, 1.3)).verdict == "inconclusive"     # ν/√B not excluded
    assert ch.collapse_k(0.1, (-0.2, 0.4)).verdict == "differs"
    assert ch.collapse_k(None, None).verdict == "not measured"


def test_short_runs_cannot_judge_late_statements():
    from critnotes.book.chapters import concentration as ch
    # ε largest at the last checkpoint of a 300-step run: the paper's stage is not reached
    v = ch.eps_turnaround(k=None, n=12, rho_before=None, p_before=None, n_before=0, rho_after=None, p_after=None,
                          n_after=0, rho_all=0.95, p_all=1e-5, last=300, from_t=4e4)
    assert v.verdict == "inconclusive"
    assert ch.family_switch_time(None, False, 20, 500, 20_000).verdict == "inconclusive"
    assert ch.family_switch_time(None, True, 20, 500, 20_000).verdict == "differs"


def test_eq1_check_at_sigma_levels_catches_a_wrong_rate():
    from critnotes.book.chapters import concentration as ch
    x = np.random.default_rng(3).lognormal(-2, 1.0, 8000)
    sd, b = x.std(), 64
    checks = [conc.batch_bound_check(x, k * sd / math.sqrt(b), batch_size=b, n_batches=20000) for k in (1, 2, 3)]
    assert all(0.001 < c.p_with <= c.bound < 1 for c in checks[:2])
    p = [c.p_with for c in checks]
    assert ch.bound_holds(p, [c.bound for c in checks], 20000).verdict == "agrees"
    # a rate three times too large would give bounds the sampled frequencies exceed
    assert ch.bound_holds(p, [math.exp(-b * 3 * c.delta_s) for c in checks], 20000).verdict == "differs"
