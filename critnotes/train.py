"""One training loop for every chapter: config in, :class:`TrainResult` out, with probes.

A *probe* watches a run without changing it.  Two kinds of hooks exist (a probe may use both):

* per-update hooks, ``on_update(t, delta, run)``, called after update ``t`` (``0 … steps-1``) with
  the full flat update vector ``delta = w_{t+1} − w_t`` on the training device — only at the steps
  where some probe's ``wants_delta(t)`` is true, so a run without such probes pays nothing;
* checkpoint hooks, ``on_checkpoint(t, run)``, called after ``t`` updates (``t = 0`` is the
  initialisation) at the steps the probes list in ``checkpoints(steps)`` — e.g. log-spaced.

The model's parameters are re-pointed into one contiguous vector ``run.flat`` so that a probe sees
every parameter at once (``run.layers`` gives each layer's slice).  Non-finite loss stops the run and
marks it ``diverged`` (never an exception), so a sweep over hyper-parameters records divergence as a
result.  Runs are cached on disk by a hash of (config, probes, device type): see :mod:`critnotes.cache`.
Deterministic for a given seed on CPU.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
import warnings
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from . import cache
from .config import replace_checked
from .data import Dataset, load_dataset
from .device import resolve_device
from .models import build_model

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad")
LOSSES = ("ce", "mse")
PROGRESS_ENV = "CRITNOTES_PROGRESS"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (paper 002 Methods: plain SGD, batch 64, CE, ReLU)."""

    model: str = "mlp-small"
    dataset: str = "mnist-10k"
    hidden: tuple[int, ...] | None = None     # MLP hidden widths (required for mlp-3layer)
    activation: str = "relu"
    init: str = "default"
    init_scale: float = 1.0                   # σ_w for init="normal"
    bias_scale: float = 0.0                   # σ_b for init="normal"
    loss: str = "ce"                          # "ce" cross-entropy | "mse" on logits vs one-hot
    optimizer: str = "sgd"
    lr: float = 0.01
    batch_size: int = 64                      # 0 → full batch (gradient descent)
    steps: int = 1000
    seed: int = 0
    n_train: int | None = None                # random training subset (None → all)
    n_test: int | None = None

    def replace(self, **kw) -> "TrainConfig":
        return replace_checked(self, **kw)

    def validate(self) -> "TrainConfig":
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.steps < 0 or self.batch_size < 0 or not self.lr > 0:
            raise ValueError(f"steps and batch_size must be >= 0 and lr > 0 (got {self.steps}, "
                             f"{self.batch_size}, {self.lr})")
        return self


@dataclasses.dataclass(frozen=True)
class LayerSlice:
    """A layer's parameters inside the flat vector: ``flat[start:stop]``."""

    name: str
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


class Probe:
    """Base class of probes; subclasses are (frozen) dataclasses so their settings enter the cache key."""

    name = "probe"

    def checkpoints(self, steps: int) -> Iterable[int]:
        return ()

    def wants_delta(self, t: int) -> bool:
        return False

    def start(self, run: "Run") -> None:
        pass

    def on_update(self, t: int, delta: torch.Tensor, run: "Run") -> None:
        pass

    def on_checkpoint(self, t: int, run: "Run") -> None:
        pass

    def finish(self, run: "Run") -> Any:
        return None


@dataclasses.dataclass
class Run:
    """What a probe may look at during training."""

    cfg: TrainConfig
    model: nn.Module
    data: Dataset              # on the training device
    device: torch.device
    flat: torch.Tensor         # all trainable parameters, as one vector (the model's parameters are views)
    layers: list[LayerSlice]

    def loss_per_sample(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return loss_per_sample(self.cfg.loss, logits, y)

    @contextlib.contextmanager
    def evaluating(self):
        """Eval mode and no grad for a probe's forward passes; restores train mode afterwards."""
        was = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                yield self.model
        finally:
            self.model.train(was)


@dataclasses.dataclass
class TrainResult:
    cfg: TrainConfig
    device: str
    losses: np.ndarray              # mini-batch loss of every update, float32
    diverged: bool
    diverged_step: int | None
    train_loss: float               # whole training set, at the end
    train_acc: float
    test_loss: float
    test_acc: float
    state_dict: dict                # final parameters (CPU)
    probes: dict[str, Any]
    seconds: float
    n_params: int
    layers: list[LayerSlice]

    def model(self) -> nn.Module:
        """The trained model (CPU)."""
        m = make_model(self.cfg, load_dataset(self.cfg.dataset))
        m.load_state_dict(self.state_dict)
        return m

    def initial_model(self) -> nn.Module:
        """The model at initialisation (rebuilt from the seed; identical to the run's t = 0)."""
        return make_model(self.cfg, load_dataset(self.cfg.dataset))


def loss_per_sample(kind: str, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample loss: cross-entropy, or MSE between logits and the one-hot target (mean over classes)."""
    if kind == "ce":
        return nn.functional.cross_entropy(logits, y, reduction="none")
    onehot = nn.functional.one_hot(y, logits.shape[1]).to(logits.dtype)
    return ((logits - onehot) ** 2).mean(dim=1)


def make_model(cfg: TrainConfig, data: Dataset) -> nn.Module:
    return build_model(cfg.model, in_shape=data.input_shape, n_classes=data.n_classes, hidden=cfg.hidden,
                       activation=cfg.activation, init=cfg.init, init_scale=cfg.init_scale,
                       bias_scale=cfg.bias_scale, seed=cfg.seed)


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=name == "nesterov")
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def flatten_parameters_(model: nn.Module) -> tuple[torch.Tensor, list[LayerSlice]]:
    """Move all trainable parameters into one contiguous vector; parameters become views into it.

    Layers are the modules that own parameters directly (a Linear's weight and bias form one layer).
    """
    params, layers, off = [], [], 0
    for mname, module in model.named_modules():
        own = [p for p in module.parameters(recurse=False) if p.requires_grad]
        if not own:
            continue
        n = sum(p.numel() for p in own)
        layers.append(LayerSlice(mname or "model", off, off + n))
        params.extend(own)
        off += n
    first = params[0]
    flat = torch.empty(off, dtype=first.dtype, device=first.device)
    i = 0
    for p in params:
        k = p.numel()
        flat[i:i + k].copy_(p.detach().reshape(-1))
        p.data = flat[i:i + k].view_as(p)
        i += k
    return flat, layers


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "ce",
             batch: int = 4096) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``(x, y)`` (eval mode, batched, one forward pass)."""
    was = model.training
    model.eval()
    total, correct = 0.0, 0
    for i in range(0, len(y), batch):
        logits, yb = model(x[i:i + batch]), y[i:i + batch]
        total += float(loss_per_sample(loss, logits, yb).sum())
        correct += int((logits.argmax(1) == yb).sum())
    model.train(was)
    return total / max(len(y), 1), correct / max(len(y), 1)


@torch.no_grad()
def per_sample_losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "ce",
                      batch: int = 4096) -> torch.Tensor:
    """Loss of every sample (paper 003's L_k), on the device of ``x``."""
    was = model.training
    model.eval()
    out = torch.cat([loss_per_sample(loss, model(x[i:i + batch]), y[i:i + batch]) for i in range(0, len(y), batch)])
    model.train(was)
    return out


def log_checkpoints(steps: int, n: int = 30, include_zero: bool = True) -> list[int]:
    """About ``n`` log-spaced integer steps in ``[0, steps]`` (0, 1, 2, 3, 5, … steps)."""
    pts = np.unique(np.round(np.logspace(0, np.log10(max(steps, 1)), n)).astype(int))
    pts = [int(p) for p in pts if 1 <= p <= steps]
    return ([0] if include_zero else []) + pts


def progress_mode() -> str:
    """``$CRITNOTES_PROGRESS`` (``text`` when unset), checked to be ``text``, ``widget`` or ``off``."""
    mode = os.environ.get(PROGRESS_ENV, "text").strip().lower()
    if mode not in ("text", "widget", "off"):
        raise ValueError(f"${PROGRESS_ENV} must be 'text', 'widget' or 'off', not {mode!r}")
    return mode


def progress_bar(total: int, desc: str, enabled: bool = True):
    """A tqdm progress bar on stderr.

    ``$CRITNOTES_PROGRESS``: ``text`` (default; plain text, which the static book strips with the rest
    of stderr), ``widget`` (a notebook widget bar), or ``off``.
    """
    mode = progress_mode()
    if mode == "widget" and enabled:
        from tqdm.auto import tqdm
        return tqdm(total=total, desc=desc, mininterval=0.5)
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, file=sys.stderr, mininterval=1.0, disable=not enabled or mode == "off")


def train(cfg: TrainConfig, probes: Sequence[Probe] = (), *, device=None, use_cache: bool = True,
          refresh: bool = False, progress: bool = True) -> TrainResult:
    """Train ``cfg`` with ``probes``; cached on disk by (config, probes, device type)."""
    cfg.validate()
    dev = resolve_device(device)
    names = [p.name for p in probes]
    if len(set(names)) != len(names):
        raise ValueError(f"probe names must be unique, got {names}")
    if not use_cache:
        return _train(cfg, probes, dev, progress)
    key_parts = (cfg, [(type(p).__name__, p) for p in probes], dev.type)
    return cache.cached("train", key_parts, lambda: _train(cfg, probes, dev, progress), refresh=refresh, expect=TrainResult,
                        code=(_train, build_model, load_dataset, resolve_device, *map(type, probes)))


def minibatches(n: int, batch_size: int, steps: int, seed: int, device: torch.device):
    """Indices of each mini-batch: shuffled epochs without replacement; ``None`` for full batch."""
    if batch_size == 0 or batch_size >= n:
        for _ in range(steps):
            yield None
        return
    g = torch.Generator().manual_seed(seed + 1000)
    done = 0
    while done < steps:
        perm = torch.randperm(n, generator=g).to(device)
        for i in range(0, n - batch_size + 1, batch_size):
            if done >= steps:
                return
            yield perm[i:i + batch_size]
            done += 1


def _train(cfg: TrainConfig, probes: Sequence[Probe], dev: torch.device, progress: bool) -> TrainResult:
    t0 = time.perf_counter()
    data = load_dataset(cfg.dataset, fallback=True).subset(cfg.n_train, cfg.n_test, seed=cfg.seed).to(dev)
    model = make_model(cfg, data).to(dev)
    model.train()
    flat, layers = flatten_parameters_(model)
    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr)
    run = Run(cfg, model, data, dev, flat, layers)
    checkpoints: dict[int, list[Probe]] = {}
    for p in probes:
        for t in p.checkpoints(cfg.steps):
            checkpoints.setdefault(int(t), []).append(p)
        p.start(run)
    delta_probes = [p for p in probes if type(p).wants_delta is not Probe.wants_delta]
    prev = torch.empty_like(flat) if delta_probes else None
    for p in checkpoints.get(0, ()):
        p.on_checkpoint(0, run)

    x_all, y_all = data.x_train, data.y_train
    losses = torch.empty(cfg.steps, device=dev)
    check_every = 1 if dev.type == "cpu" else 50
    diverged_step = None
    bar = progress_bar(cfg.steps, f"{cfg.model} {cfg.optimizer} lr={cfg.lr:g} B={cfg.batch_size or 'full'}", progress)
    tick = max(1, cfg.steps // 200)
    steps_done = 0
    for t, idx in enumerate(minibatches(len(y_all), cfg.batch_size, cfg.steps, cfg.seed, dev)):
        x, y = (x_all, y_all) if idx is None else (x_all[idx], y_all[idx])
        loss = loss_per_sample(cfg.loss, model(x), y).mean()
        opt.zero_grad(set_to_none=False)
        loss.backward()
        want = [p for p in delta_probes if p.wants_delta(t)]
        if want:
            prev.copy_(flat)
        opt.step()
        losses[t] = loss.detach()
        steps_done = t + 1
        if (t % check_every == 0 or t == cfg.steps - 1) and not torch.isfinite(losses[t]).item():
            bad = (~torch.isfinite(losses[: t + 1])).nonzero()
            diverged_step = int(bad[0]) if len(bad) else t
            steps_done = diverged_step + 1
            warnings.warn(f"training diverged (non-finite loss) at step {diverged_step}: {cfg}; recorded as diverged",
                          RuntimeWarning, stacklevel=2)
            break
        if want:
            torch.sub(flat, prev, out=prev)          # prev now holds the update w_{t+1} - w_t
            for p in want:
                p.on_update(t, prev, run)
        for p in checkpoints.get(t + 1, ()):
            p.on_checkpoint(t + 1, run)
        if (t + 1) % tick == 0:
            bar.update(tick)
    bar.close()

    diverged = diverged_step is not None
    if diverged:
        tr_loss = tr_acc = te_loss = te_acc = float("nan")
    else:
        tr_loss, tr_acc = evaluate(model, data.x_train, data.y_train, cfg.loss)
        te_loss, te_acc = evaluate(model, data.x_test, data.y_test, cfg.loss)
    results = {p.name: p.finish(run) for p in probes}
    return TrainResult(
        cfg=cfg, device=str(dev), losses=losses[:steps_done].cpu().numpy().astype(np.float32), diverged=diverged,
        diverged_step=diverged_step, train_loss=tr_loss, train_acc=tr_acc, test_loss=te_loss, test_acc=te_acc,
        state_dict={k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, probes=results,
        seconds=time.perf_counter() - t0, n_params=flat.numel(), layers=layers)
