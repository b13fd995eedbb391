"""Issue 13: the training loop on a network the book does not define (user model, DataLoader, extra loss)."""
import copy

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from critnotes.probes.base import Probe
from critnotes.training.loop import TrainConfig, minibatches, train


class TinyCNN(nn.Module):
    """Conv + BatchNorm, a frozen Linear, a tied pair of Linears, a head."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten())
        self.frozen = nn.Linear(2 * 6 * 6, 8).requires_grad_(False)
        self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8)
        self.b.weight = self.a.weight
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        h = torch.relu(self.frozen(self.features(x)))
        return self.head(torch.tanh(self.b(torch.tanh(self.a(h)))))


def _loader():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(48, 1, 8, 8, generator=g), torch.randint(0, 3, (48,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=16, shuffle=False)


def head_decay(model, x, y):
    return 0.5 * model.head.weight.pow(2).sum()


def test_own_cnn_with_dataloader_frozen_layer_tied_weight_and_extra_loss():
    torch.manual_seed(0)
    net = TinyCNN()
    frozen0 = copy.deepcopy(net.frozen.state_dict())
    plain, other = copy.deepcopy(net), copy.deepcopy(net)
    cfg = TrainConfig(steps=7, batch_size=16, lr=0.2)
    r = train(cfg, model=net, data=_loader(), extra_loss=head_decay, device="cpu", progress=False)
    assert all(torch.equal(v, net.frozen.state_dict()[k]) for k, v in frozen0.items())
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    naive = sum(p.numel() for m in net.modules() for p in m.parameters(recurse=False) if p.requires_grad)
    assert r.n_params == trainable == naive - 64 and net.b.weight is net.a.weight
    assert len(r.losses) == 7 and r.user_model and r.dataset == "user data" and 0 <= r.train_acc <= 1
    assert net.features[1].running_mean.abs().sum() > 0              # BatchNorm saw training batches
    r_plain = train(cfg, model=plain, data=_loader(), device="cpu", progress=False)
    assert not torch.allclose(plain.head.weight, net.head.weight)   # the extra term changes the result
    assert net.head.weight.norm() < plain.head.weight.norm()         # … in the direction it pulls
    r_zero = train(cfg, model=other, data=_loader(), extra_loss=lambda m, x, y: 0.0 * head_decay(m, x, y),
                   device="cpu", progress=False)
    assert torch.equal(other.head.weight, plain.head.weight)
    assert (r_zero.losses == r_plain.losses).all()
    with pytest.raises(ValueError, match="cannot be rebuilt"):
        r.model()


class FlatEveryStep(Probe):
    name = "flat"

    def checkpoints(self, steps):
        return range(steps + 1)

    def start(self, run):
        self.seen = []

    def on_checkpoint(self, t, run):
        self.seen.append(run.flat.detach().clone())

    def finish(self, run):
        return torch.stack(self.seen)


@pytest.mark.parametrize("source", ["tensors", "loader"])
def test_loop_matches_hand_written_sgd_step_for_step(source):
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    ref = copy.deepcopy(net)
    x, y = torch.randn(12, 4), torch.randint(0, 3, (12,))
    cfg = TrainConfig(steps=6, batch_size=4, lr=0.3, seed=5)
    if source == "tensors":
        data, order = (x, y), [i for i in minibatches(12, 4, 6, 5, torch.device("cpu"))]
    else:
        data, order = DataLoader(TensorDataset(x, y), batch_size=4), [torch.arange(i % 3 * 4, i % 3 * 4 + 4)
                                                                        for i in range(6)]
    r = train(cfg, [FlatEveryStep()], model=net, data=data, extra_loss=lambda m, xb, yb: 0.1 * m[0].bias.pow(2).sum(),
              device="cpu", progress=False)
    traj = r.probes["flat"]
    for t, idx in enumerate(order):
        assert torch.allclose(traj[t], torch.cat([p.detach().reshape(-1) for p in ref.parameters()]), atol=1e-6)
        ce = nn.functional.cross_entropy(ref(x[idx]), y[idx])
        grads = torch.autograd.grad(ce + 0.1 * ref[0].bias.pow(2).sum(), list(ref.parameters()))
        with torch.no_grad():
            for p, g in zip(ref.parameters(), grads):
                p -= 0.3 * g
        assert r.losses[t] == pytest.approx(float(ce.detach()), abs=1e-6)
    assert torch.allclose(traj[-1], torch.cat([p.detach().reshape(-1) for p in ref.parameters()]), atol=1e-6)


def test_user_runs_are_uncached_unless_keyed(tmp_path, monkeypatch):
    monkeypatch.setenv("CRITNOTES_CACHE", str(tmp_path))
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    cfg = TrainConfig(steps=2, batch_size=4)
    train(cfg, model=nn.Linear(4, 3), data=(x, y), progress=False)
    assert not any(tmp_path.rglob("*.pkl"))
    a = train(cfg, model=nn.Linear(4, 3), data=(x, y), cache_key="linear-4-3 on x,y", progress=False)
    b = train(cfg, model=nn.Linear(4, 3), data=(x, y), cache_key="linear-4-3 on x,y", progress=False)
    assert len(list(tmp_path.rglob("*.pkl"))) == 1 and torch.equal(a.state_dict["weight"], b.state_dict["weight"])
    with pytest.raises(ValueError, match="batches of 4 but cfg.batch_size = 64"):
        train(TrainConfig(steps=1), model=nn.Linear(4, 3), data=DataLoader(TensorDataset(x, y), batch_size=4))
