"""Streaming statistics of the full parameter update |Δw| (paper 002, Figs 1–2, S1–S7), and forward-hook
activity recording, for the book's runs and for any network trained in the user's own loop.

The original work stored every update (steps × parameters: ≈3 GB per 200 steps of the 3.8×10⁶-parameter
MLP).  :class:`UpdateRecorder` instead adds each step's |Δw| of *all* parameters into fixed
log-spaced histogram bins, per layer, per stage window.  Memory does not grow with the number of steps.
It plugs into the book's :func:`~critnotes.training.loop.train` as a probe (the flat update vector, ``on_update``)
or into any loop through optimizer step hooks (:meth:`UpdateRecorder.attach`).

Binning uses the float32 bit pattern: ``(bits >> (23 − k)) & (2^(8+k) − 1)`` is
``exponent·2ᵏ + (top k mantissa bits)`` of |Δw| (the sign bit is masked off), i.e. the bin of |Δw|
among 2ᵏ bins per octave with edges ``2^e · (1 + j/2ᵏ)``.  Each step counts these raw indices over
*every* float32 value (2^(8+k) slots per layer: zeros, subnormals, inf and NaN included); the slots
outside ``[2^min_exp, 2^max_exp)`` are folded into the underflow/overflow counts only once, at the end.
That is exact (no log, no comparison search), so the streamed histogram equals ``numpy.histogram`` on
the stored updates with the same edges (``tests/test_recorder.py``, ``tests/test_own_network.py``).

Two counting back-ends implement this one binning: on the CPU a compiled loop (:func:`count_bins`, numba)
reads each value once and counts into four interleaved copies of the histogram (a run of equal bins
would otherwise serialise on one counter), instead of separate shift, mask and ``bincount`` passes; on
other devices ``index_add_`` adds into a fixed-size device tensor, so recording never synchronises with
the host.  Counts accumulate in a *segment* histogram
that is added to every window active during the segment when the set of active windows changes, so
overlapping windows cost one count per step.
"""
from __future__ import annotations

import dataclasses
import warnings

import numba
import numpy as np
import torch
from torch import nn

from critnotes.analysis.layers import parameter_layers
from critnotes.analysis.update_stats import UpdateStats, bin_edges, raw_slots
from critnotes.probes.base import Probe, Run

#: parameter dtypes the hook path records (|Δw| is formed in float32: exact for float16/bfloat16 values)
HOOK_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
#: interleaved histogram copies of the CPU counting loop
N_COPIES = 4




@numba.njit(nogil=True, cache=True)
def count_bins(bits, shift, mask, base, stride, h):
    """``h[c·stride + base + ((bits[i] >> shift) & mask)] += 1`` for every ``i`` (``bits``: float32 values
    viewed as int32), element ``i`` counted in copy ``c = i mod 4`` of the histogram ``h``."""
    n = bits.size
    m = n - n % 4
    for i in range(0, m, 4):
        h[base + ((bits[i] >> shift) & mask)] += 1
        h[stride + base + ((bits[i + 1] >> shift) & mask)] += 1
        h[2 * stride + base + ((bits[i + 2] >> shift) & mask)] += 1
        h[3 * stride + base + ((bits[i + 3] >> shift) & mask)] += 1
    for i in range(m, n):
        h[base + ((bits[i] >> shift) & mask)] += 1




@dataclasses.dataclass
class _State:
    """Per-run state of an :class:`UpdateRecorder` (kept outside the frozen settings, i.e. the cache key)."""

    layer_names: list[str]
    layer_sizes: list[int]
    slices: list[tuple[int, int]]         # each layer's [start, stop) in the flat update vector
    kernel: bool                          # CPU counting loop (else index_add_)
    raw: int                              # raw slots per layer (every float32 |x|), see UpdateRecorder._raw
    shift: int
    mask: int
    hist: torch.Tensor                    # (n_windows, L·raw) int64: raw slot counts per window
    seg: torch.Tensor                     # (copies, L·raw) int64: counts since the active windows last changed
    track_idx: torch.Tensor | None
    track_steps: np.ndarray               # steps whose tracked row is stored (known from the windows)
    tracked: torch.Tensor | None          # (len(track_steps), track) preallocated
    seg_windows: tuple[int, ...] = ()
    steps: list[int] = dataclasses.field(default_factory=list)
    n_tracked: int = 0
    buf: torch.Tensor | None = None       # index_add_ back-end: raw slot of every value, layer base added
    base: torch.Tensor | None = None
    ones: torch.Tensor | None = None
    # attach(): the recorded parameters, their float32 copies before the step (views into ``prev``), hooks
    params: list = dataclasses.field(default_factory=list)
    prev: torch.Tensor | None = None
    prev_views: list = dataclasses.field(default_factory=list)
    handles: list = dataclasses.field(default_factory=list)
    t: int = 0
    pending: bool = False                 # the pre-step hook copied the parameters for step t

    def tensors(self) -> list[torch.Tensor]:
        return [x for x in (self.hist, self.seg, self.track_idx, self.tracked, self.buf, self.base, self.prev)
                if x is not None]


@dataclasses.dataclass(frozen=True)
class UpdateRecorder(Probe):
    """Streamed log-binned histogram of |Δw| over all trainable parameters at every step of each window.

    ``windows`` are half-open update-step ranges ``[start, stop)`` (paper: 0–10k and 20k–30k); they may
    overlap; a list of lists is accepted.  Bins: ``2**sub_bits`` per octave between ``2**min_exp`` and
    ``2**max_exp`` (see :func:`bin_edges`).  ``track`` parameters chosen at random keep their full signed
    trajectories of updates (every ``track_every`` steps of a window) in a buffer allocated at the start
    (its rows are known from the windows), e.g. for interevent or PCA analyses of a subset.
    ``method``: ``"kernel"`` (compiled CPU loop :func:`count_bins`), ``"scatter"`` (``index_add_``, any
    device, no host synchronisation on CUDA) or ``"auto"`` (kernel on CPU, scatter elsewhere).
    ``every = k`` counts only every k-th step of each window (steps ``start, start + k, …``): a systematic
    1/k sample of the steps, for a cheaper recorder on very large models — the histograms are then those
    of the sampled steps (``UpdateStats.steps`` counts them); ``k = 1`` (the default) counts every step
    exactly.  Tracked rows follow ``track_every`` independently.

    Two ways to use it:

    * as a probe of the book's :func:`~critnotes.training.loop.train` (chapter 1 and every chapter that needs
      |Δw| statistics): ``train(cfg, [UpdateRecorder(...)])``, result in ``res.probes["updates"]``;
    * in any training loop: ``rec = UpdateRecorder(...).attach(model, optimizer)``, train, then
      ``rec.stats()``; ``rec.detach()`` (or ``with rec.attach(...):``) removes the hooks.
    """

    windows: tuple[tuple[int, int], ...] = ((0, 10_000), (20_000, 30_000))
    sub_bits: int = 3
    min_exp: int = -40
    max_exp: int = 8
    track: int = 0
    track_every: int = 1
    track_seed: int = 0
    name: str = "updates"
    method: str = "auto"
    every: int = 1

    def __post_init__(self):
        try:
            windows = tuple((int(a), int(b)) for a, b in self.windows)
        except (TypeError, ValueError):
            raise ValueError(f"windows must be pairs (start, stop) of update steps, got {self.windows!r}") from None
        object.__setattr__(self, "windows", windows)      # hashable even when given as lists
        if not 0 <= self.sub_bits <= 10:
            raise ValueError(f"sub_bits must lie in 0..10 (2**sub_bits bins per octave), got {self.sub_bits}")
        if not -126 <= self.min_exp < self.max_exp <= 128:
            raise ValueError(f"need -126 <= min_exp < max_exp <= 128 (float32 exponents), got "
                             f"min_exp={self.min_exp}, max_exp={self.max_exp}")
        if not windows or any(not 0 <= a < b for a, b in windows):
            raise ValueError(f"windows must be non-empty half-open step ranges (start, stop) with "
                             f"0 <= start < stop, got {self.windows!r}")
        if self.every < 1:
            raise ValueError(f"every must be >= 1 (count every k-th step; 1 = every step), got {self.every}")
        if self.track < 0 or self.track_every < 1:
            raise ValueError(f"need track >= 0 and track_every >= 1, got {self.track}, {self.track_every}")
        if self.method not in ("auto", "kernel", "scatter"):
            raise ValueError(f"unknown method {self.method!r}; choose 'auto', 'kernel' or 'scatter'")

    def wants_delta(self, t: int) -> bool:
        return any(a <= t < b and ((t - a) % self.every == 0 or (self.track and (t - a) % self.track_every == 0))
                   for a, b in self.windows)

    def _counted(self, t: int) -> tuple[int, ...]:
        """The windows that count step ``t`` (it lies in them and on their ``every`` grid)."""
        return tuple(w for w, (a, b) in enumerate(self.windows) if a <= t < b and (t - a) % self.every == 0)

    # ------------------------------------------------------------------ state and counting (both paths)

    def _setup(self, names: list[str], sizes: list[int], device: torch.device) -> _State:
        kernel = self.method == "kernel" or (self.method == "auto" and device.type == "cpu")
        if kernel and device.type != "cpu":
            raise ValueError(f"method='kernel' counts on the CPU but the parameters are on {device}; "
                             f"use method='auto' or 'scatter'")
        raw, shift, mask = self._raw()
        n, L = sum(sizes), len(sizes)
        bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        track_idx, track_steps, tracked = None, np.zeros(0, dtype=np.int64), None
        if self.track:
            if self.track > n:
                raise ValueError(f"track={self.track} exceeds the {n} recorded parameters")
            g = torch.Generator().manual_seed(self.track_seed)
            track_idx = torch.randperm(n, generator=g)[: self.track].sort().values.to(device)
            track_steps = np.unique(np.concatenate([np.arange(a, b, self.track_every) for a, b in self.windows]))
            tracked = torch.empty(len(track_steps), self.track, dtype=torch.float32, device=device)
        st = _State(layer_names=list(names), layer_sizes=list(sizes),
                    slices=[(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])], kernel=kernel,
                    raw=raw, shift=shift, mask=mask,
                    hist=torch.zeros(len(self.windows), L * raw, dtype=torch.int64, device=device),
                    seg=torch.zeros(N_COPIES if kernel else 1, L * raw, dtype=torch.int64, device=device),
                    track_idx=track_idx, track_steps=track_steps, tracked=tracked, steps=[0] * len(self.windows))
        if not kernel:                               # slot of (layer, raw index) = layer * raw + index
            st.buf = torch.empty(n, dtype=torch.int32, device=device)
            st.base = torch.repeat_interleave(torch.arange(L, dtype=torch.int32, device=device) * raw,
                                              torch.tensor(sizes, device=device))
            st.ones = torch.ones(1, dtype=torch.int64, device=device).expand(n)
        object.__setattr__(self, "_state", st)       # frozen dataclass: per-run state lives outside the key
        return st

    def _raw(self) -> tuple[int, int, int]:
        """Raw slots per layer (every float32 |x|: exponent (8 bits) + sub_bits), the shift and the mask."""
        raw = 1 << (8 + self.sub_bits)
        return raw, raw_slots(self.sub_bits, self.min_exp, self.max_exp)[0], raw - 1

    def _open(self, st: _State, active: tuple[int, ...]) -> None:
        """Start counting a step for the windows ``active``: when that set changes, add the segment to the
        windows it served."""
        if active != st.seg_windows:
            self._flush(st)
            st.seg_windows = active

    @staticmethod
    def _flush(st: _State) -> None:
        if st.seg_windows:
            total = st.seg.sum(0)
            for w in st.seg_windows:
                st.hist[w] += total
        st.seg.zero_()

    def _count(self, st: _State, delta: torch.Tensor) -> None:
        """Count the raw slot of every entry of the flat float32 update ``delta`` into the segment."""
        if st.kernel:
            d, h = delta.detach().view(torch.int32).numpy(), st.seg.numpy().reshape(-1)
            for li, (a, b) in enumerate(st.slices):
                count_bins(d[a:b], st.shift, st.mask, li * st.raw, st.seg.shape[1], h)
        else:
            torch.bitwise_right_shift(delta.view(torch.int32), st.shift, out=st.buf)
            st.buf.bitwise_and_(st.mask).add_(st.base)
            st.seg[0].index_add_(0, st.buf, st.ones)

    def _record(self, st: _State, t: int, delta: torch.Tensor, sign: int = 1) -> None:
        """Count step ``t``'s update ``delta`` (± sign) in the windows that count it; keep its tracked row."""
        active = self._counted(t)
        if active:
            self._open(st, active)
            self._count(st, delta)
            for w in active:
                st.steps[w] += 1
        if st.n_tracked < len(st.track_steps) and st.track_steps[st.n_tracked] == t:
            st.tracked[st.n_tracked] = delta[st.track_idx] * sign   # once per step, even if windows overlap
            st.n_tracked += 1

    def _stats(self, st: _State) -> UpdateStats:
        self._flush(st)
        st.seg_windows = ()
        empty = [w for w, n in zip(self.windows, st.steps) if n == 0]
        if empty:
            warnings.warn(f"UpdateRecorder: no update was recorded in the window(s) {empty}, so their "
                          f"histograms are empty; choose windows inside the run's steps", RuntimeWarning,
                          stacklevel=3)
        raw, L = st.raw, len(st.layer_names)
        _, lo, hi = raw_slots(self.sub_bits, self.min_exp, self.max_exp)   # slots of the edges 2^min_exp, 2^max_exp
        h = st.hist.cpu().numpy().reshape(len(self.windows), L, raw)
        tracked = (st.tracked[: st.n_tracked].cpu().numpy() if self.track
                   else np.zeros((0, 0), dtype=np.float32))
        return UpdateStats(
            windows=self.windows, layer_names=list(st.layer_names), layer_sizes=list(st.layer_sizes),
            edges=bin_edges(self.sub_bits, self.min_exp, self.max_exp),
            counts=h[:, :, lo:hi].copy(), under=h[:, :, :lo].sum(axis=2), over=h[:, :, hi:].sum(axis=2),
            steps=np.array(st.steps),
            tracked_index=(st.track_idx.cpu().numpy() if self.track else np.zeros(0, dtype=np.int64)),
            tracked=tracked, tracked_steps=st.track_steps[: st.n_tracked].copy())

    def state_nbytes(self) -> int:
        """Bytes held by the per-run state (histograms, counting buffers, tracked rows, the pre-step copy of
        the hook path): allocated at the start, flat in the number of steps (the benchmark's ``peak_mem_mb``)."""
        st = getattr(self, "_state", None)
        return 0 if st is None else sum(t.untyped_storage().nbytes() for t in st.tensors())

    # ------------------------------------------------------------------ the book's train(): flat updates

    def start(self, run: Run) -> None:
        if run.flat.dtype != torch.float32:
            raise TypeError(f"UpdateRecorder bins float32 bit patterns; the parameters are {run.flat.dtype}")
        total = getattr(run.cfg, "steps", None)
        late = [w for w in self.windows if total is not None and w[0] >= total]
        if late:
            raise ValueError(f"UpdateRecorder window(s) {late} start at or after the run's {total} steps and "
                             f"would stay empty; choose windows inside [0, {total}) or train longer")
        self._setup([s.name for s in run.layers], [s.size for s in run.layers], run.device)

    def on_update(self, t: int, delta: torch.Tensor, run: Run) -> None:
        self._record(self._state, t, delta)

    def finish(self, run: Run) -> UpdateStats:
        return self._stats(self._state)

    # ------------------------------------------------------------------ any loop: optimizer step hooks

    def attach(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> "UpdateRecorder":
        """Record every ``optimizer.step()`` from now on (step 0 is the first step after attaching).

        The recorded parameters are those of ``model`` that ``optimizer`` updates and that require
        gradients (frozen ones and buffers such as BatchNorm statistics are not counted; a tied weight
        counts once, in the first module owning it); layers are the modules owning them, by module name
        (``"model"`` for the model's own parameters).  A pre-step hook copies the window's parameters
        (float32), a post-step hook subtracts the new values and bins the difference, both with one
        ``torch._foreach_*`` call per step; float16/bfloat16 parameters are binned from the float32
        difference of their values.  Returns ``self`` (also a context manager).
        """
        st = getattr(self, "_state", None)
        if st is not None and st.handles:
            raise RuntimeError("this UpdateRecorder is already attached; call detach() first")
        if not isinstance(model, nn.Module) or not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"attach(model, optimizer) needs an nn.Module and a torch.optim.Optimizer, got "
                            f"{type(model).__name__} and {type(optimizer).__name__}")
        updated = {id(p) for g in optimizer.param_groups for p in g["params"]}
        params, names, sizes = [], [], []
        for name, own in parameter_layers(model, keep=lambda p: id(p) in updated):
            for p in own:
                if p.dtype not in HOOK_DTYPES:
                    raise TypeError(f"parameter of {name} is {p.dtype}; UpdateRecorder bins float32 "
                                    f"|Δw| and records float32, float16 or bfloat16 parameters")
            params.extend(own)
            names.append(name)
            sizes.append(sum(p.numel() for p in own))
        if not params:
            raise ValueError(f"no parameter of {type(model).__name__} is both trainable and in the optimizer; "
                             f"pass the optimizer that updates this model")
        devices = {p.device for p in params}
        if len(devices) > 1:
            raise ValueError(f"UpdateRecorder.attach needs the recorded parameters on one device, got {devices}")
        st = self._setup(names, sizes, devices.pop())
        st.params = params
        st.prev = torch.empty(sum(sizes), dtype=torch.float32, device=st.hist.device)
        st.prev_views = [v.view(p.shape) for v, p in zip(torch.split(st.prev, [p.numel() for p in params]), params)]
        st.handles = [optimizer.register_step_pre_hook(lambda opt, args, kwargs: self._before_step()),
                      optimizer.register_step_post_hook(lambda opt, args, kwargs: self._after_step())]
        return self

    @torch.no_grad()
    def _before_step(self) -> None:
        st = self._state
        st.pending = self.wants_delta(st.t)
        if st.pending:
            torch._foreach_copy_(st.prev_views, st.params)

    @torch.no_grad()
    def _after_step(self) -> None:
        st = self._state
        t, st.t = st.t, st.t + 1
        if st.pending:
            torch._foreach_sub_(st.prev_views, st.params)      # prev = w_before − w_after = −Δw (float32)
            self._record(st, t, st.prev, sign=-1)            # |Δw| bins ignore the sign

    def detach(self) -> "UpdateRecorder":
        """Remove the optimizer hooks (the counts so far stay available through :meth:`stats`)."""
        st = getattr(self, "_state", None)
        for h in (st.handles if st is not None else ()):
            h.remove()
        if st is not None:
            st.handles = []
        return self

    def __enter__(self) -> "UpdateRecorder":
        return self

    def __exit__(self, *exc) -> None:
        self.detach()

    def stats(self) -> UpdateStats:
        """The histograms recorded since :meth:`attach` (may be called while attached)."""
        st = getattr(self, "_state", None)
        if st is None or not st.params:
            raise RuntimeError("nothing recorded: call attach(model, optimizer) and train first "
                               "(inside the book's train() the result is res.probes[name])")
        return self._stats(st)


