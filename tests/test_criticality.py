"""critnotes.analysis.criticality: λ₀, σ, Δ on analytic cases, the mean-field critical line, the penalty."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from critnotes.analysis import criticality as C
from critnotes.training.loop import TrainConfig
from critnotes.training.models import MLP, build_model
from critnotes.training.regularised import RegularisedConfig, train_regularised


def _orthogonal_linear(width=64, depth=6, seed=0):
    torch.manual_seed(seed)
    m = MLP((width,) * (depth + 1) + (10,), activation="identity")
    for lin in m.linears:
        nn.init.orthogonal_(lin.weight)
        nn.init.zeros_(lin.bias)
    return m


def test_orthogonal_linear_network_is_exactly_critical():
    m = _orthogonal_linear()
    g = C.layer_gains(m, torch.randn(32, 64))
    assert g.shape == (32, 6)
    assert abs(C.lyapunov_exponent(g)) < 1e-5
    assert abs(C.branching_parameter(g) - 1) < 1e-5


def test_scaled_linear_network_has_log_scale_exponent():
    m = _orthogonal_linear()
    with torch.no_grad():
        for lin in m.linears:
            lin.weight.mul_(1.5)
    g = C.layer_gains(m, torch.randn(16, 64))
    assert C.lyapunov_exponent(g) == pytest.approx(math.log(1.5), abs=1e-5)
    assert C.branching_parameter(g) == pytest.approx(1.5 ** 2, rel=1e-4)


def test_mean_field_critical_points():
    assert C.critical_sigma_w2("tanh", 0.0) == pytest.approx(1.0, abs=1e-4)
    assert C.critical_sigma_w2("relu", 0.0) == pytest.approx(2.0, abs=1e-6)
    assert C.critical_sigma_w2("relu", 0.3) == pytest.approx(2.0, abs=1e-6)   # ReLU: χ₁ = σ_w²/2 for any σ_b
    # a bias moves the tanh critical line to larger σ_w²
    assert C.critical_sigma_w2("tanh", 0.05) > 1.1
    assert C.chi1(0.5, 0.0, "tanh") == pytest.approx(0.5, rel=1e-6)           # q* = 0 in the ordered phase
    with pytest.raises(ValueError, match="activation"):
        C.chi1(1.0, 0.0, "gelu")


@pytest.mark.parametrize("sigma_b2", [0.0, 0.05])
def test_lyapunov_sign_flips_across_mean_field_critical_init(sigma_b2):
    sc = C.critical_sigma_w2("tanh", sigma_b2)
    lam = {}
    for r in (0.5, 2.0):
        m = build_model("mlp", hidden=(200,) * 25, in_shape=(200,), activation="tanh", init="normal",
                        init_scale=math.sqrt(r * sc), bias_scale=math.sqrt(sigma_b2), seed=1)
        g = C.layer_gains(m, torch.randn(32, 200))
        lam[r] = (C.lyapunov_exponent(g), C.branching_parameter(g))
    assert lam[0.5][0] < 0 < lam[2.0][0]
    assert lam[0.5][1] < 1 < lam[2.0][1]
    # Jensen: ½ ln σ >= λ₀
    for l0, s in lam.values():
        assert 0.5 * math.log(s) >= l0


@pytest.mark.parametrize("n", [0.5, 1.0, 2.0])
def test_dynamic_range_of_hill_function(n):
    s = np.logspace(-8, 8, 4001)
    r = s ** n / (1 + s ** n)
    assert C.dynamic_range(s, r) == pytest.approx(10 * math.log10(81) / n, rel=2e-3)


def test_dynamic_range_of_linear_response_and_bad_input():
    s = np.logspace(0, 2, 2001)
    expect = 10 * math.log10((1 + 0.9 * 99) / (1 + 0.1 * 99))
    assert C.dynamic_range(s, 3 * s + 1) == pytest.approx(expect, rel=1e-3)
    assert math.isnan(C.dynamic_range(s, np.ones_like(s)))
    with pytest.raises(ValueError, match="increasing"):
        C.dynamic_range(s[::-1], s)
    with pytest.raises(ValueError, match="equal length"):
        C.dynamic_range(s, s[:-1])


def test_metrics_reject_non_mlp():
    with pytest.raises(TypeError, match="MLP"):
        C.layer_gains(nn.Linear(3, 3), torch.randn(2, 3))


def test_penalty_gradient_pushes_lambda_towards_zero():
    m = build_model("mlp", hidden=(64,) * 4, in_shape=(64,), activation="tanh", init="normal", init_scale=0.5)
    x = torch.randn(32, 64)
    before = C.lyapunov_exponent(C.layer_gains(m, x))
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    for t in range(30):
        opt.zero_grad()
        C.criticality_penalty(m, x, seed=t).backward()
        opt.step()
    after = C.lyapunov_exponent(C.layer_gains(m, x))
    assert before < -0.3 and abs(after) < abs(before) / 3


def test_correlation_frobenius_on_hand_made_activity():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2000, 1))
    act = np.stack([np.hstack([z, z, -z, np.zeros_like(z)]),         # 3 perfectly (anti)correlated + 1 silent
                    rng.standard_normal((2000, 4))])
    f = C.correlation_frobenius(act)
    assert f[0] == pytest.approx(math.sqrt(6), rel=1e-9)
    assert f[1] < 0.2


def test_permutation_tasks_are_fixed_permutations():
    x = torch.arange(2 * 16, dtype=torch.float32).view(2, 1, 4, 4)
    assert torch.equal(C.permute_pixels(x, 0), x)
    p1 = C.permute_pixels(x, 1)
    assert torch.equal(p1, C.permute_pixels(x, 1)) and not torch.equal(p1, x)
    assert torch.equal(p1.flatten(1).sort(1).values, x.flatten(1))


def test_regularised_training_runs_two_tasks(tmp_path, monkeypatch):
    monkeypatch.setenv("CRITNOTES_CACHE", str(tmp_path))
    tc = TrainConfig(model="mlp", hidden=(16, 16), activation="tanh", init="normal", init_scale=0.7, lr=0.05,
                     steps=20, n_train=256, n_test=128)
    res = train_regularised(RegularisedConfig(tc, penalty=1.0, tasks=2, n_checkpoints=3, n_probe=32),
                              progress=False)
    assert res.acc.shape == (2, 2) and np.all(np.isfinite(res.acc))
    assert res.metrics.steps[0] == 0 and res.metrics.steps[-1] == 40
    assert list(np.unique(res.task_of_checkpoint)) == [0, 1]
    assert len(res.losses) == 40 and not res.diverged
    lv = res.cfg.noise_levels
    assert res.noise_drop(0.5) == pytest.approx(res.noise_acc[lv.index(0.0)] - res.noise_acc[lv.index(0.5)])
    assert res.final_average == pytest.approx(res.acc[1].mean())
    with pytest.raises(ValueError, match="penalty"):
        RegularisedConfig(tc, penalty=-1).validate()


def test_mean_field_transient_reaches_the_fixed_point_values():
    sw, sb = 1.8, 0.05
    q = C.q_star(sw, sb)
    # an input already at the fixed point (σ_w² q0 + σ_b² = q*) keeps χ₁ˡ = χ₁ in every layer
    chis = C.mean_field_chis(sw, sb, "tanh", (q - sb) / sw, 5)
    assert np.allclose(chis, C.chi1(sw, sb), rtol=1e-6)
    # a small input starts near the linear regime: χ₁¹ → σ_w², then relaxes toward χ₁
    small = C.mean_field_chis(sw, 0.0, "tanh", [1e-8, 1e-8], 80)
    assert small.shape == (2, 80) and small[0, 0] == pytest.approx(sw, rel=1e-6)
    assert small[0, -1] == pytest.approx(C.chi1(sw, 0.0), rel=1e-2)
    assert np.allclose(C.mean_field_chis(3.0, 0.2, "relu", 0.7, 3), 1.5)       # ReLU: σ_w²/2 in every layer
    with pytest.raises(ValueError, match="q0"):
        C.mean_field_chis(1.0, 0.0, "tanh", -1.0, 2)


def test_mean_field_transient_predicts_a_wide_network():
    sw, sb = 2.0, 0.01
    m = build_model("mlp", hidden=(1000,) * 3, in_shape=(100,), activation="tanh", init="normal",
                    init_scale=math.sqrt(sw), bias_scale=math.sqrt(sb), seed=0)
    x = torch.rand(64, 100)
    chis = C.mean_field_chis(sw, sb, "tanh", (x ** 2).mean(1).numpy(), 3)
    g = C.layer_gains(m, x)
    assert C.branching_parameter(g) == pytest.approx(chis.mean(), rel=0.03)


def test_generated_labels():
    m = build_model("mlp", hidden=(8,), in_shape=(5,), activation="tanh", seed=0)
    x = torch.randn(500, 5)
    assert torch.equal(C.generated_labels(m, x, "argmax"), m(x).argmax(1))
    a, b = C.generated_labels(m, x, "sample", seed=3), C.generated_labels(m, x, "sample", seed=3)
    assert torch.equal(a, b) and not torch.equal(a, C.generated_labels(m, x, "sample", seed=4))
    with pytest.raises(ValueError, match="label mode"):
        C.generated_labels(m, x, "greedy")


def test_collapse_generation_zero_is_the_plain_run_and_labels_are_the_previous_predictions(tmp_path, monkeypatch):
    import dataclasses
    from critnotes.training.collapse import CollapseConfig, train_collapse
    from critnotes.training.loop import make_model, run_data, train
    monkeypatch.setenv("CRITNOTES_CACHE", str(tmp_path))
    tc = TrainConfig(model="mlp", hidden=(16, 16), activation="tanh", init="normal", init_scale=0.9, lr=0.05,
                     steps=15, n_train=200, n_test=100)
    res = train_collapse(CollapseConfig(tc, generations=3, labels="argmax", n_probe=20, n_checkpoints=2),
                         progress=False)
    plain = train(tc, use_cache=False, progress=False)
    assert np.array_equal(res.losses[0], plain.losses) and res.test_acc[0] == plain.test_acc
    data = run_data(tc)
    assert np.array_equal(res.labels[0], data.y_train.numpy()) and res.label_fidelity[0] == 1.0
    for g in range(2):
        model = make_model(tc, data)
        train(tc.loop_only(), model=model, data=dataclasses.replace(data, y_train=torch.as_tensor(res.labels[g])),
              progress=False)
        assert np.array_equal(res.labels[g + 1], C.generated_labels(model, data.x_train, "argmax").numpy())
    assert res.probe_lyapunov.shape == (3, 20) and np.all(np.isfinite(res.lyapunov_end))
    with pytest.raises(ValueError, match="label mode"):
        CollapseConfig(tc, labels="greedy").validate()
