"""Input normalisation is a training setting: applied once (run_data), seen by probes, part of the key."""
import pytest
import torch

from critnotes.probes.base import Probe
from critnotes.training.data import MNIST_MEAN_STD, load_dataset
from critnotes.training.loop import TrainConfig, run_data, train

CFG = TrainConfig(model="mlp-small", steps=2, n_train=64, n_test=32)


def test_normalisations_rescale_pixels():
    raw = load_dataset("mnist-10k").subset(50, 20)
    pm1 = raw.normalized("pm1")
    assert torch.allclose(pm1.x_train, 2 * raw.x_train - 1) and pm1.x_train.min() >= -1 and pm1.x_train.max() <= 1
    mean, std = MNIST_MEAN_STD
    assert torch.allclose(raw.normalized("standard").x_test, (raw.x_test - mean) / std)
    assert raw.normalized("none") is raw
    with pytest.raises(ValueError, match="unknown input normalisation 'zscore'"):
        raw.normalized("zscore")
    with pytest.raises(ValueError, match="unknown input normalisation"):
        TrainConfig(normalize="zscore").validate()


class Grab(Probe):
    name = "grab"

    def start(self, run):
        self.x = run.data.x_train[:5].cpu().clone()

    def finish(self, run):
        return self.x


@pytest.mark.parametrize("kind", ["none", "pm1", "standard"])
def test_training_and_run_data_see_the_same_normalised_inputs(kind):
    cfg = CFG.replace(normalize=kind)
    res = train(cfg, [Grab()], use_cache=False, progress=False)
    assert torch.equal(res.probes["grab"], run_data(cfg).x_train[:5])
    assert torch.equal(res.data().x_train[:5], res.probes["grab"])


def test_normalisation_changes_the_run():
    a = train(CFG, use_cache=False, progress=False)
    b = train(CFG.replace(normalize="pm1"), use_cache=False, progress=False)
    assert not torch.equal(a.state_dict["1.weight"], b.state_dict["1.weight"])
