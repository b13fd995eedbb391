"""Recording a network the book does not define, in the user's own loop (issue 13): the optimizer-hook
path of UpdateRecorder equals a brute-force numpy.histogram of stored |Δw|, for frozen layers, buffers,
tied weights, several parameter groups and half precision; ActivityRecorder equals the layer outputs."""
import numpy as np
import pytest
import torch
from torch import nn

import critnotes
from critnotes.analysis.update_stats import bin_edges
from critnotes.probes.activity import neuron_layers, record_activity
from critnotes.training.models import MLP

SETTINGS = dict(sub_bits=2, min_exp=-20, max_exp=-7)      # small range: under- and overflow both occur


class Net(nn.Module):
    """BatchNorm (buffers), a frozen layer, a decoder tied to encoder.3's weight."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.encoder = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8))
        self.frozen = nn.Linear(8, 8).requires_grad_(False)
        self.decoder = nn.Linear(8, 8, bias=False)
        self.decoder.weight = self.encoder[3].weight
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        h = torch.relu(self.frozen(self.encoder(x)))
        return self.fc(h + self.decoder(h))


# hand-listed layers of Net: frozen and buffers absent, the tied weight once (in encoder.3, where it is first)
NET_LAYERS = {"encoder.0": ["0.weight", "0.bias"], "encoder.1": ["1.weight", "1.bias"],
              "encoder.3": ["3.weight", "3.bias"], "fc": ["weight", "bias"]}


def loader(n_batches=8, batch=16, seed=1, d=6):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, d, generator=g), torch.randint(0, 3, (batch,), generator=g)) for _ in range(n_batches)]


def params_of(model):
    """{layer name: [parameters]} of NET_LAYERS."""
    enc, fc = dict(model.encoder.named_parameters()), dict(model.fc.named_parameters())
    return {name: [(fc if name == "fc" else enc)[p] for p in ps] for name, ps in NET_LAYERS.items()}


def train_and_store(model, optimizer, rec, layers, steps, detach_at=None):
    """The user's loop; stores every step's float32 Δw per layer (the brute-force reference)."""
    stored = []
    for t, (x, y) in enumerate(loader(steps, d=model_in(model))):
        if t == detach_at:
            rec.detach()
        before = {n: [p.detach().float().clone() for p in ps] for n, ps in layers.items()}
        loss = nn.functional.cross_entropy(model(x).float(), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        stored.append({n: np.concatenate([(p.detach().float() - b).ravel().numpy()
                                          for p, b in zip(ps, before[n])]) for n, ps in layers.items()})
    return stored


def model_in(model):
    return next(m for m in model.modules() if isinstance(m, nn.Linear)).in_features


def assert_equals_brute_force(stats, stored, layers, windows):
    edges = bin_edges(SETTINGS["sub_bits"], SETTINGS["min_exp"], SETTINGS["max_exp"])
    np.testing.assert_array_equal(stats.edges, edges)
    assert stats.layer_names == list(layers)
    assert stats.layer_sizes == [sum(p.numel() for p in ps) for ps in layers.values()]
    under = over = 0
    for w, (a, b) in enumerate(windows):
        assert stats.steps[w] == len(range(a, min(b, len(stored))))
        for li, name in enumerate(layers):
            x = np.abs(np.concatenate([stored[t][name] for t in range(a, min(b, len(stored)))]).astype(np.float64))
            ok = (x >= edges[0]) & (x < edges[-1])
            np.testing.assert_array_equal(stats.counts[w, li], np.histogram(x[ok], bins=edges)[0])
            assert stats.under[w, li] == np.sum(x < edges[0])
            assert stats.over[w, li] == np.sum(~(x < edges[-1]))
            under += stats.under[w, li]
            over += stats.over[w, li]
    assert under > 0 and over > 0


def test_snippet_on_a_model_the_book_does_not_define():
    model = Net()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    rec = critnotes.UpdateRecorder(windows=[(0, 10_000)]).attach(model, optimizer)   # any nn.Module, any torch optimizer
    act = critnotes.ActivityRecorder(model, layers=["encoder.0", "fc"]).attach()      # forward hooks, by module name
    for x, y in loader():
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    stats = rec.stats()          # the same UpdateStats the book uses; fit with critnotes.analysis.fitting
    C = critnotes.analysis.graphs.correlation_matrix(act.activity("fc"))

    assert isinstance(stats, critnotes.UpdateStats) and stats.windows == ((0, 10_000),)
    assert stats.layer_names == list(NET_LAYERS) and stats.steps.tolist() == [8]
    assert stats.n_updates() == 8 * sum(stats.layer_sizes)
    fit = critnotes.analysis.fitting.fit_powerlaw_binned(*stats.histogram(0))
    assert np.isfinite(fit.alpha)
    assert act.activity("fc").shape == (8 * 16, 3) and act.activity("encoder.0").shape == (8 * 16, 8)
    assert C.shape == (3, 3) and np.allclose(np.diag(C), 1)
    rec.detach()
    act.detach()


@pytest.mark.parametrize("method", ["kernel", "scatter"])      # scatter: the CUDA code path, run on the CPU
def test_frozen_buffers_and_tied_weights_equal_brute_force(method):
    model = Net()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    windows = ((1, 4), (3, 7))                                     # overlapping windows
    rec = critnotes.UpdateRecorder(windows=windows, method=method, **SETTINGS).attach(model, opt)
    stored = train_and_store(model, opt, rec, params_of(model), steps=7)
    assert_equals_brute_force(rec.detach().stats(), stored, params_of(model), windows)


def test_parameters_outside_the_optimizer_are_skipped_and_groups_all_count():
    model = Net()
    enc, fc = model.encoder.parameters(), model.fc.parameters()
    opt = torch.optim.SGD([{"params": list(enc), "lr": 0.5}, {"params": list(fc), "lr": 0.05, "momentum": 0.9}])
    model.frozen.requires_grad_(True)                             # trainable, but not in the optimizer
    with critnotes.UpdateRecorder(windows=((0, 6),), **SETTINGS).attach(model, opt) as rec:
        stored = train_and_store(model, opt, rec, params_of(model), steps=6)
    assert_equals_brute_force(rec.stats(), stored, params_of(model), ((0, 6),))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_parameters_equal_brute_force(dtype):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)).to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    layers = {"0": list(model[0].parameters()), "2": list(model[2].parameters())}
    rec = critnotes.UpdateRecorder(windows=((0, 5),), **SETTINGS).attach(model, opt)
    stored = []
    for x, y in loader(5):
        before = [p.detach().float().clone() for p in model.parameters()]
        opt.zero_grad()
        nn.functional.cross_entropy(model(x.to(dtype)).float(), y).backward()
        opt.step()
        d = [(p.detach().float() - b).abs().ravel().numpy() for p, b in zip(model.parameters(), before)]
        stored.append({"0": np.concatenate(d[:2]), "2": np.concatenate(d[2:])})
    assert_equals_brute_force(rec.detach().stats(), stored, layers, ((0, 5),))


def test_detach_stops_recording_and_tracked_rows_match():
    model = Net()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.05)
    rec = critnotes.UpdateRecorder(windows=((0, 100),), track=5, **SETTINGS).attach(model, opt)
    nbytes = rec.state_nbytes()
    stored = train_and_store(model, opt, rec, params_of(model), steps=8, detach_at=5)
    s = rec.stats()
    assert s.steps.tolist() == [5] and rec.state_nbytes() == nbytes     # preallocated: flat during the run
    assert_equals_brute_force(s, stored[:5], params_of(model), ((0, 5),))
    assert s.tracked_steps.tolist() == [0, 1, 2, 3, 4] and s.tracked.shape == (5, 5)
    for row, t in zip(s.tracked, s.tracked_steps):                    # signed Δw of the tracked entries
        np.testing.assert_array_equal(row, np.concatenate(list(stored[t].values()))[s.tracked_index])


def test_window_beyond_the_loop_warns_and_bad_models_are_errors():
    model = Net()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    with critnotes.UpdateRecorder(windows=((0, 2), (50, 60))).attach(model, opt) as rec:
        train_and_store(model, opt, rec, params_of(model), steps=3)
    with pytest.warns(RuntimeWarning, match=r"\(50, 60\)"):
        rec.stats()
    with pytest.raises(ValueError, match="optimizer"):
        critnotes.UpdateRecorder().attach(model, torch.optim.SGD(model.frozen.parameters(), lr=0.1))
    with pytest.raises(TypeError, match="float64"):
        critnotes.UpdateRecorder().attach(model.double(), torch.optim.SGD(model.fc.parameters(), lr=0.1))
    net = Net()
    rec = critnotes.UpdateRecorder().attach(net, torch.optim.SGD(net.fc.parameters(), lr=0.1))
    with pytest.raises(RuntimeError, match="already attached"):
        rec.attach(net, torch.optim.SGD(net.fc.parameters(), lr=0.1))


def test_activity_recorder_equals_layer_outputs_and_bounds_memory():
    model = Net().eval()
    act = critnotes.ActivityRecorder(model, max_samples=20).attach()   # default: every nn.Linear
    assert act.layers == ["encoder.0", "encoder.3", "frozen", "decoder", "fc"]
    xs = [x for x, _ in loader(3)]
    with torch.no_grad():
        for x in xs:
            model(x)
        want = model.encoder[0](torch.cat(xs))
    np.testing.assert_array_equal(act.activity("encoder.0"), want[-20:].numpy())   # the most recent 20
    act.detach()
    with torch.no_grad():
        model(xs[0])
    assert act.activity("fc").shape == (20, 3)                       # detached: nothing added
    act.clear()
    with pytest.raises(RuntimeError, match="no activity"):
        act.activity("fc")
    with pytest.raises(ValueError, match="no module"):
        critnotes.ActivityRecorder(model, layers=["encoder.9"])


def test_checkpoint_probes_record_the_same_neurons_as_the_mlp():
    torch.manual_seed(0)
    mlp = MLP((12, 7, 5, 4)).eval()
    x = torch.randn(9, 12)
    with torch.no_grad():
        want = mlp.forward_activations(x)
        got = record_activity(mlp, neuron_layers(mlp), x)
    assert neuron_layers(mlp) == ["2", "4", "5"]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.numpy(), w.numpy())
