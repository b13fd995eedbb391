"""Neuronal correlation graphs (NCGs) and their metrics (paper 003 §1, Fig 1; chapter 6).

The activity of ``M`` neurons on a set of probe samples gives a Pearson correlation matrix ``C``;
thresholding ``|C_ij| > C_th`` (``i != j``) gives the NCG.  Definitions used throughout the book:

* ``‖C‖_F`` — Frobenius norm of the *off-diagonal* part, ``sqrt(Σ_{i≠j} C_ij²)`` (the diagonal only
  adds ``√M``).  Note ``‖C‖_F ≤ M``; the paper's scalings ``M^{3/2}``, ``M^{7/4}`` only fit the
  *squared* norm ``Σ_{i≠j} C_ij²`` (≤ M²), which is why chapter 6 fits both.
* ``P(|C| > C_th)`` — fraction of the ``M(M-1)/2`` neuron pairs that are edges; ``⟨k⟩ = 2E/M``.
* Forman–Ricci curvature of an edge of an unweighted graph (Sreejith et al. 2016):
  ``F(u, v) = 4 − k_u − k_v`` (``augmented=True`` adds ``3 ×`` the triangles through the edge);
  ``H_FR`` is the Shannon entropy (nats) of the distribution of ``F`` over the edges.
* Components include isolated neurons (size 1); ``S₁`` is the largest.  The susceptibility is the
  percolation one, the mean size of the component a random node belongs to, giant excluded:
  ``χ = Σ' s² n_s / Σ' s n_s`` (``Σ'`` skips one largest component); 0 if nothing is left.  The
  fluctuation susceptibility ``Var(S₁)/M`` over random probe batches is the other common reading.
* Neurons that never vary on the probe set (dead ReLUs) have no defined correlation: their rows
  of ``C`` are 0 (isolated nodes), and they still count in ``M``.
"""
from __future__ import annotations

import dataclasses
import time
import warnings

import networkx as nx
import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

__all__ = [
    "correlation_matrix", "frobenius_norm", "adjacency", "forman_curvature", "forman_entropy",
    "components", "component_sizes", "susceptibility", "fluctuation_susceptibility", "er_giant_fraction",
    "GraphMetrics", "graph_metrics", "BatchStatistics",
    "batch_statistics", "unit_degree_threshold", "to_networkx",
    "Cliques", "maximal_cliques", "clique_activity", "eigen_spectrum", "spectrum_exponent",
    "explained_variance", "prediction_entropy", "activity_order",
]


def correlation_matrix(activity) -> np.ndarray:
    """Pearson correlation ``C`` (M, M) of neurons from activity ``(n_samples, M)`` (Fig 1a "CM").

    The one owner of neuron–neuron correlation in the package.  Convention for silent neurons (standard
    deviation <= 1e-12 × the largest one, e.g. dead ReLUs): they correlate with nothing, a zero row and
    column *including the diagonal*, so ``np.diag(C) > 0`` marks the active neurons (``C_ii = 1``) and no
    NaN ever appears (``np.corrcoef`` would give NaN rows).
    """
    x = np.asarray(activity, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"activity must be (n_samples >= 2, M), got shape {x.shape}")
    x = x - x.mean(axis=0)
    sd = np.sqrt((x * x).sum(axis=0))
    live = sd > 1e-12 * max(1.0, float(sd.max(initial=0.0)))
    z = np.zeros_like(x)
    z[:, live] = x[:, live] / sd[live]
    c = z.T @ z
    return np.clip(c, -1.0, 1.0)


def frobenius_norm(c) -> float:
    """``‖C‖_F`` over the off-diagonal entries, ``sqrt(Σ_{i≠j} C_ij²)`` (Fig 1b, e, i)."""
    c = np.asarray(c, dtype=np.float64)
    return float(np.sqrt(max((c * c).sum() - (np.diag(c) ** 2).sum(), 0.0)))


def adjacency(c, c_th: float) -> np.ndarray:
    """Boolean adjacency of the NCG: ``|C_ij| > c_th`` for ``i != j``."""
    c = np.asarray(c)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"C must be a square matrix, got shape {c.shape}")
    if not 0.0 <= c_th < 1.0:
        raise ValueError(f"c_th must lie in [0, 1) (|C| <= 1, so c_th >= 1 leaves no edge), got {c_th!r}")
    a = np.abs(c) > c_th
    np.fill_diagonal(a, False)
    return a


def _check_adjacency(a) -> np.ndarray:
    a = np.asarray(a).astype(bool)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or not np.array_equal(a, a.T):
        raise ValueError("adjacency must be a square symmetric matrix (an undirected graph)")
    if a.diagonal().any():
        raise ValueError("adjacency has self-loops; clear the diagonal")
    return a


def forman_curvature(a, augmented: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Forman–Ricci curvature of every edge of an unweighted graph (Sreejith et al. 2016).

    Returns ``(edges (E, 2) with i < j, F (E,))`` with ``F = 4 − k_i − k_j`` (+ 3 × triangles on the
    edge if ``augmented``).  Path a–b–c: 1 per edge; triangle: 0 (augmented 3); star with n leaves: 3 − n.
    Triangles on edge (i, j) are ``|N(i) ∩ N(j)|``, counted on bit-packed adjacency rows edge by edge
    (``O(E·N/8)`` bytes, exact), not by the dense ``N × N`` matrix product.
    """
    a = _check_adjacency(a)
    k = a.sum(axis=1)
    i, j = np.nonzero(np.triu(a, 1))
    f = (4 - k[i] - k[j]).astype(np.int64)
    if augmented:
        f += 3 * _common_neighbours(a, i, j)
    return np.stack([i, j], axis=1), f


def _common_neighbours(a: np.ndarray, i: np.ndarray, j: np.ndarray, chunk_bytes: int = 1 << 26) -> np.ndarray:
    """``|N(i_e) ∩ N(j_e)|`` for every pair ``e`` (popcount of the AND of packed adjacency rows)."""
    bits = np.packbits(a, axis=1)
    out = np.empty(i.size, dtype=np.int64)
    step = max(1, chunk_bytes // max(bits.shape[1], 1))
    for s in range(0, i.size, step):
        both = bits[i[s:s + step]] & bits[j[s:s + step]]
        out[s:s + step] = np.bitwise_count(both).sum(axis=1, dtype=np.int64)
    return out


def forman_entropy(curvature) -> float:
    """``H_FR``: Shannon entropy (nats) of the distribution of edge curvatures (0 for < 2 distinct values)."""
    f = np.asarray(curvature).ravel()
    if f.size == 0:
        return 0.0
    _, counts = np.unique(f, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum()) + 0.0     # + 0.0: no '-0.0' for a single value


def components(a) -> list[np.ndarray]:
    """Node sets of the connected components, largest first (isolated nodes are components of size 1;
    Fig 1g–h's component sizes and activities)."""
    a = _check_adjacency(a)
    _, labels = csgraph.connected_components(sparse.csr_matrix(a), directed=False)
    groups = np.split(np.argsort(labels, kind="stable"), np.cumsum(np.bincount(labels))[:-1])
    return sorted(groups, key=len, reverse=True)


def component_sizes(a) -> np.ndarray:
    """Sizes of the connected components, largest first (isolated nodes are components of size 1)."""
    a = _check_adjacency(a)
    _, labels = csgraph.connected_components(sparse.csr_matrix(a), directed=False)
    return np.sort(np.bincount(labels))[::-1]


def susceptibility(sizes) -> float:
    """Percolation susceptibility ``χ = Σ' s² n_s / Σ' s n_s`` over component sizes, one largest excluded."""
    s = np.sort(np.asarray(sizes, dtype=np.float64).ravel())[::-1]
    if (s < 1).any():
        raise ValueError("component sizes must be >= 1")
    rest = s[1:]
    return float((rest ** 2).sum() / rest.sum()) if rest.size else 0.0


def fluctuation_susceptibility(s1_samples, m: int) -> float:
    """Fluctuation susceptibility ``χ_f = Var(S₁)/M`` of the largest component over samples of the NCG (e.g.
    random probe batches, :func:`batch_statistics`): the reading of χ that needs no component distribution."""
    s = np.asarray(s1_samples, dtype=np.float64).ravel()
    if s.size < 2 or m < 1:
        raise ValueError(f"need >= 2 samples of S1 and M >= 1, got {s.size} samples and M = {m}")
    return float(s.var(ddof=1) / m)


def er_giant_fraction(m: int, mean_degree: float, *, n_graphs: int = 20, seed: int = 0) -> float:
    """Mean ``S₁/M`` of ``n_graphs`` Erdős–Rényi graphs G(M, p = ⟨k⟩/(M − 1)): the null that any graph with this
    mean degree reaches (finite-size, so ``S₁ ∝ M^{2/3}`` at ⟨k⟩ = 1 and ``S₁/M → 1 − e^{−⟨k⟩S₁/M}`` above)."""
    if m < 2 or not 0 <= mean_degree <= m - 1:
        raise ValueError(f"need M >= 2 and 0 <= <k> <= M - 1, got M = {m}, <k> = {mean_degree}")
    rng = np.random.default_rng(seed)
    p = mean_degree / (m - 1)
    out = []
    for _ in range(n_graphs):
        a = np.triu(rng.random((m, m)) < p, 1)
        out.append(component_sizes(a | a.T)[0] / m)
    return float(np.mean(out))


@dataclasses.dataclass(frozen=True)
class GraphMetrics:
    """The Fig 1b scalars of one NCG (:func:`graph_metrics`)."""

    frob: float             # ‖C‖_F (off-diagonal)
    frob2: float            # its square Σ_{i≠j} C_ij² (the quantity the paper's M^{3/2}, M^{7/4} can describe)
    abs_sum: float          # Σ_{i≠j} |C_ij| (≤ M², the other quantity the paper's normalisation by M² allows)
    n_edges: int
    p_edge: float           # P(|C| > C_th): fraction of neuron pairs that are edges
    mean_degree: float      # ⟨k⟩ = 2E/M
    h_fr: float             # Forman–Ricci entropy (nats)
    s1: int                 # largest component (neurons)
    chi: float              # percolation susceptibility, giant excluded
    n_components: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def graph_metrics(c, c_th: float, augmented: bool = False) -> GraphMetrics:
    """All Fig 1b scalars of the NCG of ``C`` at ``c_th``."""
    a = adjacency(c, c_th)
    m = a.shape[0]
    _, f = forman_curvature(a, augmented)
    sizes = component_sizes(a)
    n_e = int(f.size)
    frob = frobenius_norm(c)
    off = np.abs(np.asarray(c, dtype=np.float64))
    abs_sum = float(off.sum() - np.trace(off))
    return GraphMetrics(frob=frob, frob2=frob ** 2, abs_sum=abs_sum, n_edges=n_e, p_edge=2 * n_e / max(m * (m - 1), 1),
                        mean_degree=2 * n_e / m, h_fr=forman_entropy(f), s1=int(sizes[0]),
                        chi=susceptibility(sizes), n_components=int(sizes.size))


def unit_degree_threshold(c) -> float:
    """The threshold at which the NCG of ``C`` has mean degree ⟨k⟩ ≈ 1 (E = ⌊M/2⌋ edges, ties aside): the
    Erdős–Rényi percolation point, where ``S₁ ∝ M`` can fail (random graphs give ``S₁ ∝ M^{2/3}`` there)."""
    c = np.asarray(c, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] < 3:
        raise ValueError(f"C must be a square matrix with M >= 3, got shape {c.shape}")
    pairs = np.sort(np.abs(c[np.triu_indices(c.shape[0], 1)]))[::-1]
    return float(min(pairs[c.shape[0] // 2], np.nextafter(1.0, 0.0)))


@dataclasses.dataclass(frozen=True)
class BatchStatistics:
    """Edge counts and largest components of the NCGs of random probe batches (:func:`batch_statistics`)."""

    n_edges: np.ndarray     # (n_batches,)
    s1: np.ndarray          # (n_batches,)


def batch_statistics(activity, c_th: float, *, n_batches: int = 50, batch_size: int = 64,
                     seed: int = 0) -> BatchStatistics:
    """Edge count ``N_E`` and ``S₁`` of the NCGs of ``n_batches`` random probe batches (Fig 1b, p(N_E)).

    ``activity`` is ``(n_samples, M)``; each batch draws ``batch_size`` samples without replacement.
    """
    x = np.asarray(activity)
    if not 2 <= batch_size <= x.shape[0]:
        raise ValueError(f"batch_size must lie in [2, n_samples={x.shape[0]}], got {batch_size}")
    rng = np.random.default_rng(seed)
    ne, s1 = np.empty(n_batches, dtype=np.int64), np.empty(n_batches, dtype=np.int64)
    for b in range(n_batches):
        a = adjacency(correlation_matrix(x[rng.choice(x.shape[0], batch_size, replace=False)]), c_th)
        ne[b] = a.sum() // 2
        s1[b] = component_sizes(a)[0]
    return BatchStatistics(n_edges=ne, s1=s1)


def to_networkx(c, c_th: float) -> nx.Graph:
    """The NCG as a networkx graph; each edge carries ``weight = C_ij`` (signed) for drawing."""
    a = adjacency(c, c_th)
    g = nx.Graph()
    g.add_nodes_from(range(a.shape[0]))
    i, j = np.nonzero(np.triu(a, 1))
    g.add_weighted_edges_from(zip(i.tolist(), j.tolist(), np.asarray(c)[i, j].tolist()))
    return g


@dataclasses.dataclass(frozen=True)
class Cliques:
    """Result of :func:`maximal_cliques`: the cliques found and whether (and why) enumeration stopped early."""

    cliques: list[list[int]]
    truncated: bool
    reason: str             # "" when complete, else which budget stopped it (a truncated set is a biased subset)
    visits: int             # Bron–Kerbosch search nodes visited (the work done)
    seconds: float


def maximal_cliques(a, max_cliques: int = 20_000, *, max_visits: int | None = 200_000,
                    max_seconds: float | None = None) -> Cliques:
    """Maximal cliques with >= 2 nodes of the graph with adjacency ``a`` (Fig 1g), within a count, work and time budget.

    Bron–Kerbosch with Tomita pivoting on bit-set rows (the same cliques as ``networkx.find_cliques``;
    tested).  Dense graphs have exponentially many cliques, and even a few large ones can take long,
    so enumeration stops at whichever comes first: ``max_cliques`` cliques, ``max_visits`` search nodes
    (deterministic), or ``max_seconds`` of wall time (``None``: no limit).  ``truncated`` and ``reason``
    say which; a truncated enumeration's clique sizes are a biased subset and must not be fitted as if
    complete.  Cliques are lists of node indices (rows of ``a``).
    """
    if isinstance(a, nx.Graph):
        raise TypeError("maximal_cliques takes an adjacency matrix; pass graphs.adjacency(c, c_th) "
                        "(or nx.to_numpy_array(g) for a networkx graph)")
    a = _check_adjacency(a)
    if max_cliques < 1:
        raise ValueError(f"max_cliques must be >= 1, got {max_cliques}")
    if max_visits is not None and max_visits < 1:
        raise ValueError(f"max_visits must be >= 1 or None (no work limit), got {max_visits}")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds must be > 0 or None (no time limit), got {max_seconds}")
    t0 = time.perf_counter()
    nodes = np.flatnonzero(a.any(axis=1)).tolist()
    if not nodes:
        return Cliques([], False, "", 0, time.perf_counter() - t0)
    packed = np.packbits(a[np.ix_(nodes, nodes)], axis=1, bitorder="little")
    nbr = [int.from_bytes(row.tobytes(), "little") for row in packed]
    found: list[list[int]] = []
    visits, reason = 0, ""
    stack = [_frame([], (1 << len(nodes)) - 1, 0, nbr)]      # search nodes (R, P, X, branches left)
    while stack:
        r, p, x, todo = stack[-1]
        if not todo:
            stack.pop()
            continue
        bit = todo & -todo
        v = bit.bit_length() - 1
        stack[-1] = (r, p & ~bit, x | bit, todo ^ bit)
        visits += 1
        if max_visits is not None and visits > max_visits:
            reason = f"work budget of {max_visits} search nodes reached"
            break
        if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
            reason = f"time budget of {max_seconds:g} s reached"
            break
        p_v, x_v = p & nbr[v], x & nbr[v]
        if p_v:
            stack.append(_frame(r + [v], p_v, x_v, nbr))
        elif not x_v:
            found.append([nodes[u] for u in r + [v]])
            if len(found) > max_cliques:
                found.pop()
                reason = f"cap of {max_cliques} cliques reached"
                break
    return Cliques(found, bool(reason), reason, visits, time.perf_counter() - t0)


def _frame(r: list[int], p: int, x: int, nbr: list[int]) -> tuple:
    """A search node: clique ``r`` so far, candidates ``p``, excluded ``x`` and the branches left, ``p`` minus
    the neighbours of the Tomita pivot (the vertex of ``p ∪ x`` with most neighbours in ``p``)."""
    pivot = max(_bits(p | x), key=lambda u: (p & nbr[u]).bit_count())
    return r, p, x, p & ~nbr[pivot]


def _bits(m: int):
    """Indices of the set bits of ``m``, lowest first."""
    while m:
        low = m & -m
        yield low.bit_length() - 1
        m ^= low


def clique_activity(cliques, mean_abs_activity) -> np.ndarray:
    """``a_C``: summed mean absolute activity of the neurons of each clique, or of each component (Fig 1h)."""
    a = np.asarray(mean_abs_activity, dtype=np.float64)
    return np.array([a[list(q)].sum() for q in cliques])


def eigen_spectrum(c) -> np.ndarray:
    """Eigenvalues of ``C`` restricted to active neurons (non-zero diagonal), largest first."""
    c = np.asarray(c, dtype=np.float64)
    live = np.diag(c) > 0
    return np.linalg.eigvalsh(c[np.ix_(live, live)])[::-1]


def spectrum_exponent(eigs, rank_range=(2, None)):
    """The eigen-spectrum ``λ_n ∝ n^-α`` (Stringer et al. 2019; Fig 1d) as a least-squares line on
    log–log (rank, eigenvalue) over ranks ``rank_range`` (default: 2 to half the number of
    eigenvalues): a :class:`critnotes.analysis.fitting.LineFit` with ``α = −slope``.
    """
    from critnotes.analysis.fitting import loglog_fit

    lam = np.asarray(eigs, dtype=np.float64)
    lo, hi = rank_range
    hi = max(lam.size // 2, 3) if hi is None else hi
    ranks = np.arange(1, lam.size + 1)
    return loglog_fit(ranks, np.clip(lam, 0, None), xrange=(lo, hi))


def explained_variance(eigs, n: int = 10) -> np.ndarray:
    """Cumulative fraction of variance explained by the leading ``n`` principal components."""
    lam = np.clip(np.asarray(eigs, dtype=np.float64), 0, None)
    if lam.sum() <= 0:
        return np.zeros(n)
    cum = np.cumsum(lam) / lam.sum()
    return np.concatenate([cum, np.ones(max(n - cum.size, 0))])[:n]


def prediction_entropy(logits) -> float:
    """``S_pred = ⟨−Σ_c p_c ln p_c⟩``: mean Shannon entropy (nats) of the softmax outputs (Fig 1d)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-(np.exp(logp) * logp).sum(axis=1).mean())


def activity_order(activity, *, n_pcs: int = 64, n_clusters: int = 30, locality: float = 0.5) -> np.ndarray:
    """Rastermap ordering of neurons from activity ``(n_samples, M)`` (Fig 1a "RM").

    Constant (dead) neurons cannot be sorted by rastermap; they are appended at the end.
    ``n_pcs`` and ``n_clusters`` are capped by the data size.
    """
    from rastermap import Rastermap

    x = np.asarray(activity, dtype=np.float32)
    live = np.flatnonzero(x.std(axis=0) > 0)
    dead = np.setdiff1d(np.arange(x.shape[1]), live)
    if live.size < 3:
        return np.concatenate([live, dead])
    n_pcs = int(min(n_pcs, live.size - 1, x.shape[0] - 1))
    n_clusters = int(min(n_clusters, live.size // 2))
    model = Rastermap(n_PCs=n_pcs, n_clusters=max(n_clusters, 2), locality=locality, verbose=False)
    with warnings.catch_warnings():      # <= 50 neurons: rastermap sorts them directly, as intended
        warnings.filterwarnings("ignore", message="data has <= 50 samples")
        model.fit(x[:, live].T.copy())
    return np.concatenate([live[model.isort], dead])
