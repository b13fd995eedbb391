"""Connectivity statistics of chapter 9 (paper 003 Fig 4): hand cases and brute-force references."""
import numpy as np
import pytest
import torch

from critnotes.analysis import connections as cs
from critnotes.analysis import fitting
from critnotes.training.models import MLP


def test_irreversibility_hand_cases():
    t = np.arange(8, dtype=float)
    drift = t[:, None]                                      # steady drift: (Var + Var)^2 = 4 Var^2
    sym = np.concatenate([t[:4], t[:4][::-1]])[:, None]     # time-symmetric excursion: 0
    var = t.var()
    assert cs.irreversibility(drift, window=8)[0] == pytest.approx(4 * var ** 2)
    assert cs.irreversibility(sym, window=8)[0] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="window"):
        cs.irreversibility(drift, window=20)


def test_time_weights_and_trajectory_variance():
    np.testing.assert_allclose(cs.time_weights([0, 1, 2, 3]), [1 / 6, 1 / 3, 1 / 3, 1 / 6])
    # log-spaced checkpoints of a step function w = 0 for t < 10, 1 after: the time average is ~0.9
    steps = np.array([0, 1, 2, 5, 9, 10, 100, 1000])
    w = (steps >= 10).astype(float)[:, None]
    st = cs.trajectory_stats(steps, w, window=4)
    assert st.disp[0] == 1.0 and 0.0 < st.var[0] < 0.02   # mostly at 1: tiny time-averaged variance
    with pytest.raises(ValueError, match="increasing"):
        cs.time_weights([0, 2, 1])


def test_acf_decay_separates_drift_from_noise():
    rng = np.random.default_rng(0)
    x = np.column_stack([np.linspace(0, 1, 40), rng.normal(size=40)])
    lag = cs.acf_decay(x)
    assert lag[0] > 5 and lag[1] <= 2


def test_abs_correlations_planted_and_dead_neurons():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(500, 3))
    a[:, 1] = a[:, 0] + 0.1 * rng.normal(size=500)
    a = np.column_stack([a, np.zeros(500)])                 # a silent neuron is left out
    c = cs.abs_correlations(a)
    assert c.shape == (3,) and c[0] > 0.99 and c[1] < 0.2


def test_gradient_matrices_match_brute_force():
    torch.manual_seed(0)
    model = MLP((6, 5, 4, 3)).double()
    x, y = torch.randn(12, 6, dtype=torch.float64), torch.randint(0, 3, (12,))
    idx = cs.param_subset(model, 3, seed=0)
    assert len(idx) == 9
    out = cs.gradient_matrices(model, x, y, idx)
    grads = []
    for i in range(12):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()])[idx].numpy())
    g = np.array(grads)
    np.testing.assert_allclose(out["C"], np.cov(g.T), atol=1e-10)
    np.testing.assert_allclose(out["S"], np.outer(g.mean(0), g.mean(0)), atol=1e-12)
    flat0 = torch.nn.utils.parameters_to_vector(model.parameters()).detach()

    def mean_loss(ws):
        flat = flat0.clone()
        flat[torch.as_tensor(idx)] = ws
        m = MLP((6, 5, 4, 3)).double()
        torch.nn.utils.vector_to_parameters(flat, m.parameters())
        return torch.nn.functional.cross_entropy(torch.func.functional_call(
            m, dict(zip([n for n, _ in m.named_parameters()], _split(flat, m))), (x,)), y)

    h = torch.autograd.functional.hessian(mean_loss, flat0[torch.as_tensor(idx)]).numpy()
    np.testing.assert_allclose(out["H"], h, atol=1e-10)


def _split(flat, m):
    out, off = [], 0
    for p in m.parameters():
        out.append(flat[off:off + p.numel()].view_as(p))
        off += p.numel()
    return out


def test_connection_table_points_at_the_right_weights():
    model = MLP((6, 5, 4, 3))
    flat = torch.nn.utils.parameters_to_vector(model.parameters()).detach().numpy()
    tab = cs.connection_table(model)
    assert len(tab.flat) == 5 * 4 + 4 * 3
    w2, w3 = model.linears[1].weight.detach().numpy(), model.linears[2].weight.detach().numpy()
    for f, pre, post, layer in zip(tab.flat, tab.pre, tab.post, tab.layer):
        w = w2[post - 5, pre] if layer == 1 else w3[post - 9, pre - 5]
        assert flat[f] == w


def test_classify_and_set_connections():
    model = MLP((6, 5, 4, 3))
    tab = cs.connection_table(model)
    c_mid, c_end = np.zeros((12, 12)), np.zeros((12, 12))
    c_mid[0, 5] = c_end[0, 5] = 0.9          # critical throughout
    c_mid[1, 5] = 0.8                        # redundant: critical at the transition only
    cls = cs.classify_connections(tab, c_mid, c_end, 0.5)
    assert cls["critical"].sum() == 1 and cls["redundant"].sum() == 1
    assert cls["noncritical"].sum() == len(tab.flat) - 2
    x, y = torch.randn(20, 6), torch.randint(0, 3, (20,))
    flat = torch.nn.utils.parameters_to_vector(model.parameters()).detach().numpy()
    base = cs.set_connections(model, [], x, y)
    np.testing.assert_allclose(cs.set_connections(model, tab.flat, x, y, values=flat[tab.flat]), base, rtol=1e-6)
    everything = cs.set_connections(model, np.arange(flat.size), x, y)
    np.testing.assert_allclose(everything, np.log(3), rtol=1e-5)   # all-zero net predicts uniformly
    assert not np.allclose(base, everything)
    np.testing.assert_allclose(flat, torch.nn.utils.parameters_to_vector(model.parameters()).detach().numpy())
    with pytest.raises(ValueError, match="parameter indices"):
        cs.set_connections(model, [flat.size], x, y)


def test_fan_in_scale_marks_weights_and_their_fan_in():
    model = MLP((16, 4, 3))
    mask, scale = cs.fan_in_scale(model)
    assert mask.size == 16 * 4 + 4 + 4 * 3 + 3 and mask.sum() == 16 * 4 + 4 * 3
    assert not mask[64:68].any() and np.all(scale[:64] == 4.0) and np.all(scale[68:80] == 2.0)
    flat = torch.nn.utils.parameters_to_vector(model.parameters()).detach().numpy()
    np.testing.assert_allclose((flat * scale)[mask], np.concatenate(cs.layer_weights(model, rescale=True)), rtol=1e-6)


def test_assess_tail_planted():
    heavy = cs.assess_tail(fitting.sample_pareto(2.5, 5000, seed=0))
    light = cs.assess_tail(np.random.default_rng(0).exponential(size=5000))
    assert heavy.heavy_tailed and heavy.power_law and abs(heavy.alpha - 2.5) < 0.2 and heavy.reading == "power law"
    assert light.heavy_tailed is False and light.power_law is False and light.reading == "not heavy tailed"
    none = cs.assess_tail(np.ones(10))
    assert none.heavy_tailed is None and none.reading == "no fit" and none.error


def test_assess_tail_lognormal_is_not_called_a_power_law():
    # a broad log-normal beats the exponential but the log-normal wins over the power law
    x = np.random.default_rng(2).lognormal(0.0, 1.0, 20_000)
    t = cs.assess_tail(x, seed=0)
    assert t.heavy_tailed and t.lognormal_wins and not t.power_law
    assert t.reading == "log-normal (heavier than exponential)"


def test_layer_weights_rescaled_by_fan_in():
    torch.manual_seed(0)
    model = MLP((16, 4, 3))
    raw, scaled = cs.layer_weights(model), cs.layer_weights(model, rescale=True)
    assert [w.size for w in raw] == [64, 12]
    np.testing.assert_allclose(scaled[0], raw[0] * 4.0)
    np.testing.assert_allclose(scaled[1], raw[1] * 2.0)


def test_power_law_tail_rule_on_planted_tails():
    from critnotes.book.chapters import heavy_tailed_connectivity as ch
    pl = cs.assess_tail(fitting.sample_pareto(2.5, 5000, seed=0))
    assert ch.power_law_tail(**ch._tail_inputs(pl)).verdict == "agrees" and abs(pl.alpha - 2.5) < 0.15
    # a log-normal tail of a few hundred points: heavier than exponential, log-normal comparison undecided —
    # absence of evidence, never "agrees" (the old rule said agrees)
    ln = cs.assess_tail(np.random.default_rng(1).lognormal(0.0, 2.0, 10_000), seed=1)
    assert ln.heavy_tailed and not ln.lognormal_wins and ln.n_tail < 1000
    assert ch.power_law_tail(**ch._tail_inputs(ln)).verdict == "inconclusive"
    # the same distribution with a large tail: the log-normal is recognised
    big = cs.assess_tail(np.random.default_rng(0).lognormal(0.0, 2.0, 10_000), seed=0)
    assert ch.power_law_tail(**ch._tail_inputs(big)).verdict == "differs"


def test_heavy_is_undecided_on_short_or_small_tails():
    from critnotes.book.chapters import heavy_tailed_connectivity as ch
    assert ch.heavy(cs.assess_tail(fitting.sample_pareto(2.5, 5000, seed=0))) is True
    assert ch.heavy(cs.assess_tail(np.random.default_rng(0).exponential(size=5000))) in (False, None)
    short = cs.assess_tail(np.random.default_rng(0).uniform(1, 3, 5000))       # < 1 decade of range
    assert ch.heavy(short) is None


def test_early_then_late_needs_no_heavy_tail_at_init():
    from critnotes.book.chapters import heavy_tailed_connectivity as ch
    ok = dict(grad_t0=[False] * 3, grad_mid=[True] * 3, w_t0=False, w_mid=False, w_end=True)
    assert ch.early_then_late(**ok).verdict == "agrees"
    assert ch.early_then_late(**{**ok, "grad_t0": [True, False, False]}).verdict == "differs"   # C heavy at init
    assert ch.early_then_late(**{**ok, "grad_mid": [None, True, True]}).verdict == "inconclusive"
    assert ch.early_then_late(**{**ok, "w_mid": None, "grad_t0": [True, False, False]}).verdict == "differs"


def test_converged_contrast_is_a_contrast():
    from critnotes.book.chapters import heavy_tailed_connectivity as ch
    # heavy tails in every run, converged or not: the paper's "unique to the converged model" fails
    assert ch.converged_contrast(k_conv=6, n_conv=6, k_unconv=6, n_unconv=6).verdict != "agrees"
    assert ch.converged_contrast(k_conv=6, n_conv=6, k_unconv=0, n_unconv=6).verdict == "agrees"
    assert ch.converged_contrast(k_conv=0, n_conv=4, k_unconv=0, n_unconv=6).verdict == "differs"
    assert ch.converged_contrast(k_conv=3, n_conv=3, k_unconv=0, n_unconv=0).verdict == "not measured"


def test_exponent_compared_only_on_a_power_law_tail():
    from critnotes.book.chapters import heavy_tailed_connectivity as ch
    args = dict(value=3.0, target=3.05, tol=0.3, ci=(2.9, 3.1))
    assert ch.exponent_if_power_law(**args, tail_verdict="agrees").verdict == "agrees"
    assert ch.exponent_if_power_law(**args, tail_verdict="inconclusive").verdict == "not measured"


def test_corr_ratio_bootstraps_over_probe_samples():
    from types import SimpleNamespace

    from critnotes.book.chapters import heavy_tailed_connectivity as ch
    rng = np.random.default_rng(0)
    common = rng.normal(size=(300, 1))
    mid = common + 0.5 * rng.normal(size=(300, 8))          # strongly correlated neurons at t_mid
    end = common * 0.2 + rng.normal(size=(300, 8))          # weakly correlated at the end
    res = SimpleNamespace(act_mid=mid, act_end=end, cfg=SimpleNamespace(n_boot=100, seed=0))
    ratio, (lo, hi) = ch.corr_ratio(res)
    assert ratio == pytest.approx(cs.abs_correlations(mid).mean() / cs.abs_correlations(end).mean())
    assert 1 < lo < ratio < hi
