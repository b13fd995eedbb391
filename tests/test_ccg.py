"""CCG extraction and coupling cost (chapter 10) on a planted network whose sub-circuits are known."""
import numpy as np
import pytest
import torch
from torch import nn

from critnotes.analysis import computational_graphs as ccg

N_CLASS, BLOCK, D_IN, H1, H2 = 3, 4, 20, 12, 10


def planted(seed=0, n=600):
    """Class c shows one random half of pixel block c. Hidden-1 neurons c and c+3 read the two halves,
    hidden-2 neuron c sums them, output c reads hidden-2 neuron c; all other weights are small noise."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(N_CLASS), n // N_CLASS)
    x = 0.05 * rng.random((len(y), D_IN))
    half = rng.integers(0, 2, len(y))
    for i, (c, h) in enumerate(zip(y, half)):
        x[i, c * BLOCK + 2 * h: c * BLOCK + 2 * h + 2] += 1.0
    w1 = rng.normal(0, 0.05, (H1, D_IN))
    w2 = rng.normal(0, 0.02, (H2, H1))
    w3 = rng.normal(0, 0.02, (N_CLASS, H2))
    truth = {}
    for c in range(N_CLASS):
        w1[c, c * BLOCK: c * BLOCK + 2] = 1.0
        w1[c + 3, c * BLOCK + 2: c * BLOCK + 4] = 1.0
        w2[c, [c, c + 3]] = 1.0
        w3[c, c] = 1.0
        truth[c] = {(1, c, c), (1, c + 3, c), (2, c, c)}
    layers = ccg.Layers([(w1, np.zeros(H1)), (w2, np.zeros(H2)), (w3, np.zeros(N_CLASS))], nn.ReLU())
    return layers, x, y, truth


def test_planted_subcircuits_are_recovered_exactly():
    layers, x, y, truth = planted()
    acts = ccg.forward_layers(layers, x)
    for g in ccg.extract_all(layers, acts, y):
        assert {tuple(e) for e in g.edges.tolist()} == truth[g.task]
        assert g.n_vertices == 4 and g.n_edges == 3
        assert g.auc > 0.99
        # pruning stops because each half-block neuron is needed
        assert ccg.auc(ccg.ccg_output(layers, acts[0], g.edges[1:], g.task), y == g.task) < 0.98 * g.auc


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh, nn.GELU])
def test_any_activation_matches_the_models_own_forward(act):
    """network_layers takes the activation modules from the model: the numpy forward, the CCG-only
    network and the masked model all agree with torch for ReLU, Tanh and GELU."""
    planted_layers, x, y, _ = planted(seed=1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(D_IN, H1), act(), nn.Linear(H1, H2), act(),
                          nn.Linear(H2, N_CLASS)).double()
    with torch.no_grad():
        for m, (w, b) in zip([model[1], model[3], model[5]], planted_layers):
            m.weight.copy_(torch.as_tensor(w))
            m.bias.copy_(torch.as_tensor(b))
    layers = ccg.network_layers(model)
    assert layers.activations == [model[2], model[4]]
    acts = ccg.forward_layers(layers, x)
    xt = torch.as_tensor(x)
    with torch.no_grad():
        for got, want in zip(acts, [model[:3](xt), model[:5](xt), model(xt)]):
            np.testing.assert_allclose(got, want.numpy(), atol=1e-12)
    means = ccg.layer_means(acts)
    g = ccg.extract_ccg(layers, acts, y, 1)
    assert g.n_edges > 0
    for mu in (None, means):
        net = ccg.masked_model(model, ccg.union_masks([g], layers), mu)
        with torch.no_grad():
            out = net(xt).numpy()[:, 1]
        np.testing.assert_allclose(out, ccg.ccg_output(layers, acts[0], g.edges, 1, mu), atol=1e-9)


def test_not_a_plain_mlp_is_a_clear_error():
    class Functional(nn.Module):        # the activation is a function call, invisible as a module
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(4, 3), nn.Linear(3, 2)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)))

    with pytest.raises(TypeError, match="forward pass differs"):
        ccg.network_layers(Functional())
    with pytest.raises(TypeError, match="BatchNorm1d"):
        ccg.network_layers(nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2)))
    with pytest.raises(TypeError, match="bare list"):
        ccg.forward_layers([(np.eye(2), np.zeros(2)), (np.eye(2), np.zeros(2))], np.zeros((1, 2)))


def test_auc_and_overlap_hand_cases():
    assert ccg.auc(np.array([1, 2, 3, 4.0]), np.array([0, 0, 1, 1], bool)) == 1.0
    assert ccg.auc(np.array([1, 1, 1, 1.0]), np.array([0, 0, 1, 1], bool)) == 0.5
    a = np.random.default_rng(0).normal(size=500)
    assert ccg.overlap(a, a) == pytest.approx(1.0)
    assert ccg.overlap(a, a + 100) == pytest.approx(0.0)


def test_coupling_cost_hand_computed():
    # one edge j -> k, positive weight; no within-class spread, so sigma falls back to 1 and
    # z_j = +-1/2 (midpoint 1/2), z_k = +-1 (midpoint 1): E = -sign(w) z_j z_k = -1/2 for every sample
    layers = [(np.eye(2), np.zeros(2)), (np.ones((1, 2)), np.zeros(1))]
    labels = np.array([0, 0, 1, 1])
    a_h = np.array([[1.0, 0], [1, 0], [0, 0], [0, 0]])
    a_o = np.array([[2.0], [2], [0], [0]])
    g = ccg.CCG(task=0, edges=np.array([[1, 0, 0]]), n_layers=2, auc=1.0, auc_grown=1.0)
    e = ccg.coupling_cost(g, [a_h, a_o], layers, labels)
    np.testing.assert_allclose(e, -0.5 * np.ones(4))
    flipped = [(np.eye(2), np.zeros(2)), (-np.ones((1, 2)), np.zeros(1))]
    np.testing.assert_allclose(ccg.coupling_cost(g, [a_h, a_o], flipped, labels), 0.5 * np.ones(4))


def test_aging_fit_recovers_planted_slope():
    t = np.array([0, 1, 2, 5, 10, 30, 100, 300, 1000])
    fit = ccg.aging_fit(t, 3.0 - 0.4 * np.log(np.maximum(t, 1)))
    assert -fit.slope == pytest.approx(0.4) and fit.r2 == pytest.approx(1.0) and fit.n == 8


def test_membership_order_and_feature_map():
    layers, x, y, _ = planted()
    graphs = ccg.extract_all(layers, ccg.forward_layers(layers, x), y)
    order, starts = ccg.membership_order(graphs, [H1, H2, N_CLASS])
    assert sorted(order) == list(range(H1 + H2 + N_CLASS)) and starts == [0, 4, 8, 12]
    f = ccg.feature_map(graphs[0], layers)
    assert np.argsort(-f)[:4].tolist() == sorted(range(4), key=lambda i: -f[i])   # block 0 dominates
    assert set(np.argsort(-f)[:4]) == {0, 1, 2, 3}


def test_bad_input_is_rejected():
    layers, x, y, _ = planted()
    acts = ccg.forward_layers(layers, x)
    with pytest.raises(ValueError, match="output neuron"):
        ccg.extract_ccg(layers, acts, y, 7)
    with pytest.raises(ValueError, match="one activity matrix"):
        ccg.extract_ccg(layers, acts[:2], y, 0)
    with pytest.raises(ValueError, match="ablation"):
        ccg.CCGParams(ablation="none").validate()
    with pytest.raises(ValueError, match="do not add up"):
        ccg.split_activity(np.zeros((3, 5)), [2, 2])


def test_growth_has_no_cap_and_keeps_every_input_above_the_relative_threshold():
    """Ten equally informative inputs to one output: all ten are grown and each is needed (the old cap
    kept three)."""
    rng = np.random.default_rng(0)
    n, h = 400, 10
    y = rng.integers(0, 2, n)
    a0 = rng.normal(size=(n, h)) + 0.8 * y[:, None] + 3      # every hidden neuron carries part of the task
    layers = ccg.Layers([(np.eye(h), np.zeros(h)), (np.vstack([np.zeros(h), np.ones(h)]), np.zeros(2))], nn.ReLU())
    acts = ccg.forward_layers(layers, a0)
    g = ccg.extract_ccg(layers, acts, y, 1, ccg.CCGParams(keep=1.0))
    assert g.n_edges == h and g.n_vertices == h + 1


def test_calibration_recovers_planted_logistic_and_scores_the_task():
    rng = np.random.default_rng(0)
    s = rng.normal(size=20_000) * 2
    y = rng.random(s.size) < 1 / (1 + np.exp(-(1.5 * s - 0.5)))
    cal = ccg.calibrate(s, y)
    # balanced weighting shifts the intercept by the log prior odds; the slope is recovered
    assert cal.a == pytest.approx(1.5, rel=0.05)
    prior = np.log(y.mean() / (1 - y.mean()))
    assert cal.b == pytest.approx(-0.5 - prior, abs=0.05)
    sc = ccg.score_task(s, y, cal)
    assert sc.auc == pytest.approx(ccg.auc(s, y)) and 0.5 < sc.balanced_acc < 1
    np.testing.assert_allclose(sc.loss_per_sample, -np.log(cal(s[y])))
    with pytest.raises(ValueError, match="inside and outside"):
        ccg.calibrate(s, np.ones(s.size, bool))


def test_aging_models_tell_log_from_exponential_relaxation():
    t = np.array([0, 1, 2, 3, 5, 8, 13, 22, 38, 63, 106, 179, 300], float)
    rng = np.random.default_rng(0)
    log = ccg.aging_models(t, 1.0 - 0.3 * np.log(np.maximum(t, 1)) + 0.01 * rng.normal(size=t.size))
    assert log.delta_log <= 2.0 and log.params["log"][1] == pytest.approx(0.3, abs=0.02)
    exp = ccg.aging_models(t, 0.2 + 1.0 * np.exp(-t / 20) + 0.002 * rng.normal(size=t.size))
    assert exp.best != "log" and exp.delta_log > 10
    with pytest.raises(ValueError, match="four checkpoints"):
        ccg.aging_models([0, 1, 2], [1.0, 0.5, 0.3])


def test_log_aging_rule_tests_the_form_not_only_the_sign():
    from critnotes.book.chapters import ccg as ch
    t = np.array([0, 1, 2, 3, 5, 8, 13, 22, 38, 63, 106, 179, 300], float)
    costs = [0.2 + a * np.exp(-t / 20) for a in (1.0, 1.5, 2.0)]        # exponential relaxations: decreasing
    fits = [ccg.aging_fit(t, c) for c in costs]
    assert all(f.slope < 0 and f.p < 0.05 for f in fits)                 # the old rule said agrees
    v = ch.log_aging([f.slope for f in fits], [f.p for f in fits], [ccg.aging_models(t, c).delta_log for c in costs])
    assert v.verdict == "differs"


def test_random_graph_keeps_the_layer_structure():
    layers, x, y, _ = planted()
    acts = ccg.forward_layers(layers, x)
    g = ccg.extract_ccg(layers, acts, y, 0)
    r = ccg.random_graph(g, [a.shape[1] for a in acts], seed=1)
    assert r.task == g.task and len(r.edges) <= len(g.edges)
    for layer in np.unique(g.edges[:, 0]):
        assert (r.edges[:, 0] == layer).any()
    assert np.all(r.edges[r.edges[:, 0] == g.n_layers - 1, 2] == g.task)


def test_robust_in_range_is_inconclusive_when_a_setting_flips_it():
    from critnotes.book.chapters import ccg as ch
    assert ch.robust_in_range(10.0, [8.0, 12.0], 3.16, 31.6).verdict == "agrees"
    assert ch.robust_in_range(10.0, [8.0, 40.0], 3.16, 31.6).verdict == "inconclusive"


def test_size_exponent_uses_the_tail_and_the_family():
    from critnotes.book.chapters import ccg as ch
    ok = dict(tau=1.5, tau_se=0.03, n=500, tail_decades=1.5, favoured="power_law", n_tail=400)
    assert ch.size_exponent(**ok).verdict == "agrees"
    assert ch.size_exponent(**{**ok, "tail_decades": 0.6}).verdict == "inconclusive"   # all sizes span more
    assert ch.size_exponent(**{**ok, "favoured": "exponential"}).verdict == "differs"
    assert ch.size_exponent(**{**ok, "favoured": "undecided"}).verdict == "inconclusive"


def test_size_trends_and_difficulty_recover_planted_dependences():
    from types import SimpleNamespace

    from critnotes.book.chapters import ccg as ch
    rng = np.random.default_rng(0)
    grid = []
    for m in (30, 60, 120, 240):
        for gam in (1e-3, 1e-2, 1e-1):
            n = np.exp(0.5 * np.log(m)) * np.ones(10) + rng.normal(0, 0.05, 10)   # N ∝ √M, flat in γ
            n[[5, 9]] += 3
            n[8] -= 1
            grid.append({"M": m, "gamma": gam, "test_acc": 0.9, "nv": n, "ne": n})
    res = SimpleNamespace(grid=grid, cfg=SimpleNamespace(min_test_acc=0.5))
    tr = ch.size_trends(res, "nv")
    assert tr["ci_M"][0] > 0.3 and abs(tr["b_gamma"]) < 0.05 and tr["n_runs"] == 12
    d = ch.difficulty(res, "nv")
    assert d["contrast"] == pytest.approx(4.0, abs=0.1) and d["ci"][0] > 0
    assert ch.size_trends(SimpleNamespace(grid=grid[:3], cfg=res.cfg), "nv")["b_M"] is None
