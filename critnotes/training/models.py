"""The networks of the book (paper 002 Methods; paper 003 §1), configurable and device-agnostic.

========================  =============================================  ==============
name                      architecture                                   parameters
========================  =============================================  ==============
``mlp-small``             784-50-50-50-50-10 (5 layers)                  47,410
``mlp-medium``            784-128-10                                     101,770
``mlp-large``             784-1000-1000-1000-1000-10                     3,798,010
``mlp-3layer``            784-h-h-10, the 3-layer net of paper 003       M = 2h + 10 neurons
``cnn``                   conv32-BN-ReLU-pool, conv64-BN-ReLU-pool,      2.1×10⁶ (32×32×3 input)
                          fc512, fc10
``transformer``           char-level encoder: embed 128, 4 heads,        ≈4×10⁵
                          2 layers, FFN 512, sequence 50
========================  =============================================  ==============

``activation``: ``relu`` (default), ``sigmoid``, ``tanh``, ``identity`` (purely linear net).
``init``: ``default`` (PyTorch's Kaiming-uniform), ``xavier-normal``, or ``normal`` with
``W ~ N(0, init_scale²/fan_in)`` and ``b ~ N(0, bias_scale²)`` (the mean-field init of chapter 11).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from critnotes.analysis.layers import find_layers

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "identity": nn.Identity}
INITS = ("default", "xavier-normal", "normal")
MLP_HIDDEN = {"mlp-small": (50, 50, 50, 50), "mlp-medium": (128,), "mlp-large": (1000, 1000, 1000, 1000)}
MODELS = (*MLP_HIDDEN, "mlp-3layer", "cnn", "transformer")


def _activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}") from None


class MLP(nn.Sequential):
    """Flatten → [Linear → activation] × hidden → Linear; ``linears`` lists the Linear layers."""

    def __init__(self, sizes: tuple[int, ...], activation: str = "relu"):
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(_activation(activation))
        super().__init__(*layers)
        self.sizes = tuple(sizes)

    @property
    def linears(self) -> list[nn.Linear]:
        return list(find_layers(self).values())

    def forward_activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Post-activation output of every hidden layer, then the logits (the 'neurons' of paper 003)."""
        outs = []
        for m in self:
            x = m(x)
            if not isinstance(m, (nn.Flatten, nn.Linear)):
                outs.append(x)
        outs.append(x)
        return outs


class CNN(nn.Sequential):
    """The CIFAR-10 CNN of paper 002: two conv-BN-ReLU-pool blocks, fc512, fc10."""

    def __init__(self, in_shape=(3, 32, 32), n_classes: int = 10, activation: str = "relu"):
        c, h, w = in_shape
        super().__init__(
            nn.Conv2d(c, 32, 3, padding=1), nn.BatchNorm2d(32), _activation(activation), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), _activation(activation), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * (h // 4) * (w // 4), 512), _activation(activation),
            nn.Linear(512, n_classes))


class CharTransformer(nn.Module):
    """Character-level Transformer encoder predicting the next character after a window (paper 002, Fig S5)."""

    ACTIVATIONS = ("relu", "gelu")    # what nn.TransformerEncoderLayer supports

    def __init__(self, vocab: int = 27, seq_len: int = 50, d_model: int = 128, heads: int = 4, layers: int = 2,
                 ffn: int = 512, activation: str = "relu"):
        super().__init__()
        if activation not in self.ACTIVATIONS:
            raise ValueError(f"the transformer supports activation {' or '.join(map(repr, self.ACTIVATIONS))}, "
                             f"not {activation!r}")
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.zeros(seq_len, d_model))
        layer = nn.TransformerEncoderLayer(d_model, heads, ffn, dropout=0.0, activation=activation, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.embed(idx) + self.pos[: idx.shape[1]])
        return self.head(h[:, -1])


def initialise_(model: nn.Module, init: str = "default", init_scale: float = 1.0, bias_scale: float = 0.0) -> None:
    """Re-initialise the Linear/Conv weights of ``model`` in place (``default`` leaves PyTorch's init)."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
    if init == "default":
        return
    for m in find_layers(model, types=(nn.Linear, nn.Conv2d)).values():
        if init == "xavier-normal":
            nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        else:
            fan_in = m.weight[0].numel()
            nn.init.normal_(m.weight, 0.0, init_scale / math.sqrt(fan_in))
            if m.bias is not None:
                nn.init.normal_(m.bias, 0.0, bias_scale) if bias_scale > 0 else nn.init.zeros_(m.bias)


def build_model(name: str, *, in_shape=(1, 28, 28), n_classes: int = 10, hidden: tuple[int, ...] | None = None,
                activation: str = "relu", init: str = "default", init_scale: float = 1.0, bias_scale: float = 0.0,
                seed: int | None = 0) -> nn.Module:
    """Build a model by name on the CPU; the same ``seed`` gives the same initial weights on every device.

    The global random state is left untouched (the seed drives a forked CPU generator).  An option the
    model does not use (``hidden`` for the CNN/Transformer, an activation the Transformer lacks) is an error.
    """
    if seed is None:
        return _build(name, in_shape, n_classes, hidden, activation, init, init_scale, bias_scale)
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        return _build(name, in_shape, n_classes, hidden, activation, init, init_scale, bias_scale)


def _build(name, in_shape, n_classes, hidden, activation, init, init_scale, bias_scale) -> nn.Module:
    if hidden is not None and name in ("cnn", "transformer"):
        raise ValueError(f"hidden={hidden!r} has no meaning for model {name!r} (only for MLPs); leave it None")
    if name in MLP_HIDDEN or name == "mlp-3layer" or (name == "mlp" and hidden):
        if hidden is None:
            if name == "mlp-3layer":
                raise ValueError("mlp-3layer needs hidden=(h, h) (M = 2h + 10 neurons)")
            hidden = MLP_HIDDEN[name]
        n_in = math.prod(in_shape)
        model: nn.Module = MLP((n_in, *hidden, n_classes), activation)
    elif name == "cnn":
        model = CNN(in_shape, n_classes, activation)
    elif name == "transformer":
        model = CharTransformer(vocab=n_classes, seq_len=in_shape[0], activation=activation)
    else:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)} (or 'mlp' with hidden=...)")
    initialise_(model, init, init_scale, bias_scale)
    return model


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
