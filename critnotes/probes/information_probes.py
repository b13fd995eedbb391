"""Probes of chapters 2–3 (paper 002 Figs 3, S8–S12): the output KL of real updates against
½ΔwᵀFΔw (:class:`KLProbe`), and the mutual information between update magnitudes and activations with
the directional consistency κ of update windows (:class:`InfoProbe`); the maths is in
:mod:`critnotes.analysis.information`.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

import scipy.stats

from critnotes.analysis.fitting import fit_powerlaw_binned
from critnotes.analysis.information import (abs_cosine, fisher_quadratic, leading_pc, logits_fn, mutual_information,
                                            output_kl, standardize)
from critnotes.analysis.layers import evaluating, find_layers
from critnotes.analysis.update_stats import bin_edges, log_histogram
from critnotes.probes.activity import neuron_layers, probe_inputs, record_activity
from critnotes.probes.base import Probe, Run


@dataclasses.dataclass
class KLRecord:
    """Result of :class:`KLProbe`."""

    steps: np.ndarray          # (n,) update step t of each recorded update
    kl: np.ndarray             # (n,) true KL between outputs before and after the update
    quad: np.ndarray           # (n,) ½ ΔwᵀF(w_t)Δw
    norm: np.ndarray           # (n,) |Δw|
    scan_steps: np.ndarray     # (m,) steps whose update direction was scanned in magnitude
    radii: np.ndarray          # (m, r) |r u| along the unit update direction u
    scan_kl: np.ndarray        # (m, r) KL(w_t → w_t + r u)
    scan_quad: np.ndarray      # (m, r) ½ r² uᵀF(w_t)u
    scan_fim: np.ndarray       # (m, r) r² uᵀF(w_t + r u)u — constant in r if Eq 4 holds
    multi_steps: np.ndarray    # (m,) first step a of each burst
    multi_kl: np.ndarray       # (m,) KL(w_a → w_{a+n}) over the burst's n consecutive updates
    multi_quad: np.ndarray     # (m,) ½ (w_{a+n} − w_a)ᵀ F(w_a) (w_{a+n} − w_a)
    multi_norm: np.ndarray     # (m,) |w_{a+n} − w_a|


@dataclasses.dataclass(frozen=True)
class KLProbe(Probe):
    """True output KL vs ½ΔwᵀFΔw for ``n_updates`` consecutive real updates from each step in ``at``
    (Fig 3B–C, S8), a magnitude scan along the first update direction of each burst (Eq 4), and the same
    comparison for each burst's whole displacement (n updates at once: where the quadratic form can fail)."""

    at: tuple[int, ...] = (0, 1000, 5000)
    n_updates: int = 20
    radii: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)   # multiples of |Δw|
    n_probe: int = 1000
    probe_seed: int = 0
    name: str = "kl"

    def wants_delta(self, t: int) -> bool:
        return any(a <= t < a + self.n_updates for a in self.at)

    def start(self, run: Run) -> None:
        if run.cfg.loss != "ce":
            raise ValueError("KLProbe needs the cross-entropy (softmax output) model; got loss=" + run.cfg.loss)
        object.__setattr__(self, "_st", {"f": logits_fn(run.model), "x": probe_inputs(run, self.n_probe,
                                         self.probe_seed), "rows": [], "scan": [], "multi": [], "start": None})

    def on_update(self, t: int, delta: torch.Tensor, run: Run) -> None:
        st, f, x = self._st, self._st["f"], self._st["x"]
        th1 = run.flat.detach()
        th0 = th1 - delta
        n = float(delta.norm())
        st["rows"].append((t, output_kl(f, th0, th1, x), 0.5 * fisher_quadratic(f, th0, x, delta), n))
        if t in self.at:
            st["start"] = (t, th0.clone())
        a, w0 = st["start"]
        if t == a + self.n_updates - 1:
            d = th1 - w0
            st["multi"].append((a, output_kl(f, w0, th1, x), 0.5 * fisher_quadratic(f, w0, x, d), float(d.norm())))
        if t in self.at and n > 0:
            u = delta / n
            rs = np.array(self.radii) * n
            st["scan"].append((t, rs, [output_kl(f, th0, th0 + r * u, x) for r in rs],
                               [0.5 * r * r * fisher_quadratic(f, th0, x, u) for r in rs],
                               [r * r * fisher_quadratic(f, th0 + r * u, x, u) for r in rs]))

    def finish(self, run: Run) -> KLRecord:
        rows, scan = np.array(self._st["rows"]).reshape(-1, 4), self._st["scan"]
        cols = [np.array([s[i] for s in scan]).reshape(len(scan), len(self.radii)) for i in range(1, 5)]
        multi = np.array(self._st["multi"]).reshape(-1, 4)
        return KLRecord(rows[:, 0].astype(int), rows[:, 1], rows[:, 2], rows[:, 3],
                        np.array([s[0] for s in scan], dtype=int), *cols, multi[:, 0].astype(int), multi[:, 1],
                        multi[:, 2], multi[:, 3])


@dataclasses.dataclass(frozen=True)
class WindowSeries:
    """Per PCA window j ≥ 1 of one window length (Fig 3D–E): its end step, κ_j = |cos(PC_{j−1}, PC_j)|,
    how well PC_j is defined, the MLE tail exponent of the window's pooled |Δw| entries and their entropy in
    the same fixed global log bins (Fig S12's update entropy, estimated independently of the MI's bins)."""

    end: np.ndarray          # step after the window's last update
    kappa: np.ndarray        # |cos| between the leading axes of windows j−1 and j
    explained: np.ndarray    # explained-variance ratio of PC_j
    sv_ratio: np.ndarray     # σ₂/σ₁ of window j (near 1: PC_j ill-defined, κ_j noise)
    alpha: np.ndarray        # binned power-law MLE exponent of the |Δw| entries of window j (chapter 1's α)
    alpha_se: np.ndarray
    alpha_at_bound: np.ndarray   # the exponent sits on its search bound
    entropy: np.ndarray      # entropy (nats) of the window's |Δw| entries over the fixed log bins of bin_edges()


@dataclasses.dataclass
class InfoRecord:
    """Result of :class:`InfoProbe`."""

    mi_steps: np.ndarray                 # (n,) update steps t at which MI was measured
    bins: tuple[int, ...]
    pairings: tuple[str, ...]
    mi: np.ndarray                       # (n, n_pairings, n_bins) MI(standardised Δw_t (or |Δw_t|); paired activation)
    mi_quantile: np.ndarray              # (n,) the same MI, first pairing, check_bins equal-frequency bins
    mi_shuffled: np.ndarray              # (n,) the same MI, first pairing, check_bins range bins, pairing shuffled (null)
    check_bins: int
    kappa: dict[int, WindowSeries]       # window length → per-window series
    magnitude: bool = False              # MI of signed Δw (paper 002's released code) or of |Δw|


PAIRINGS = ("post", "pre")


def unit_pairing(model: torch.nn.Module) -> dict[str, np.ndarray]:
    """For each pairing (``"post"``, ``"pre"``) and each entry of an MLP's flat parameter vector, the index into
    :func:`unit_means` of the unit it is paired with (Fig 3D's MI): weight W[i, j] of a Linear layer with its
    post-synaptic unit i or its pre-synaptic unit j (the input pixel for the first layer), a bias with its unit."""
    linears = list(find_layers(model).values())
    sizes = [linears[0].in_features] + [lin.out_features for lin in linears]   # units incl. inputs
    seg = np.concatenate([[0], np.cumsum(sizes)])
    pair = {p: [] for p in PAIRINGS}
    for k, lin in enumerate(linears):
        n_out, n_in = lin.weight.shape
        post = seg[k + 1] + np.arange(n_out)
        pair["post"] += [np.repeat(post, n_in), post]
        pair["pre"] += [np.tile(seg[k] + np.arange(n_in), n_out), post]
    return {p: np.concatenate(v).astype(np.int64) for p, v in pair.items()}


def unit_means(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """Mean response over the inputs ``x`` of every unit of an MLP: the input pixels, then every module of
    :func:`~critnotes.probes.activity.neuron_layers` (float64; the activations of Fig 3D's MI)."""
    with evaluating(model):
        outs = record_activity(model, neuron_layers(model), x)
    return torch.cat([x.flatten(1).mean(0).cpu()] + [o.mean(0) for o in outs]).double().numpy()


@dataclasses.dataclass(frozen=True)
class InfoProbe(Probe):
    """Fig 3D: MI between updates and activations every ``mi_every`` steps, and the leading PC of each
    non-overlapping window of ``w`` updates for every ``w`` in ``windows`` (|cos| between adjacent ones).

    Pairing of the MI: every weight W[i, j] of a Linear layer is paired with the mean response, over a
    fixed probe batch, of its post-synaptic unit i (``"post"``) or its pre-synaptic unit j (``"pre"``; for
    the first layer the input pixel); biases with their own unit.  Paper 002's released code
    (scripts/validation/mi_gradient.py) pairs post-synaptically with per-digit mean activations; both pairings
    are recorded.  ``magnitude=False`` (default, the released code) measures the MI of signed Δw,
    ``True`` that of |Δw| (the text's "magnitude of updates").  Two cross-checks of the range-binned
    estimate on the first pairing with ``check_bins`` bins: equal-frequency bins, and a null with the
    activations shuffled across entries (a fixed permutation).
    At each window's end the |Δw| entries of the window are histogrammed in the fixed log bins of
    :func:`~critnotes.analysis.update_stats.bin_edges`, their tail exponent fitted (binned MLE) — so the tail
    α can be set against MI·κ window by window — and the entropy of that histogram kept (Fig S12).
    """

    steps: int = 20_000
    windows: tuple[int, ...] = (200,)
    mi_every: int = 50
    bins: tuple[int, ...] = (25, 50, 100)
    pairings: tuple[str, ...] = PAIRINGS
    magnitude: bool = False
    check_bins: int = 50
    clip: float | None = None
    n_probe: int = 500
    probe_seed: int = 0
    pc_rank: int = 8
    pc_iter: int = 4
    name: str = "info"

    def wants_delta(self, t: int) -> bool:
        return t < self.steps

    def start(self, run: Run) -> None:
        bad = [p for p in self.pairings if p not in PAIRINGS]
        if bad or not self.windows or min(self.windows) < 2:
            raise ValueError(f"pairings must be among {PAIRINGS} and windows >= 2; got {self.pairings}, {self.windows}")
        linears = find_layers(run.model)                # pairs: Linear weights ↔ their units
        if [s.name for s in run.layers] != list(linears) or len(neuron_layers(run.model)) != len(linears):
            raise ValueError(f"InfoProbe pairs weights with units and needs a stack of Linear layers with one "
                             f"nonlinearity module after each hidden one (an MLP); {type(run.model).__name__} has "
                             f"parameter layers {[s.name for s in run.layers]}, Linear layers {list(linears)}")
        x = probe_inputs(run, self.n_probe, self.probe_seed)
        bufs = {w: torch.empty(w, run.flat.numel(), device=run.device) for w in self.windows}
        perm = np.random.default_rng(self.probe_seed).permutation(run.flat.numel())
        object.__setattr__(self, "_st", {"pair": unit_pairing(run.model), "x": x, "bufs": bufs, "prev": {}, "mi": [],
                                         "checks": [], "perm": perm, "mi_steps": [],
                                         "kappa": {w: [] for w in self.windows}})

    def on_update(self, t: int, delta: torch.Tensor, run: Run) -> None:
        st = self._st
        for w, buf in st["bufs"].items():
            buf[t % w] = delta
            if t % w == w - 1:
                fit, ent = self._tail(buf)
                buf.sub_(buf.mean(0, keepdim=True))         # centre in place: no second window in memory
                lead = leading_pc(buf, center=False, rank=self.pc_rank, niter=self.pc_iter, seed=t)
                if w in st["prev"]:
                    st["kappa"][w].append((t + 1, abs_cosine(st["prev"][w], lead.axis), lead.explained,
                                           lead.sv_ratio, fit.alpha, fit.alpha_se, fit.at_bound, ent))
                st["prev"][w] = lead.axis
        if (t + 1) % self.mi_every == 0:
            d = delta.double().cpu().numpy()
            dw = standardize(np.abs(d) if self.magnitude else d)
            act = standardize(unit_means(run.model, self._st["x"]))
            st["mi"].append([[mutual_information(dw, act[st["pair"][p]], b, clip=self.clip) for b in self.bins]
                             for p in self.pairings])
            a0 = act[st["pair"][self.pairings[0]]]
            st["checks"].append((mutual_information(dw, a0, self.check_bins, binning="quantile"),
                                 mutual_information(dw, a0[st["perm"]], self.check_bins, clip=self.clip)))
            st["mi_steps"].append(t)

    def _tail(self, buf: torch.Tensor):
        """Binned MLE power-law fit of the |Δw| entries of one window (zeros dropped) and the entropy of their
        histogram over the fixed log bins."""
        c = log_histogram(buf).astype(np.float64)
        return fit_powerlaw_binned(bin_edges(), c), float(scipy.stats.entropy(c)) if c.sum() else np.nan

    def finish(self, run: Run) -> InfoRecord:
        st = self._st
        kappa = {}
        for w, rows in st["kappa"].items():
            cols = [np.array([r[i] for r in rows]) for i in range(8)]
            kappa[w] = WindowSeries(cols[0].astype(int), *cols[1:6], cols[6].astype(bool), cols[7])
        checks = np.array(st["checks"]).reshape(-1, 2)
        return InfoRecord(np.array(st["mi_steps"]), tuple(self.bins), tuple(self.pairings),
                          np.array(st["mi"]).reshape(-1, len(self.pairings), len(self.bins)), checks[:, 0],
                          checks[:, 1], self.check_bins, kappa, self.magnitude)
