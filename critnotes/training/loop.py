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
result.  Runs are cached on disk by a hash of (config, probes, device type, dataset used and whether it is a
stand-in): see :mod:`critnotes.training.cache`.  The dataset is never substituted: an unavailable one is an error.
Deterministic for a given seed on CPU.

The same loop trains a user's own network: ``train(cfg, model=net, data=loader_or_(x, y),
extra_loss=fn)``.  ``cfg`` then supplies only the loop's settings (optimizer, lr, loss, steps, batch
size, seed); its model and dataset fields must stay at their defaults (an error otherwise, never a
quiet substitution).  Such a run is not cached unless ``cache_key=`` names it (the key must identify
the model, the data and the extra loss; config, probes and device type are added to it).
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time
import warnings
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from critnotes.analysis.layers import parameter_layers, trainable_parameters
from critnotes.analysis.losses import LOSSES, evaluate, evaluate_batches, loss_per_sample
from critnotes.analysis.records import replace_checked
from critnotes.probes.base import LayerSlice, Probe, Run
from critnotes.training import cache
from critnotes.training.data import Dataset, check_normalization, load_dataset, resolve_name
from critnotes.training.device import resolve_device
from critnotes.training.models import build_model

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad")
PROGRESS_ENV = "CRITNOTES_PROGRESS"
#: TrainConfig fields that build the book's model / choose its data (unused when train() gets model= / data=)
MODEL_FIELDS = ("model", "hidden", "activation", "init", "init_scale", "bias_scale")
DATA_FIELDS = ("dataset", "n_train", "n_test", "normalize")


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
    normalize: str = "none"                   # input normalisation: "none" | "pm1" | "standard" (Dataset.normalized)

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
        check_normalization(self.normalize)
        for f in ("n_train", "n_test"):
            n = getattr(self, f)
            if n is not None and n < 1:
                raise ValueError(f"{f} must be >= 1 (or None for the whole set), got {n}")
        return self

    def loop_only(self) -> "TrainConfig":
        """This config with its model and data fields at their defaults: the loop settings that
        ``train(cfg, model=…, data=…)`` uses."""
        return dataclasses.replace(self, **{f.name: f.default for f in dataclasses.fields(self)
                                            if f.name in MODEL_FIELDS + DATA_FIELDS})








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
    n_params: int                   # trainable parameters, a tied (shared) one counted once
    layers: list[LayerSlice]
    dataset: str                    # the data actually trained on ("user data" for data=…)
    standin: bool                   # True when that data is a labelled stand-in (cifar10-standin)
    user_model: bool = False        # trained a model passed as train(model=…)

    def model(self) -> nn.Module:
        """The trained model (CPU)."""
        m = self.initial_model()
        m.load_state_dict(self.state_dict)
        return m

    def initial_model(self) -> nn.Module:
        """The model at initialisation (rebuilt from the seed; identical to the run's t = 0)."""
        if self.user_model:
            raise ValueError("this run trained a model passed as train(model=…), which cannot be rebuilt from "
                             "its config; use that model object (trained in place) or load result.state_dict")
        return make_model(self.cfg, load_dataset(self.cfg.dataset))

    def data(self) -> Dataset:
        """The run's data exactly as it trained on it (:func:`run_data`; CPU)."""
        if self.user_model:
            raise ValueError("this run trained on data passed as train(data=…); use that data")
        return run_data(self.cfg)




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

    Layers are :func:`~critnotes.analysis.layers.parameter_layers`.  Order = :func:`trainable_parameters`.
    """
    params, layers, off = [], [], 0
    for name, own in parameter_layers(model):
        n = sum(p.numel() for p in own)
        layers.append(LayerSlice(name, off, off + n))
        params.extend(own)
        off += n
    if not params:
        raise ValueError(f"{type(model).__name__} has no trainable parameter (all have requires_grad=False); "
                         "nothing to train")
    first = params[0]
    flat = torch.empty(off, dtype=first.dtype, device=first.device)
    i = 0
    for p in params:
        k = p.numel()
        flat[i:i + k].copy_(p.detach().reshape(-1))
        p.data = flat[i:i + k].view_as(p)
        i += k
    return flat, layers








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


def train(cfg: TrainConfig | None = None, probes: Sequence[Probe] = (), *, model: nn.Module | None = None,
          data=None, extra_loss: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
          cache_key: Any = None, device=None, use_cache: bool = True, refresh: bool = False,
          progress: bool = True) -> TrainResult:
    """Train ``cfg`` with ``probes``; the book's runs are cached on disk by (config, probes, device type,
    dataset actually used).

    ``model``: a user's ``nn.Module`` instead of ``cfg.model`` (trained in place, moved to the device).
    ``data``: a :class:`~critnotes.training.data.Dataset`, tensors ``(x, y)`` or a ``DataLoader`` of ``(x, y)``
    batches (cycled; its batch size must equal ``cfg.batch_size``) instead of ``cfg.dataset``.
    ``extra_loss(model, x, y)`` → scalar tensor added to the loss of every mini-batch (``losses``
    records the data loss alone; divergence is judged on the total).  With any of these the run is
    uncached unless ``cache_key`` is given (see the module docstring).
    """
    cfg = (cfg or TrainConfig()).validate()
    dev = resolve_device(device)
    names = [p.name for p in probes]
    if len(set(names)) != len(names):
        raise ValueError(f"probe names must be unique, got {names}")
    if model is None and data is None and extra_loss is None:          # the book's runs
        if cache_key is not None:
            raise ValueError("cache_key is for runs with model=/data=/extra_loss=; the book's runs are keyed "
                             "by their config")
        if not use_cache:
            return _train(cfg, probes, dev, progress)
        name = resolve_name(cfg.dataset)
        key_parts = (cfg, [(type(p).__name__, p) for p in probes], dev.type,
                     {"dataset": name.name, "standin": name.standin})
        return cache.cached("train", key_parts, lambda: _train(cfg, probes, dev, progress), refresh=refresh,
                            expect=TrainResult, code=(_train, build_model, load_dataset, resolve_device, *map(type, probes)))
    _check_user_run(cfg, model, data)
    run = lambda: _train(cfg, probes, dev, progress, model=model, data=data, extra_loss=extra_loss)  # noqa: E731
    if cache_key is None or not use_cache:
        return run()
    key_parts = (cache_key, cfg, [(type(p).__name__, p) for p in probes], dev.type)
    return cache.cached("train-user", key_parts, run, refresh=refresh, expect=TrainResult,
                        code=(_train, load_dataset, resolve_device, *map(type, probes)))


def _check_user_run(cfg: TrainConfig, model, data) -> None:
    """Clear errors for config fields that a user model / user data would silently override."""
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    unused = (MODEL_FIELDS if model is not None else ()) + (DATA_FIELDS if data is not None else ())
    default = TrainConfig()
    bad = [f"{f}={getattr(cfg, f)!r}" for f in unused if getattr(cfg, f) != getattr(default, f)]
    if bad:
        raise ValueError(f"TrainConfig fields {', '.join(bad)} have no effect with model=/data= (they build the "
                         "book's model and data); leave them at their defaults, e.g. cfg.loop_only()")
    if isinstance(data, DataLoader) and data.batch_size != cfg.batch_size:
        raise ValueError(f"the DataLoader yields batches of {data.batch_size} but cfg.batch_size = "
                         f"{cfg.batch_size}; set TrainConfig(batch_size={data.batch_size})")


def run_data(cfg: TrainConfig) -> Dataset:
    """The data a config trains on: its dataset, the random subset of ``n_train``/``n_test`` for its seed,
    with its input normalisation — the one definition, used by :func:`train` and by every analysis that
    re-evaluates a trained model (CPU)."""
    return load_dataset(cfg.dataset).subset(cfg.n_train, cfg.n_test, seed=cfg.seed).normalized(cfg.normalize)


def _as_dataset(data, cfg: TrainConfig) -> Dataset:
    """The in-memory data of a run: the config's dataset, a Dataset, or tensors (x, y) (no test set)."""
    if data is None:
        return run_data(cfg)
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        x, y = data
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"data=(x, y) needs equal, non-zero lengths; got {len(x)} and {len(y)}")
        n_classes = int(y.max()) + 1 if not y.is_floating_point() else 0
        return Dataset("user data", x, y, x[:0], y[:0], n_classes, "tensors passed to train(data=(x, y))")
    raise TypeError(f"data must be a critnotes Dataset, tensors (x, y) or a torch DataLoader, "
                    f"got {type(data).__name__}")


def _check_finite_inputs(data: Dataset) -> None:
    """Bad input is reported as such, before training (not later as 'diverged')."""
    for split in ("x_train", "x_test"):
        x = getattr(data, split)
        if x.is_floating_point() and x.numel() and not torch.isfinite(x).all():
            n_bad = int((~torch.isfinite(x)).sum())
            raise ValueError(f"the {split} inputs of {data.name!r} contain {n_bad} NaN/inf values; clean or "
                             "impute the data before training")


def _check_loader_inputs(bad_input: torch.Tensor | None) -> None:
    """Raise if the flag that the DataLoader batches accumulated says some input was NaN/inf (a host sync)."""
    if bad_input is not None and bad_input.item():
        raise ValueError("a DataLoader batch contained NaN/inf inputs; clean or impute the data before training")


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


def _batches(cfg: TrainConfig, data: Dataset | None, loader, dev: torch.device):
    """``cfg.steps`` mini-batches ``(x, y)`` on ``dev``: from the in-memory data (:func:`minibatches`) or
    by cycling through a DataLoader."""
    if loader is None:
        x_all, y_all = data.x_train, data.y_train
        for idx in minibatches(len(y_all), cfg.batch_size, cfg.steps, cfg.seed, dev):
            yield (x_all, y_all) if idx is None else (x_all[idx], y_all[idx])
        return
    done = 0
    while done < cfg.steps:
        before = done
        for xb, yb in loader:
            if done >= cfg.steps:
                return
            yield xb.to(dev), yb.to(dev)
            done += 1
        if done == before:
            raise ValueError("the DataLoader yielded no batch")


def _train(cfg: TrainConfig, probes: Sequence[Probe], dev: torch.device, progress: bool, *,
           model: nn.Module | None = None, data=None, extra_loss=None) -> TrainResult:
    t0 = time.perf_counter()
    loader = data if isinstance(data, DataLoader) else None
    ds = None if loader is not None else _as_dataset(data, cfg)
    if ds is not None:
        _check_finite_inputs(ds)
        ds = ds.to(dev)
    user_model = model is not None
    model = (model if user_model else make_model(cfg, ds)).to(dev)
    model.train()
    flat, layers = flatten_parameters_(model)
    opt = make_optimizer(cfg.optimizer, trainable_parameters(model), cfg.lr)
    run = Run(cfg, model, ds, dev, flat, layers)
    checkpoints: dict[int, list[Probe]] = {}
    for p in probes:
        for t in p.checkpoints(cfg.steps):
            checkpoints.setdefault(int(t), []).append(p)
        p.start(run)
    delta_probes = [p for p in probes if type(p).wants_delta is not Probe.wants_delta]
    prev = torch.empty_like(flat) if delta_probes else None
    for p in checkpoints.get(0, ()):
        p.on_checkpoint(0, run)

    losses = torch.empty(cfg.steps, device=dev)
    totals = torch.empty(cfg.steps, device=dev) if extra_loss is not None else losses
    bad_input = torch.zeros((), dtype=torch.bool, device=dev) if loader is not None else None
    check_every = 1 if dev.type == "cpu" else 50
    diverged_step = None
    label = type(model).__name__ if user_model else cfg.model
    bar = progress_bar(cfg.steps, f"{label} {cfg.optimizer} lr={cfg.lr:g} B={cfg.batch_size or 'full'}", progress)
    tick = max(1, cfg.steps // 200)
    steps_done = 0
    for t, (x, y) in enumerate(_batches(cfg, ds, loader, dev)):
        if bad_input is not None and x.is_floating_point():
            bad_input |= ~torch.isfinite(x).all()          # no host sync; read at the divergence checks
        loss = loss_per_sample(cfg.loss, model(x), y).mean()
        losses[t] = loss.detach()
        if extra_loss is not None:
            loss = loss + extra_loss(model, x, y)
            totals[t] = loss.detach()
        opt.zero_grad(set_to_none=False)
        loss.backward()
        want = [p for p in delta_probes if p.wants_delta(t)]
        if want:
            prev.copy_(flat)
        opt.step()
        steps_done = t + 1
        if (t % check_every == 0 or t == cfg.steps - 1) and not torch.isfinite(totals[t]).item():
            _check_loader_inputs(bad_input)
            bad = (~torch.isfinite(totals[: t + 1])).nonzero()
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
    _check_loader_inputs(bad_input)

    diverged = diverged_step is not None
    if diverged:
        tr_loss = tr_acc = te_loss = te_acc = float("nan")
    elif loader is not None:
        tr_loss, tr_acc = evaluate_batches(model, loader, cfg.loss, dev)
        te_loss = te_acc = float("nan")
    else:
        tr_loss, tr_acc = evaluate(model, ds.x_train, ds.y_train, cfg.loss)
        te_loss, te_acc = evaluate(model, ds.x_test, ds.y_test, cfg.loss)
    results = {p.name: p.finish(run) for p in probes}
    return TrainResult(
        cfg=cfg, device=str(dev), losses=losses[:steps_done].cpu().numpy().astype(np.float32), diverged=diverged,
        diverged_step=diverged_step, train_loss=tr_loss, train_acc=tr_acc, test_loss=te_loss, test_acc=te_acc,
        state_dict={k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, probes=results,
        seconds=time.perf_counter() - t0, n_params=flat.numel(), layers=layers,
        dataset="user data" if loader is not None else ds.name, standin=ds is not None and ds.standin,
        user_model=user_model)
