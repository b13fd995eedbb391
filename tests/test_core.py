"""Foundation: profiles, cache, data loaders, models, the training loop and the CLI."""
import json
import pickle
import struct
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from critnotes.analysis.records import ConfigError
from critnotes.book.profiles import chapter_config, get_profile
from critnotes.book.results import ChapterResult, Claim, load_results
from critnotes.probes.base import Probe
from critnotes.training import cache
from critnotes.training.data import DataUnavailableError, load_dataset
from critnotes.training.loop import TrainConfig, flatten_parameters_, log_checkpoints, train
from critnotes.training.models import build_model, count_params


# --- profiles -------------------------------------------------------------------------------------
def test_profile_from_env_and_unknown_profile(monkeypatch):
    monkeypatch.setenv("CRITNOTES_PROFILE", "paper")
    assert get_profile() == "paper"
    monkeypatch.setenv("CRITNOTES_PROFILE", "fast")
    with pytest.raises(ConfigError, match="unknown profile 'fast'.*ci.*quick.*paper"):
        get_profile()


def test_chapter_config_rejects_misspelled_setting():
    presets = {p: TrainConfig(steps=s) for p, s in [("ci", 1), ("quick", 2), ("paper", 3)]}
    assert chapter_config(presets, "quick").steps == 2
    assert chapter_config(presets, "ci", lr=0.5).lr == 0.5
    with pytest.raises(ConfigError, match="no setting 'learning_rate'.*valid settings"):
        chapter_config(presets, "ci", learning_rate=0.5)


# --- cache ----------------------------------------------------------------------------------------
def test_cache_key_stable_and_sensitive():
    a, b = TrainConfig(lr=0.1), TrainConfig(lr=0.1)
    assert cache.config_key(a) == cache.config_key(b)
    assert cache.config_key(a) != cache.config_key(TrainConfig(lr=0.01))


def test_cached_computes_once(tmp_path, monkeypatch):
    monkeypatch.setenv("CRITNOTES_CACHE", str(tmp_path))
    calls = []
    f = lambda: calls.append(1) or {"x": 1}  # noqa: E731
    assert cache.cached("k", {"a": 1}, f) == {"x": 1}
    assert cache.cached("k", {"a": 1}, f) == {"x": 1}
    assert len(calls) == 1


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("CRITNOTES_CACHE", str(tmp_path))
    cache.save("k", "key", {"v": "old"})

    def interrupted(fd):
        raise KeyboardInterrupt("power cut while writing")

    monkeypatch.setattr(cache.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.save("k", "key", {"v": "new"})
    with pytest.raises(KeyboardInterrupt):
        cache.save("k", "other", {"v": "new"})
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == ["key.pkl"]   # no temp file, no half entry
    assert cache.load("k", "key") == {"v": "old"} and cache.load("k", "other") is None


# --- data -----------------------------------------------------------------------------------------
def test_embedded_mnist():
    d = load_dataset()
    assert d.x_train.shape == (8000, 1, 28, 28) and d.x_test.shape == (2000, 1, 28, 28)
    assert 0.0 <= float(d.x_train.min()) and float(d.x_train.max()) <= 1.0
    assert set(d.y_train.tolist()) == set(range(10))
    assert "CC BY-SA" in d.description


def _write_idx(path, arr):
    arr = np.asarray(arr, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + b"".join(struct.pack(">I", s) for s in arr.shape)
    path.write_bytes(header + arr.tobytes())


def test_torchvision_mnist_loader_reads_idx_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in [("train", 12), ("t10k", 5)]:
        _write_idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, n))
    d = load_dataset("mnist", root=tmp_path, download=False)
    assert d.x_train.shape == (12, 1, 28, 28) and d.x_test.shape == (5, 1, 28, 28)


def test_cifar_loader_reads_batches(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tvc

    monkeypatch.setattr(tvc, "check_integrity", lambda *a, **k: True)   # our fake batches have no real md5
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(base / name, "wb") as fh:
            pickle.dump({"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": list(range(4))}, fh)
    with open(base / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [str(i) for i in range(10)]}, fh)
    d = load_dataset("cifar10", root=tmp_path, download=False)
    assert d.x_train.shape == (20, 3, 32, 32) and d.x_test.shape == (4, 3, 32, 32) and not d.standin


def test_missing_offline_data_is_a_clear_error_or_labelled_fallback(tmp_path):
    with pytest.raises(DataUnavailableError, match="mnist.*not in.*Fix:.*mnist-10k"):
        load_dataset("mnist", root=tmp_path, download=False)
    d = load_dataset("cifar10", root=tmp_path, download=False, fallback=True)
    assert d.standin and "STAND-IN" in d.description and d.x_train.shape[1:] == (3, 32, 32)
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        load_dataset("imagenet")


def test_text_corpus():
    d = load_dataset("text26")
    assert d.x_train.shape[1] == 50 and d.n_classes == 27 and int(d.x_train.max()) < 27


# --- models ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,n", [("mlp-small", 47_410), ("mlp-medium", 101_770), ("mlp-large", 3_798_010)])
def test_paper_model_sizes(name, n):
    assert count_params(build_model(name)) == n


def test_models_forward_and_bad_names():
    assert build_model("cnn", in_shape=(3, 32, 32))(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert build_model("transformer", in_shape=(50,), n_classes=27)(torch.zeros(2, 50, dtype=torch.long)).shape == (2, 27)
    m = build_model("mlp-3layer", hidden=(7, 7))
    assert [a.shape[1] for a in m.forward_activations(torch.zeros(3, 1, 28, 28))] == [7, 7, 10]
    with pytest.raises(ValueError, match="unknown activation"):
        build_model("mlp-small", activation="swish")
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet")


def test_normal_init_scale():
    m = build_model("mlp-large", init="normal", init_scale=2.0)
    w = m.linears[1].weight
    assert abs(float(w.detach().std()) * np.sqrt(w.shape[1]) - 2.0) < 0.02


# --- training -------------------------------------------------------------------------------------
def test_flat_parameters_are_views():
    m = build_model("mlp-small")
    flat, layers = flatten_parameters_(m)
    assert layers[-1].stop == flat.numel() == count_params(m)
    flat.zero_()
    assert all(float(p.detach().abs().sum()) == 0 for p in m.parameters())


def test_training_is_deterministic_and_learns():
    cfg = TrainConfig(model="mlp-medium", steps=150, lr=0.1, n_train=2000)
    a = train(cfg, use_cache=False, progress=False)
    b = train(cfg, use_cache=False, progress=False)
    np.testing.assert_array_equal(a.losses, b.losses)
    assert a.losses[-20:].mean() < a.losses[:5].mean() - 0.5
    assert a.test_acc > 0.5 and not a.diverged


def test_divergence_is_recorded_not_raised():
    cfg = TrainConfig(model="mlp-small", steps=200, lr=1e4, loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = train(cfg, use_cache=False, progress=False)
    assert r.diverged and r.diverged_step is not None and len(r.losses) == r.diverged_step + 1
    assert np.isnan(r.test_acc)


def test_probe_hooks_called_at_checkpoints_and_updates():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Spy(Probe):
        name: str = "spy"

        def checkpoints(self, steps):
            return log_checkpoints(steps, 5)

        def wants_delta(self, t):
            return t % 10 == 0

        def start(self, run):
            object.__setattr__(self, "_log", {"ckpt": [], "upd": []})

        def on_checkpoint(self, t, run):
            self._log["ckpt"].append(t)

        def on_update(self, t, delta, run):
            assert delta.shape == run.flat.shape
            self._log["upd"].append(t)

        def finish(self, run):
            return self._log

    r = train(TrainConfig(steps=30), [Spy()], use_cache=False, progress=False)
    assert r.probes["spy"]["ckpt"] == log_checkpoints(30, 5)
    assert r.probes["spy"]["upd"] == [0, 10, 20]


def test_training_cache_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("CRITNOTES_CACHE", str(tmp_path))
    cfg = TrainConfig(steps=20)
    a = train(cfg, progress=False)
    b = train(cfg, progress=False)
    np.testing.assert_array_equal(a.losses, b.losses)
    assert len(list((tmp_path / "train").glob("*.pkl"))) == 1
    assert torch.equal(a.model().state_dict()["1.weight"], a.state_dict["1.weight"])


def test_bad_train_config():
    with pytest.raises(ValueError, match="unknown optimizer 'sgdd'"):
        train(TrainConfig(optimizer="sgdd"), use_cache=False)
    with pytest.raises(ConfigError, match="no setting 'epochs'"):
        TrainConfig().replace(epochs=3)


# --- results contract and CLI ---------------------------------------------------------------------
def test_results_roundtrip(tmp_path):
    r = ChapterResult("updates", "ci", "cpu", 1.5, [Claim("updates.x", "s", "3-5", 3.7, verdict="agrees", detail={"ks": np.float64(0.1)})])
    r.save(tmp_path)
    back = load_results(tmp_path)[0]
    assert back.claims[0].measured == 3.7 and back.claims[0].detail["ks"] == 0.1
    d = json.loads((tmp_path / "updates.json").read_text())
    assert set(d) == {"chapter", "profile", "device", "seconds", "claims"}


def test_cli_errors_are_clear():
    run = lambda *a: subprocess.run([sys.executable, "-m", "critnotes", *a], capture_output=True, text=True)  # noqa: E731
    p = run("reproduce", "nope", "--profile", "ci")
    assert p.returncode == 2 and "unknown chapter 'nope'" in p.stderr
    p = run("reproduce", "updates", "--profile", "fast")
    assert p.returncode == 2 and "invalid choice" in p.stderr
    assert run("list").returncode == 0
