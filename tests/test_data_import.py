"""Offline import of the full MNIST (`python -m critnotes data mnist --from PATH`): checked, atomic, then
loaded by `load_dataset("mnist")` without torchvision."""
import gzip
import hashlib
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from critnotes.book.cli import main
from critnotes.training.data import MNIST_IDX, MNIST_SIZES, import_mnist, load_dataset, mnist_10k

ROOT = Path(__file__).resolve().parents[1]


def _idx(arr, gz=False) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    raw = struct.pack(">HBB", 0, 0x08, arr.ndim) + b"".join(struct.pack(">I", s) for s in arr.shape) + arr.tobytes()
    return gzip.compress(raw, compresslevel=1) if gz else raw


def _synthetic(n_train=MNIST_SIZES["train"], n_test=MNIST_SIZES["test"]):
    """A full-size stand-in with MNIST's structure: blank images tagged by index, balanced labels."""
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = np.zeros((n, 28, 28), np.uint8)
        x[:, 0, 0] = np.arange(n) % 251                 # so the round trip can be checked image by image
        out[f"x_{split}"], out[f"y_{split}"] = x, np.arange(n) % 10
    return out


def _write_folder(folder: Path, arrays, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in MNIST_IDX.items():
        (folder / (stem + (".gz" if gz else ""))).write_bytes(_idx(arrays[key], gz))


@pytest.mark.parametrize("gz", [False, True], ids=["idx", "idx.gz"])
def test_idx_folder_imports_and_loads_offline(tmp_path, monkeypatch, gz):
    arrays = _synthetic()
    _write_folder(tmp_path / "raw", arrays, gz)
    monkeypatch.setenv("CRITNOTES_DATA", str(tmp_path / "data"))
    assert main(["data", "mnist", "--from", str(tmp_path / "raw")]) == 0
    assert (tmp_path / "data" / "mnist.npz").is_file()
    assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith(".tmp")]   # atomic: no temp left
    d = load_dataset("mnist", download=False)            # no torchvision files exist: must be the imported copy
    assert d.name == "mnist" and d.x_train.shape == (60_000, 1, 28, 28) and d.x_test.shape == (10_000, 1, 28, 28)
    assert np.array_equal(d.y_train.numpy(), arrays["y_train"]) and np.array_equal(d.y_test.numpy(), arrays["y_test"])
    assert np.array_equal((d.x_train[:, 0, 0, 0] * 255).round().numpy().astype(np.uint8), arrays["x_train"][:, 0, 0])
    assert "imported offline" in d.description and "CC BY-SA" in d.description


def test_npz_imports(tmp_path):
    arrays = _synthetic()
    np.savez(tmp_path / "m.npz", **arrays)
    path = import_mnist(tmp_path / "m.npz", root=tmp_path / "data")
    d = load_dataset("mnist", root=tmp_path / "data", download=False)
    assert path == tmp_path / "data" / "mnist.npz" and np.array_equal(d.y_test.numpy(), arrays["y_test"])


@pytest.mark.parametrize("change, message", [
    (lambda: _synthetic(n_train=600, n_test=100), r"x_train holds 600 images, the full MNIST has 60,000.*"
                                                  r"x_test holds 100 images, the full MNIST has 10,000"),
    (lambda: {"x_test": np.zeros((10_000, 32, 32), np.uint8)}, r"x_test must be uint8 images of shape \(N, 28, 28\)"),
    (lambda: {"x_train": np.zeros((60_000, 28, 28), np.float32)}, r"x_train must be uint8.*float32"),
    (lambda: {"y_test": np.arange(10_000) % 11}, r"y_test labels must be digits 0–9, found 0…10"),
    (lambda: {"y_train": np.arange(60_000) % 9}, r"y_train has no image of digit\(s\) 9"),
    (lambda: {"y_train": np.where(np.arange(60_000) < 30_000, 3, np.arange(60_000) % 10)},
     r"y_train class counts outside 5%–15%.*3: 33000"),
    (lambda: {"y_test": np.arange(9_999) % 10}, r"y_test must be one label per image \(10000\)"),
    (lambda: {"y_train": (np.arange(60_000) % 10).astype(float)}, r"y_train must hold integer labels"),
], ids=["subset", "shape", "dtype", "label-range", "missing-class", "counts", "length", "label-dtype"])
def test_not_full_mnist_is_rejected_with_the_reason(tmp_path, monkeypatch, capsys, change, message):
    arrays = {**_synthetic(), **change()}
    np.savez(tmp_path / "bad.npz", **arrays)
    monkeypatch.setenv("CRITNOTES_DATA", str(tmp_path / "data"))
    assert main(["data", "mnist", "--from", str(tmp_path / "bad.npz")]) == 2
    err = capsys.readouterr().err
    assert "is not the full MNIST" in err
    assert re.search(message, err), err
    assert not (tmp_path / "data" / "mnist.npz").exists()       # nothing written


def test_small_idx_folder_is_rejected_by_count(tmp_path):
    _write_folder(tmp_path / "raw", _synthetic(n_train=120, n_test=20))
    with pytest.raises(ValueError, match=r"x_train holds 120 images, the full MNIST has 60,000.*a subset"):
        import_mnist(tmp_path / "raw", root=tmp_path / "data")


def test_broken_inputs_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="does not exist; give the folder"):
        import_mnist(tmp_path / "nowhere", root=tmp_path)
    (tmp_path / "raw").mkdir()
    with pytest.raises(ValueError, match="has no train-images-idx3-ubyte"):
        import_mnist(tmp_path / "raw", root=tmp_path)
    arrays = _synthetic(n_train=20, n_test=10)
    _write_folder(tmp_path / "raw", arrays)
    f = tmp_path / "raw" / MNIST_IDX["y_test"]
    f.write_bytes(f.read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated or not MNIST"):
        import_mnist(tmp_path / "raw", root=tmp_path)
    f.write_bytes(b"\x00\x00\x0d\x01" + b"\x00" * 20)
    with pytest.raises(ValueError, match="not an IDX file of unsigned bytes"):
        import_mnist(tmp_path / "raw", root=tmp_path)
    np.savez(tmp_path / "partial.npz", x_train=arrays["x_train"])
    with pytest.raises(ValueError, match="lacks the array\\(s\\) y_train, x_test, y_test"):
        import_mnist(tmp_path / "partial.npz", root=tmp_path)
    (tmp_path / "junk.npz").write_text("not numpy")
    with pytest.raises(ValueError, match="neither a folder of MNIST IDX files nor a readable .npz"):
        import_mnist(tmp_path / "junk.npz", root=tmp_path)


def test_from_is_only_for_mnist(capsys):
    assert main(["data", "cifar10", "--from", "/nowhere"]) == 2
    assert "--from imports only the full MNIST" in capsys.readouterr().err


def _shared_mnist() -> Path | None:
    """``shared/data/mnist_full.npz`` next to the repository or a folder above it (CI: ``../shared``)."""
    for parent in ROOT.parents:
        p = parent / "shared" / "data" / "mnist_full.npz"
        if p.is_file():
            return p
    return None


def test_real_full_mnist_imports(tmp_path):
    src = _shared_mnist()
    if src is None:
        pytest.skip(f"no shared/data/mnist_full.npz in any folder above {ROOT} (the full MNIST of the CI machine)")
    import_mnist(src, root=tmp_path)
    d = load_dataset("mnist", root=tmp_path, download=False)
    with np.load(src) as z:
        assert np.array_equal(d.y_train.numpy(), z["y_train"]) and np.array_equal(d.y_test.numpy(), z["y_test"])
        full = {hashlib.sha1(img.tobytes()).digest() for img in np.concatenate([z["x_train"], z["x_test"]])}
    sub = mnist_10k()                                    # every embedded digit is one of the full MNIST's
    sub_imgs = (np.concatenate([sub.x_train, sub.x_test])[:, 0] * 255).round().astype(np.uint8)
    assert all(hashlib.sha1(img.tobytes()).digest() in full for img in sub_imgs)
