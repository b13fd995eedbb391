"""Activity of any model by forward hooks (:class:`ActivityRecorder`), and the checkpoint probes shared by the chapters on paper 003 (connectivity, concentration, flux,
heavy-tailed connectivity, CCG): neuron activity on a fixed probe set, per-sample losses over the
whole training set, and weight snapshots — each recorded after ``t`` updates for ``t`` in a schedule.
"""
from __future__ import annotations

import dataclasses
from collections import deque
from typing import Iterable

import numpy as np
import torch
from torch import nn

from critnotes.analysis.layers import find_layers
from critnotes.analysis.losses import per_sample_losses
from critnotes.probes.base import AtSteps, Run

#: modules whose outputs are hidden "neurons" by default (post-activation units, paper 003)
NONLINEARITIES = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.Identity, nn.GELU, nn.LeakyReLU, nn.ELU, nn.SiLU, nn.Softplus)


def probe_indices(labels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` training-sample indices, balanced over classes and sorted by class (fixed by ``seed``)."""
    g = torch.Generator().manual_seed(seed)
    y = labels.cpu()
    classes = torch.unique(y)
    per = int(np.ceil(n / len(classes)))
    idx = []
    for c in classes:
        members = (y == c).nonzero().flatten()
        idx.append(members[torch.randperm(len(members), generator=g)[:per]])
    return torch.cat(idx)[:n]


def probe_inputs(run: Run, n: int, seed: int) -> torch.Tensor:
    """The run's training inputs at :func:`probe_indices` (``n`` class-balanced samples), on its device."""
    return run.data.x_train[probe_indices(run.data.y_train, n, seed).to(run.device)]


def neuron_layers(model: nn.Module) -> list[str]:
    """Module names whose outputs are a model's neurons (paper 003): every nonlinearity module (the
    post-activation hidden units), then the last ``nn.Linear`` (the output logits), in model order."""
    found = find_layers(model, types=NONLINEARITIES + (nn.Linear,))
    linear = [n for n, m in found.items() if isinstance(m, nn.Linear)]
    if not linear:
        raise ValueError(f"{type(model).__name__} has no nn.Linear output layer; name the layers to record")
    return [n for n, m in found.items() if not isinstance(m, nn.Linear)] + linear[-1:]


def record_activity(model: nn.Module, layers: list[str], x: torch.Tensor) -> list[torch.Tensor]:
    """Outputs ``(n, units)`` float32 (CPU) of the named ``layers`` in one forward pass of ``x``, recorded by
    :class:`~critnotes.probes.update_recorder.ActivityRecorder` hooks (callers set eval mode: ``run.evaluating()``)."""
    with ActivityRecorder(model, layers, max_samples=len(x)) as rec:
        model(x)
    return [torch.from_numpy(rec.activity(n)) for n in layers]


@dataclasses.dataclass
class ActivityRecord:
    steps: np.ndarray             # (n_ckpt,) update counts at which activity was recorded
    index: np.ndarray             # (n_probe,) training-set indices of the probe samples (sorted by class)
    labels: np.ndarray            # (n_probe,)
    activity: np.ndarray          # (n_ckpt, n_probe, M) float32: every neuron (hidden layers, then outputs)
    layer_sizes: list[int]        # neurons per layer, summing to M

    @property
    def n_neurons(self) -> int:
        return self.activity.shape[2]

    def at(self, t: int) -> np.ndarray:
        """Activity ``(n_probe, M)`` at the recorded step nearest to ``t``."""
        return self.activity[int(np.argmin(np.abs(self.steps - t)))]


@dataclasses.dataclass(frozen=True)
class ActivityProbe(AtSteps):
    """Activity of every neuron (:func:`neuron_layers`: post-activation hidden units and output logits) on
    ``n_probe`` class-balanced training samples, at ``steps`` (paper 003 Fig 1a), by forward hooks."""

    steps: tuple[int, ...]
    n_probe: int = 1000
    probe_seed: int = 0
    name: str = "activity"

    def start(self, run: Run) -> None:
        idx = probe_indices(run.data.y_train, self.n_probe, self.probe_seed).to(run.device)
        object.__setattr__(self, "_st", {"idx": idx, "acts": [], "steps": [], "sizes": None,
                                         "layers": neuron_layers(run.model)})

    def on_checkpoint(self, t: int, run: Run) -> None:
        st = self._st
        with run.evaluating() as model:
            outs = record_activity(model, st["layers"], run.data.x_train[st["idx"]])
        st["sizes"] = [o.shape[1] for o in outs]
        st["acts"].append(torch.cat(outs, dim=1).numpy())
        st["steps"].append(t)

    def finish(self, run: Run) -> ActivityRecord:
        st = self._st
        return ActivityRecord(np.array(st["steps"]), st["idx"].cpu().numpy(),
                              run.data.y_train[st["idx"]].cpu().numpy(), np.stack(st["acts"]), st["sizes"])


@dataclasses.dataclass
class SampleLossRecord:
    steps: np.ndarray            # (n_ckpt,)
    losses: np.ndarray           # (n_ckpt, N) float32 per-sample training loss L_k(t)
    labels: np.ndarray           # (N,)


@dataclasses.dataclass(frozen=True)
class SampleLossProbe(AtSteps):
    """Per-sample loss L_k of every training sample at ``steps`` (paper 003 Figs 2–3)."""

    steps: tuple[int, ...]
    name: str = "sample_loss"

    def start(self, run: Run) -> None:
        object.__setattr__(self, "_st", {"losses": [], "steps": []})

    def on_checkpoint(self, t: int, run: Run) -> None:
        losses = per_sample_losses(run.model, run.data.x_train, run.data.y_train, run.cfg.loss)
        self._st["losses"].append(losses.float().cpu().numpy())
        self._st["steps"].append(t)

    def finish(self, run: Run) -> SampleLossRecord:
        return SampleLossRecord(np.array(self._st["steps"]), np.stack(self._st["losses"]),
                                run.data.y_train.cpu().numpy())


@dataclasses.dataclass
class WeightRecord:
    steps: np.ndarray            # (n_ckpt,)
    index: np.ndarray            # (n_tracked,) flat parameter indices (all when n_track is None)
    weights: np.ndarray          # (n_ckpt, n_tracked) float32
    layer_names: list[str]
    layer_bounds: list[tuple[int, int]]   # each layer's [start, stop) in the flat vector


@dataclasses.dataclass(frozen=True)
class WeightProbe(AtSteps):
    """Snapshots of the flat parameter vector (or a random subset of ``n_track`` entries) at ``steps``."""

    steps: tuple[int, ...]
    n_track: int | None = None
    track_seed: int = 0
    name: str = "weights"

    def start(self, run: Run) -> None:
        n = run.flat.numel()
        if self.n_track is None or self.n_track >= n:
            idx = torch.arange(n, device=run.device)
        else:
            g = torch.Generator().manual_seed(self.track_seed)
            idx = torch.randperm(n, generator=g)[: self.n_track].sort().values.to(run.device)
        object.__setattr__(self, "_st", {"idx": idx, "w": [], "steps": []})

    def on_checkpoint(self, t: int, run: Run) -> None:
        self._st["w"].append(run.flat.detach()[self._st["idx"]].cpu().numpy().copy())
        self._st["steps"].append(t)

    def finish(self, run: Run) -> WeightRecord:
        return WeightRecord(np.array(self._st["steps"]), self._st["idx"].cpu().numpy(), np.stack(self._st["w"]),
                            [s.name for s in run.layers], [(s.start, s.stop) for s in run.layers])


class ActivityRecorder:
    """Outputs of chosen modules of any model, recorded by forward hooks during the user's own forward passes
    (paper 003 Fig 1a: the activity behind the functional-connectivity graphs of chapters 6–10).

    ``layers``: module names or shell patterns (``"encoder.0"``, ``"blocks.*.fc"``) resolved by
    :func:`~critnotes.analysis.layers.find_layers`; ``None`` takes every ``nn.Linear``.  Each forward pass adds its
    batch: the output of a layer, flattened per sample, copied as float32 on its device (no host sync).
    Memory: at most the most recent ``max_samples`` samples per layer are kept (older batches are dropped),
    i.e. about ``max_samples × units × 4`` bytes per layer, plus one batch.  A module called several times per
    forward pass records each call as samples.
    """

    def __init__(self, model: nn.Module, layers: str | Iterable[str] | None = None, *, max_samples: int = 10_000):
        if int(max_samples) < 1:
            raise ValueError(f"max_samples must be >= 1, got {max_samples}")
        self.model = model
        self.modules = find_layers(model) if layers is None else find_layers(model, types=None, names=layers)
        self.max_samples = int(max_samples)
        self._chunks: dict[str, deque] = {n: deque() for n in self.modules}
        self._count = dict.fromkeys(self.modules, 0)
        self._handles: list = []

    @property
    def layers(self) -> list[str]:
        return list(self.modules)

    def attach(self) -> "ActivityRecorder":
        """Register the forward hooks; returns ``self``."""
        if self._handles:
            raise RuntimeError("this ActivityRecorder is already attached; call detach() first")
        self._handles = [m.register_forward_hook(self._hook(n)) for n, m in self.modules.items()]
        return self

    def _hook(self, name: str):
        def hook(module, args, output):
            if not isinstance(output, torch.Tensor) or output.ndim == 0:
                raise TypeError(f"ActivityRecorder: layer {name!r} returned {type(output).__name__}, not a tensor "
                                f"with a batch dimension; record a submodule that returns one")
            x = output.detach().reshape(output.shape[0], -1).to(torch.float32, copy=True)
            chunks = self._chunks[name]
            chunks.append(x)
            self._count[name] += len(x)
            while self._count[name] - len(chunks[0]) >= self.max_samples:
                self._count[name] -= len(chunks.popleft())
        return hook

    def detach(self) -> "ActivityRecorder":
        """Remove the hooks (recorded activity stays)."""
        for h in self._handles:
            h.remove()
        self._handles = []
        return self

    def __enter__(self) -> "ActivityRecorder":
        return self if self._handles else self.attach()

    def __exit__(self, *exc) -> None:
        self.detach()

    def activity(self, name: str) -> np.ndarray:
        """``(n_samples, n_units)`` float32: the last ``max_samples`` recorded outputs of layer ``name``."""
        if name not in self._chunks:
            raise KeyError(f"layer {name!r} is not recorded; recorded layers: {', '.join(self._chunks)}")
        chunks = self._chunks[name]
        if not chunks:
            raise RuntimeError(f"no activity recorded for {name!r}: attach() and run a forward pass first")
        return torch.cat(list(chunks))[-self.max_samples:].cpu().numpy()

    def clear(self) -> None:
        """Forget the recorded activity (hooks stay attached)."""
        for n in self._chunks:
            self._chunks[n].clear()
            self._count[n] = 0
