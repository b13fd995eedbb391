"""Layers and parameters of any PyTorch model: the one place that decides which modules are "layers"
(and which parameters train, and how a model is put in evaluation mode).

Every tool that needs a model's layers (probes, CCG extraction, perturbation scans, criticality
metrics) asks :func:`find_layers` instead of walking a particular model class by hand, so the same
tools work on the book's MLPs and on a user's own network.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
from typing import Callable, Iterable

import torch
from torch import nn


def find_layers(model: nn.Module, *, types: type | tuple[type, ...] | None = (nn.Linear,),
                names: str | Iterable[str] | None = None) -> dict[str, nn.Module]:
    """Submodules of ``model`` in definition order, as ``{qualified name: module}``.

    ``types`` keeps modules of these classes (``None``: any class); ``names`` keeps modules whose
    qualified name (as in :meth:`torch.nn.Module.named_modules`, e.g. ``"encoder.0"``) matches one of
    these exact names or shell patterns (``"blocks.*.fc"``).  Each name or pattern must match at least
    one module, so a typo is an error rather than an empty selection; with explicit ``names`` the
    result keeps the model's order, not the order of ``names``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"find_layers needs a torch.nn.Module, got {type(model).__name__}")
    if isinstance(names, str):
        names = [names]
    patterns = None if names is None else list(names)
    every = [(n, m) for n, m in model.named_modules() if n]        # "" is the model itself
    if patterns is not None:
        known = [n for n, _ in every]
        for p in patterns:
            if not any(fnmatch.fnmatchcase(n, p) for n in known):
                raise ValueError(f"no module of {type(model).__name__} is named {p!r}; "
                                 f"its modules are: {', '.join(known) or '(none)'}")
        every = [(n, m) for n, m in every if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if types is not None:
        every = [(n, m) for n, m in every if isinstance(m, types)]
    if not every:
        what = "any" if types is None else "/".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise ValueError(f"{type(model).__name__} has no {what} layer"
                         + ("" if patterns is None else f" among the modules named {patterns}"))
    return dict(every)


#: modules that are the identity on a (samples, features) matrix in eval mode: skipped between layers
_PASS_THROUGH = (nn.Flatten, nn.Identity, nn.Dropout)


@dataclasses.dataclass
class FeedForward:
    """A feed-forward MLP read off a model: ``x → linears[0] → activations[0] → … → linears[-1]``.

    ``activations[i]`` is the model's own (parameter-free, elementwise) module after hidden layer ``i``;
    the last Linear is the read-out.  ``names`` are the Linear layers' qualified names.
    """

    names: list[str]
    linears: list[nn.Linear]
    activations: list[nn.Module]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activity of every hidden layer (post-activation), then the logits, for inputs ``x``."""
        a, out = x.flatten(1), []
        for i, lin in enumerate(self.linears):
            a = lin(a)
            if i < len(self.activations):
                a = self.activations[i](a)
            out.append(a)
        return out


def feedforward(model: nn.Module) -> FeedForward:
    """The Linear layers of a feed-forward MLP and the activation module after each hidden one.

    The model's leaf modules, in definition order, must read ``[Flatten] Linear act Linear act … Linear``
    where each ``act`` is one or more parameter-free modules (``nn.ReLU``, ``nn.Tanh``, ``nn.GELU``, …;
    ``Flatten``/``Identity``/``Dropout`` are skipped).  The reading is checked against the model's own
    forward pass on a random input, so a model that applies its activations functionally, reorders
    layers or is not an MLP is a clear ``TypeError``, never a silently different network.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"feedforward needs a torch.nn.Module, got {type(model).__name__}")
    subs = find_layers(model, types=None).items() if any(True for _ in model.children()) else [("", model)]
    leaves = [(n, m) for n, m in subs if not any(True for _ in m.children())]
    names, linears, acts, pending = [], [], [], []

    def not_mlp(why: str) -> TypeError:
        return TypeError(f"{type(model).__name__} is not a feed-forward MLP (Linear → activation → … → Linear, "
                         f"as built by critnotes.training.models.build_model('mlp-…')): {why}")

    for n, m in leaves:
        if isinstance(m, nn.Linear):
            if linears:
                acts.append(pending[0] if len(pending) == 1 else nn.Sequential(*pending) if pending else nn.Identity())
            elif pending:
                raise not_mlp(f"{type(pending[0]).__name__} before the first Linear layer")
            names.append(n or "model")
            linears.append(m)
            pending = []
        elif isinstance(m, _PASS_THROUGH):
            continue
        elif any(True for _ in m.parameters(recurse=False)) or any(True for _ in m.buffers(recurse=False)):
            raise not_mlp(f"module {n!r} ({type(m).__name__}) has parameters or buffers; only parameter-free "
                          "elementwise activations may sit between Linear layers")
        else:
            pending.append(m)
    if len(linears) < 2:
        raise not_mlp(f"it has {len(linears)} Linear layer(s); at least two (one hidden layer) are needed")
    if pending:
        raise not_mlp(f"{type(pending[0]).__name__} after the read-out Linear layer")
    ff = FeedForward(names, linears, acts)
    w = linears[0].weight
    x = torch.randn(3, linears[0].in_features, generator=torch.Generator().manual_seed(0)).to(w)
    with evaluating(model):
        try:
            want = model(x)
        except Exception as exc:  # e.g. a forward that reshapes its input into images
            raise not_mlp(f"its forward pass does not take flat inputs ({type(exc).__name__}: {exc})") from exc
        if want.shape != (3, linears[-1].out_features) or not torch.allclose(ff.forward(x)[-1], want,
                                                                              rtol=1e-4, atol=1e-5):
            raise not_mlp("its forward pass differs from Linear/activation modules applied in definition order "
                          "(activations applied as functions, skipped or reordered layers?)")
    return ff


@contextlib.contextmanager
def evaluating(model: nn.Module, no_grad: bool = True):
    """Eval mode (and no grad) inside the block; the previous train/eval mode is restored even on error."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad() if no_grad else contextlib.nullcontext():
            yield model
    finally:
        model.train(was)


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters that training updates, in the order of the flat vector: ``requires_grad`` ones,
    in module order, a tied (shared) parameter once (as :meth:`torch.nn.Module.parameters`)."""
    return [p for p in model.parameters() if p.requires_grad]


def parameter_layers(model: nn.Module, keep: Callable[[nn.Parameter], bool] = lambda p: True
                     ) -> list[tuple[str, list[nn.Parameter]]]:
    """The layers of the flat parameter vector: the modules owning trainable parameters directly (a Linear's
    weight and bias form one layer), in module order, as ``(module name, its parameters)`` (``"model"`` for
    the model's own); a tied parameter belongs to the first module owning it; ``keep`` selects parameters.
    Used by the training loop's flat vector and by :meth:`UpdateRecorder.attach`."""
    seen, out = set(), []
    for mname, module in model.named_modules():
        own = [p for p in module.parameters(recurse=False) if p.requires_grad and id(p) not in seen and keep(p)]
        if own:
            seen.update(id(p) for p in own)
            out.append((mname or "model", own))
    return out
