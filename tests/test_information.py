"""critnotes.analysis.information: MI estimator, leading PC, KL vs Fisher quadratic, max-entropy solver, probes."""
import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

from critnotes.analysis import information as inf
from critnotes.probes.base import Probe
from critnotes.analysis.update_stats import bin_edges
from critnotes.probes.activity import probe_indices
from critnotes.probes.information_probes import InfoProbe, KLProbe, unit_means, unit_pairing
from critnotes.training.loop import TrainConfig, train

# ------------------------------------------------------------------ mutual information

def test_mi_independent_is_near_zero():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=200_000), rng.standard_t(3, size=200_000)
    mi = inf.mutual_information(x, y, bins=16)
    assert 0 <= mi < 0.005          # plug-in bias ≈ (bins−1)²/(2N) ≈ 6e-4


def test_mi_deterministic_is_large_and_bounded_by_entropies():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=100_000)
    y = x ** 2
    for bins in (8, 32):
        mi = inf.mutual_information(x, y, bins=bins)
        hx, hy = inf.histogram_entropy(x, bins), inf.histogram_entropy(y, bins)
        assert mi > 0.5 * min(hx, hy)
        assert mi <= min(hx, hy) + 1e-6
    # y = x: MI equals the entropy of the (shared) binning
    assert inf.mutual_information(x, x, bins=32) == pytest.approx(inf.histogram_entropy(x, 32), rel=1e-6)


def test_mi_gaussian_matches_analytic_and_standardisation_invariance():
    rng = np.random.default_rng(2)
    rho = 0.8
    x = rng.normal(size=400_000)
    y = rho * x + np.sqrt(1 - rho ** 2) * rng.normal(size=x.size)
    exact = -0.5 * np.log(1 - rho ** 2)
    assert inf.mutual_information(x, y, bins=64, clip=4.0) == pytest.approx(exact, rel=0.05)
    # range bins: an affine map of x leaves the estimate unchanged
    assert inf.mutual_information(3 * x + 7, y, bins=32) == pytest.approx(inf.mutual_information(x, y, bins=32))


def test_mi_bad_input():
    with pytest.raises(ValueError, match="pair up"):
        inf.mutual_information(np.zeros(10), np.zeros(11))
    with pytest.raises(ValueError, match="bins"):
        inf.mutual_information(np.arange(10.0), np.arange(10.0), bins=1)


# ------------------------------------------------------------------ leading principal component

def test_leading_pc_matches_numpy_svd_up_to_sign():
    g = torch.Generator().manual_seed(0)
    T, P = 60, 3000
    direction = torch.randn(P, generator=g)
    coef = torch.randn(T, 1, generator=g) * 3.0
    window = coef * direction + torch.randn(T, P, generator=g) + 0.5   # planted axis + noise + a mean
    lead = inf.leading_pc(window)
    pc = lead.axis
    x = window.numpy() - window.numpy().mean(0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    assert abs(float(np.dot(pc.numpy(), vt[0]))) == pytest.approx(1.0, abs=1e-4)
    assert lead.explained == pytest.approx(s[0] ** 2 / np.sum(s ** 2), rel=1e-4)
    assert lead.sv_ratio == pytest.approx(s[1] / s[0], rel=0.05)      # the singular-value gap
    assert inf.abs_cosine(pc, -pc) == pytest.approx(1.0)


def test_leading_pc_leaves_global_rng_alone_and_rejects_bad_shape():
    torch.manual_seed(5)
    a = torch.rand(3)
    torch.manual_seed(5)
    inf.leading_pc(torch.randn(10, 50, generator=torch.Generator().manual_seed(1)))
    assert torch.equal(torch.rand(3), a)
    with pytest.raises(ValueError, match="window"):
        inf.leading_pc(torch.zeros(100))


# ------------------------------------------------------------------ KL vs Fisher quadratic

def _linear_softmax(seed=0, d=5, c=4):
    torch.manual_seed(seed)
    model = nn.Linear(d, c).double()
    x = torch.randn(200, d, dtype=torch.float64)
    theta = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    return model, x, theta


def test_fvp_equals_explicit_fisher_matrix():
    model, x, theta = _linear_softmax()
    f = inf.logits_fn(model)
    J = torch.func.jacrev(lambda th: f(th, x))(theta)            # (N, C, P): tiny model, explicit
    p = torch.softmax(f(theta, x), 1)
    cov = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    F = torch.einsum("ncp,ncd,ndq->pq", J, cov, J) / x.shape[0]
    v = torch.randn(theta.numel(), dtype=torch.float64)
    assert torch.allclose(inf.fisher_vector_product(f, theta, x, v), F @ v, atol=1e-10)
    assert torch.allclose(f(theta, x), model(x))


def test_kl_tends_to_half_quadratic_for_small_updates():
    model, x, theta = _linear_softmax(1)
    f = inf.logits_fn(model)
    v = torch.randn(theta.numel(), dtype=torch.float64)
    errs = []
    for scale in (1e-1, 1e-2, 1e-3):
        dw = scale * v
        kl = inf.output_kl(f, theta, theta + dw, x)
        errs.append(abs(kl / (0.5 * inf.fisher_quadratic(f, theta, x, dw)) - 1))
    assert errs[-1] < 1e-3
    assert errs[0] > errs[1] > errs[2]                               # error shrinks ∝ |Δw|


# ------------------------------------------------------------------ max-entropy solver

@pytest.mark.parametrize("lam,kappa", [(1.5, 1.0), (2.0, 2.25), (0.5, 1.0)])
def test_maxent_optimum_is_power_law_with_alpha_lambda_kappa(lam, kappa):
    sol = inf.solve_maxent(kappa, lam=lam, eps=1e-3, x_max=0.1, n_bins=50)
    assert sol.success
    assert sol.alpha_fit == pytest.approx(lam * kappa, rel=1e-3)
    logp = np.log(sol.density)
    resid = logp - np.polyval(np.polyfit(np.log(sol.x), logp, 1), np.log(sol.x))
    assert np.abs(resid).max() < 1e-3                               # a straight line on log–log


def test_maxent_constrained_form_equals_lagrangian_form():
    lagr = inf.solve_maxent(1.3, lam=2.0, n_bins=40)
    cons = inf.solve_maxent(1.3, mi=lagr.mi, n_bins=40)
    assert cons.success
    assert cons.mi == pytest.approx(lagr.mi, rel=1e-6)
    assert cons.alpha_fit == pytest.approx(lagr.alpha_fit, rel=1e-3)
    assert cons.entropy == pytest.approx(lagr.entropy, abs=1e-5)


def test_maxent_bad_input():
    with pytest.raises(ValueError, match="exactly one"):
        inf.solve_maxent(1.0)
    with pytest.raises(ValueError, match="mi must lie"):
        inf.solve_maxent(1.0, mi=100.0)


# ------------------------------------------------------------------ gaussianity

def test_gaussianity_separates_normal_from_heavy_tails():
    rng = np.random.default_rng(3)
    normal = rng.normal(2.0, 3.0, size=(400, 200))
    heavy = rng.standard_t(2, size=(400, 200))
    g = inf.gaussianity(np.hstack([normal, heavy, np.zeros((400, 3))]))
    assert g.n_constant == 3
    assert np.median(g.mean[:200]) == pytest.approx(2.0, abs=0.1)
    assert np.median(g.sd[:200]) == pytest.approx(3.0, rel=0.05)
    assert np.mean(g.p[:200] < 0.05) < 0.15
    assert np.mean(g.p[200:] < 0.05) > 0.9
    assert g.rejection_rate() == pytest.approx(np.mean(g.p < 0.05))


# ------------------------------------------------------------------ probes on a tiny run

def test_info_probe_kappa_equals_brute_force_pca():
    cfg = TrainConfig(model="mlp-small", steps=40, batch_size=32, lr=0.05, n_train=500)

    class Keep(Probe):                     # brute-force reference: store every update
        name = "keep"

        def wants_delta(self, t):
            return True

        def start(self, run):
            self.rows = []

        def on_update(self, t, delta, run):
            self.rows.append(delta.clone())

        def finish(self, run):
            return torch.stack(self.rows).numpy()

    probe = InfoProbe(steps=40, windows=(10,), mi_every=10, bins=(8, 16), n_probe=50)
    res = train(cfg, [probe, Keep()], use_cache=False, progress=False)
    rec, full = res.probes["info"], res.probes["keep"]
    axes = []
    for j in range(4):
        x = full[10 * j:10 * (j + 1)]
        axes.append(np.linalg.svd(x - x.mean(0), full_matrices=False)[2][0])
    brute = [abs(float(np.dot(a, b))) for a, b in zip(axes[:-1], axes[1:])]
    ws = rec.kappa[10]
    assert list(ws.end) == [20, 30, 40]
    assert np.allclose(ws.kappa, brute, atol=1e-3)
    assert np.all((ws.sv_ratio > 0) & (ws.sv_ratio <= 1)) and np.all(np.isfinite(ws.alpha))
    assert rec.mi.shape == (4, 2, 2) and np.all(rec.mi >= 0)
    assert list(rec.mi_steps) == [9, 19, 29, 39] and rec.magnitude is False
    net, data = res.model(), res.data()
    probe_x = data.x_train[probe_indices(data.y_train, 50, 0)]
    d, a = inf.standardize(full[39]), inf.standardize(unit_means(net, probe_x))   # last MI: after the final update
    assert rec.mi_quantile[-1] == pytest.approx(inf.mutual_information(d, a[unit_pairing(net)["post"]], 50,
                                                                        binning="quantile"), rel=1e-4)
    assert rec.mi_shuffled.shape == (4,) and np.all(rec.mi_shuffled >= 0)
    edges = bin_edges()                                      # window entropy: the window's |Δw| in the fixed log bins
    counts = np.histogram(np.abs(full[30:40]).ravel(), edges)[0]
    assert ws.entropy[-1] == pytest.approx(scipy.stats.entropy(counts), rel=1e-6)


def test_kl_probe_records_real_updates():
    cfg = TrainConfig(model="mlp-small", steps=6, batch_size=32, lr=0.01, n_train=300)
    res = train(cfg, [KLProbe(at=(0, 3), n_updates=2, radii=(0.1, 1.0), n_probe=64)], use_cache=False,
                progress=False)
    rec = res.probes["kl"]
    assert list(rec.steps) == [0, 1, 3, 4]
    assert np.allclose(rec.kl, rec.quad, rtol=0.05)                 # tiny real updates: KL ≈ ½ΔwᵀFΔw
    assert rec.scan_kl.shape == (2, 2)
    assert np.allclose(rec.scan_kl[:, 1], rec.kl[[0, 2]], rtol=1e-6)   # radius 1×|Δw| is the update itself


def test_unit_pairing_and_means_hand_computed():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2))
    pair = unit_pairing(net)          # units: inputs 0-2, hidden 3-4, logits 5-6; flat order W1, b1, W2, b2
    assert list(pair["post"]) == [3, 3, 3, 4, 4, 4, 3, 4, 5, 5, 6, 6, 5, 6]
    assert list(pair["pre"]) == [0, 1, 2, 0, 1, 2, 3, 4, 3, 4, 3, 4, 5, 6]
    assert len(pair["post"]) == sum(p.numel() for p in net.parameters())
    x = torch.randn(5, 3)
    h = torch.relu(net[0](x))
    want = torch.cat([x.mean(0), h.mean(0), net[2](h).mean(0)]).detach().double().numpy()
    assert np.allclose(unit_means(net, x), want, atol=1e-6)


def test_quantile_binned_mi_ignores_the_tail_shape():
    """Equal-frequency bins: MI is unchanged by a monotone map that stretches the tail (range bins are not),
    and is near zero for independent variables."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=50_000)
    y = x + rng.normal(size=x.size)
    q = inf.mutual_information(x, y, bins=20, binning="quantile")
    assert inf.mutual_information(np.exp(3 * x), y, bins=20, binning="quantile") == pytest.approx(q)
    assert inf.mutual_information(np.exp(3 * x), y, bins=20) < 0.5 * inf.mutual_information(x, y, bins=20)
    assert inf.mutual_information(x, rng.normal(size=x.size), bins=20, binning="quantile") < 0.01
    with pytest.raises(ValueError, match="binning"):
        inf.mutual_information(x, y, binning="log")
