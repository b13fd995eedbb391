"""Issue 12: training never substitutes data, miscounts parameters or hides bad input."""
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from critnotes.training import cache
from critnotes.training import data as cdata
from critnotes.training.loop import TrainConfig, flatten_parameters_, train
from critnotes.training.models import build_model


def _offline(monkeypatch):
    def unavailable(name, root, download):
        raise cdata.DataUnavailableError(f"{name} is not on disk (test: offline)")
    monkeypatch.setattr(cdata, "_torchvision", unavailable)


def test_cifar10_offline_is_an_error_not_the_standin(monkeypatch):
    _offline(monkeypatch)
    with pytest.raises(cdata.DataUnavailableError, match="offline"):
        train(TrainConfig(model="cnn", dataset="cifar10", steps=1, n_train=8, n_test=8), use_cache=False,
              progress=False)


def test_standin_only_by_name_and_labelled_in_result_and_cache_key(monkeypatch):
    _offline(monkeypatch)
    cfg = TrainConfig(model="mlp", hidden=(8,), dataset="cifar10-standin", steps=2, n_train=32, n_test=16)
    r = train(cfg, use_cache=False, progress=False)
    assert r.dataset == "cifar10-standin" and r.standin
    plain = train(cfg.replace(dataset="mnist-10k"), use_cache=False, progress=False)
    assert plain.dataset == "mnist-10k" and not plain.standin
    seen = []
    monkeypatch.setattr(cache, "cached", lambda kind, parts, compute, **kw: seen.append(parts))
    train(cfg, progress=False)
    assert {"dataset": "cifar10-standin", "standin": True} in seen[0]


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc, self.dec = nn.Linear(4, 4), nn.Linear(4, 4)
        self.dec.weight = self.enc.weight

    def forward(self, x):
        return self.dec(torch.tanh(self.enc(x)))


def test_tied_parameter_counted_once_and_stays_tied():
    m = Tied()
    flat, layers = flatten_parameters_(m)
    assert flat.numel() == 16 + 4 + 4 == sum(p.numel() for p in m.parameters())
    assert [(s.name, s.size) for s in layers] == [("enc", 20), ("dec", 4)]
    x, y = torch.randn(32, 4), torch.randint(0, 4, (32,))
    w0 = m.enc.weight.detach().clone()
    r = train(TrainConfig(steps=5, batch_size=8, lr=0.5), model=m, data=(x, y), device="cpu", progress=False)
    assert r.n_params == 24 and m.dec.weight is m.enc.weight
    assert not torch.equal(m.enc.weight, w0)


def test_no_trainable_parameter_is_a_clear_error():
    m = nn.Linear(3, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameter"):
        train(TrainConfig(steps=1), model=m, data=(torch.randn(4, 3), torch.zeros(4, dtype=torch.long)),
              progress=False)


@pytest.mark.parametrize("field", ["n_train", "n_test"])
def test_empty_subset_is_rejected_by_validate(field):
    with pytest.raises(ValueError, match=f"{field} must be >= 1"):
        TrainConfig(**{field: 0}).validate()


def test_unsupported_model_options_are_errors():
    with pytest.raises(ValueError, match="transformer supports activation 'relu' or 'gelu', not 'tanh'"):
        build_model("transformer", in_shape=(50,), n_classes=27, activation="tanh")
    with pytest.raises(ValueError, match="hidden=.*no meaning for model 'cnn'"):
        build_model("cnn", in_shape=(3, 32, 32), hidden=(10,))
    with pytest.raises(ValueError, match="activation='tanh'.*no effect with model="):
        train(TrainConfig(activation="tanh"), model=nn.Linear(3, 2), data=(torch.randn(4, 3), torch.zeros(4).long()))


def test_nan_input_is_bad_input_not_divergence():
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    x[3, 0, 5, 5] = float("nan")
    cfg = TrainConfig(model="mlp", hidden=(8,), steps=3, batch_size=4)
    with pytest.raises(ValueError, match="x_train inputs.*1 NaN/inf"):
        train(cfg.loop_only(), model=build_model("mlp", hidden=(8,)), data=(x, y), progress=False)
    with pytest.raises(ValueError, match="DataLoader batch contained NaN/inf"):
        train(cfg.loop_only(), model=build_model("mlp", hidden=(8,)),
              data=DataLoader(TensorDataset(x, y), batch_size=4), progress=False)


def test_build_model_keeps_global_rng_and_is_reproducible():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = build_model("mlp-small", seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(999)                       # a different global state does not matter
    b = build_model("mlp-small", seed=7)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = build_model("mlp-small", seed=8)
    assert not torch.equal(a[1].weight, c[1].weight)
