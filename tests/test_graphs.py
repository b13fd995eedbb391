"""Graph metrics of neuronal correlation graphs against hand-computed graphs (chapter 6)."""
import networkx as nx
import numpy as np
import pytest

from critnotes.analysis import graphs


def adj(g: nx.Graph) -> np.ndarray:
    return nx.to_numpy_array(g, nodelist=sorted(g.nodes)).astype(bool)


def corr_of(g: nx.Graph, value: float = 0.8) -> np.ndarray:
    """A 'correlation matrix' whose NCG at C_th = 0.5 is g (negative weights on odd edges)."""
    a = adj(g)
    c = np.zeros(a.shape)
    i, j = np.nonzero(np.triu(a, 1))
    c[i, j] = value * np.where(np.arange(i.size) % 2, -1, 1)
    c = c + c.T
    np.fill_diagonal(c, 1.0)
    return c


def test_forman_curvature_path_triangle_star():
    _, f = graphs.forman_curvature(adj(nx.path_graph(3)))             # degrees 1-2-1: 4-1-2 = 1
    assert f.tolist() == [1, 1]
    _, f = graphs.forman_curvature(adj(nx.path_graph(5)))             # end edges 1, inner edges 0
    assert sorted(f.tolist()) == [0, 0, 1, 1]
    _, f = graphs.forman_curvature(adj(nx.complete_graph(3)))         # 4-2-2 = 0
    assert f.tolist() == [0, 0, 0]
    _, f = graphs.forman_curvature(adj(nx.complete_graph(3)), augmented=True)   # + 3 × 1 triangle
    assert f.tolist() == [3, 3, 3]
    _, f = graphs.forman_curvature(adj(nx.star_graph(5)))             # hub 5, leaf 1: 4-5-1 = -2
    assert f.tolist() == [-2] * 5


def test_forman_entropy():
    assert graphs.forman_entropy([0, 0, 0]) == 0.0
    assert graphs.forman_entropy([]) == 0.0
    _, f = graphs.forman_curvature(adj(nx.path_graph(5)))             # two values, each half
    assert graphs.forman_entropy(f) == pytest.approx(np.log(2))
    assert graphs.forman_entropy([1, 2, 3, 3]) == pytest.approx(-(2 * 0.25 * np.log(0.25) + 0.5 * np.log(0.5)))


def test_components_and_susceptibility():
    g = nx.disjoint_union_all([nx.path_graph(5), nx.complete_graph(3), nx.path_graph(2),
                               nx.empty_graph(1), nx.empty_graph(1)])
    sizes = graphs.component_sizes(adj(g))
    assert sizes.tolist() == [5, 3, 2, 1, 1]
    # χ = Σ' s² / Σ' s without the giant: (9 + 4 + 1 + 1) / (3 + 2 + 1 + 1)
    assert graphs.susceptibility(sizes) == pytest.approx(15 / 7)
    assert graphs.susceptibility([7]) == 0.0
    assert graphs.susceptibility([1, 1, 1, 1]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=">= 1"):
        graphs.susceptibility([3, 0])
    groups = graphs.components(adj(g))
    assert [len(q) for q in groups] == [5, 3, 2, 1, 1]
    assert sorted(groups[1].tolist()) == [5, 6, 7] and sorted(np.concatenate(groups).tolist()) == list(range(12))


def test_unit_degree_threshold_gives_mean_degree_one():
    rng = np.random.default_rng(4)
    for m in (11, 40):
        c = graphs.correlation_matrix(rng.normal(size=(50, m)) + rng.normal(size=(50, 1)))
        th = graphs.unit_degree_threshold(c)
        assert graphs.graph_metrics(c, th).n_edges == m // 2
    with pytest.raises(ValueError, match="square"):
        graphs.unit_degree_threshold(np.ones((2, 3)))


def test_graph_metrics_on_planted_correlations():
    g = nx.disjoint_union(nx.star_graph(4), nx.complete_graph(3))     # 8 nodes, 4 + 3 edges
    c = corr_of(g)
    m = graphs.graph_metrics(c, 0.5)
    assert m.n_edges == 7
    assert m.mean_degree == pytest.approx(14 / 8)
    assert m.p_edge == pytest.approx(7 / 28)
    assert m.s1 == 5 and m.n_components == 2
    assert m.chi == pytest.approx(3.0)
    assert m.frob == pytest.approx(np.sqrt(14 * 0.64))              # diagonal excluded
    # star edges 4-4-1 = -1 (×4), triangle edges 0 (×3): entropy of (4/7, 3/7)
    assert m.h_fr == pytest.approx(-(4 / 7 * np.log(4 / 7) + 3 / 7 * np.log(3 / 7)))
    assert graphs.graph_metrics(c, 0.9).n_edges == 0


def test_correlation_matrix_dead_neurons_and_errors():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3))
    x = np.column_stack([x, x[:, 0] * 2 + 1, np.zeros(500)])           # copy of neuron 0, a dead neuron
    c = graphs.correlation_matrix(x)
    assert c[0, 3] == pytest.approx(1.0)
    np.testing.assert_allclose(c[:4, :4], np.corrcoef(x[:, :4].T), atol=1e-12)
    assert not c[4].any()
    assert graphs.component_sizes(graphs.adjacency(c, 0.5)).tolist() == [2, 1, 1, 1]
    with pytest.raises(ValueError, match="c_th"):
        graphs.adjacency(c, 1.0)
    with pytest.raises(ValueError, match="n_samples"):
        graphs.correlation_matrix(np.zeros(5))
    with pytest.raises(ValueError, match="symmetric"):
        graphs.component_sizes(np.triu(np.ones((3, 3)), 1))


def test_networkx_graph_and_cliques():
    g = nx.disjoint_union_all([nx.complete_graph(4), nx.path_graph(3), nx.empty_graph(2)])
    c = corr_of(g)
    h = graphs.to_networkx(c, 0.5)
    assert h.number_of_nodes() == 9 and h.number_of_edges() == 8
    assert {d["weight"] for *_, d in h.edges(data=True)} == {0.8, -0.8}
    cl = graphs.maximal_cliques(graphs.adjacency(c, 0.5))
    assert not cl.truncated and cl.reason == ""
    assert sorted(len(q) for q in cl.cliques) == [2, 2, 4]              # isolated nodes are omitted
    act = np.arange(9, dtype=float)
    assert sorted(graphs.clique_activity(cl.cliques, act).tolist()) == [0 + 1 + 2 + 3, 4 + 5, 5 + 6]
    with pytest.raises(TypeError, match="adjacency"):
        graphs.maximal_cliques(h)


def test_maximal_cliques_equal_networkx_on_random_graphs():
    for seed in range(4):
        for p in (0.05, 0.3, 0.7):
            g = nx.gnp_random_graph(40, p, seed=seed)
            ref = {frozenset(q) for q in nx.find_cliques(g) if len(q) >= 2}
            cl = graphs.maximal_cliques(adj(g), max_cliques=10 ** 9, max_visits=None)
            assert not cl.truncated
            assert len(cl.cliques) == len(ref) and {frozenset(q) for q in cl.cliques} == ref


def test_maximal_cliques_budgets_truncate_honestly():
    a = adj(nx.complete_multipartite_graph(*[3] * 8))                 # 3^8 = 6561 maximal cliques of size 8
    full = graphs.maximal_cliques(a, max_cliques=6561)
    assert not full.truncated and len(full.cliques) == 6561           # exactly at the cap: complete
    cl = graphs.maximal_cliques(a, max_cliques=100)
    assert cl.truncated and len(cl.cliques) == 100 and "cap of 100" in cl.reason
    cl = graphs.maximal_cliques(a, max_visits=500)
    assert cl.truncated and cl.visits == 501 and "work budget of 500" in cl.reason
    assert 0 < len(cl.cliques) < 6561 and all(len(q) == 8 for q in cl.cliques)
    cl = graphs.maximal_cliques(a, max_visits=None, max_seconds=1e-4)
    assert cl.truncated and "time budget" in cl.reason and len(cl.cliques) < 6561
    with pytest.raises(ValueError, match="max_visits"):
        graphs.maximal_cliques(a, max_visits=0)
    with pytest.raises(ValueError, match="max_seconds"):
        graphs.maximal_cliques(a, max_seconds=0)


def test_augmented_forman_equals_dense_matrix_product():
    """Triangles per edge from packed rows == (A @ A)[i, j] of the old dense int64 formula."""
    rng = np.random.default_rng(5)
    for n, p in ((30, 0.1), (70, 0.5), (120, 0.9), (9, 0.0)):
        a = np.triu(rng.random((n, n)) < p, 1)
        a = a | a.T
        edges, f = graphs.forman_curvature(a, augmented=True)
        ai = a.astype(np.int64)
        k = ai.sum(axis=1)
        i, j = edges.T
        np.testing.assert_array_equal(f, 4 - k[i] - k[j] + 3 * (ai @ ai)[i, j])
        assert f.dtype == np.int64


def test_augmented_forman_hand_computed():
    """K4 minus edge (0, 3): edge (1, 2) has degrees 3, 3 and 2 triangles → 4 − 6 + 6 = 4; edge (0, 1) has
    degrees 2, 3 and 1 triangle → 4 − 5 + 3 = 2."""
    g = nx.complete_graph(4)
    g.remove_edge(0, 3)
    edges, f = graphs.forman_curvature(adj(g), augmented=True)
    got = dict(zip(map(tuple, edges.tolist()), f.tolist()))
    assert got == {(0, 1): 2, (0, 2): 2, (1, 2): 4, (1, 3): 2, (2, 3): 2}


def test_batch_statistics_planted_blocks():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(400, 2))
    x = np.column_stack([z[:, [0]] + 0.1 * rng.normal(size=(400, 5)), z[:, [1]] + 0.1 * rng.normal(size=(400, 3)),
                         rng.normal(size=(400, 4))])
    st = graphs.batch_statistics(x, 0.5, n_batches=20, batch_size=100, seed=0)
    assert (st.s1 == 5).all()
    assert (st.n_edges >= 10 + 3).all() and st.n_edges.mean() < 10 + 3 + 2
    with pytest.raises(ValueError, match="batch_size"):
        graphs.batch_statistics(x, 0.5, batch_size=1000)


def test_spectrum_exponent_planted():
    rng = np.random.default_rng(2)
    n, alpha = 200, 1.0
    lam = np.arange(1, n + 1) ** -alpha
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    cov = (q * lam) @ q.T
    d = np.sqrt(np.diag(cov))
    eigs = np.sort(np.linalg.eigvalsh(cov))[::-1]
    fit = graphs.spectrum_exponent(eigs, rank_range=(2, 50))
    assert -fit.slope == pytest.approx(alpha, abs=0.02) and fit.x_range == (2.0, 50.0)
    c = cov / np.outer(d, d)
    assert graphs.eigen_spectrum(c).sum() == pytest.approx(n)
    ev = graphs.explained_variance([3.0, 1.0], n=3)
    np.testing.assert_allclose(ev, [0.75, 1.0, 1.0])


def test_prediction_entropy():
    assert graphs.prediction_entropy(np.zeros((4, 10))) == pytest.approx(np.log(10))
    assert graphs.prediction_entropy(np.array([[100.0, 0, 0]])) == pytest.approx(0.0, abs=1e-12)
    p = np.array([0.5, 0.25, 0.25])
    assert graphs.prediction_entropy(np.log(p)[None]) == pytest.approx(-(p * np.log(p)).sum())


def test_silent_neuron_convention_is_shared_by_every_correlation_user():
    from critnotes.analysis import connections as cs
    from critnotes.analysis import criticality as crit
    rng = np.random.default_rng(1)
    x = np.column_stack([rng.normal(size=(300, 4)), np.full(300, 3.0)])  # neuron 4 is silent
    x[:, 1] += x[:, 0]
    c = graphs.correlation_matrix(x)
    assert np.isfinite(c).all() and c[4, 4] == 0 and np.diag(c)[:4] == pytest.approx(1.0)
    ref = np.corrcoef(x[:, :4].T)                                        # the live block, by numpy
    np.testing.assert_allclose(cs.abs_correlations(x), np.abs(ref[np.triu_indices(4, 1)]), atol=1e-12)
    off = ref - np.eye(4)
    assert crit.correlation_frobenius(x[None])[0] == pytest.approx(np.sqrt((off ** 2).sum()), rel=1e-12)


def test_abs_sum_and_fluctuation_susceptibility_by_hand():
    c = np.array([[1.0, 0.6, -0.2], [0.6, 1.0, 0.0], [-0.2, 0.0, 1.0]])
    m = graphs.graph_metrics(c, 0.5)
    assert m.abs_sum == pytest.approx(2 * (0.6 + 0.2)) and m.frob2 == pytest.approx(2 * (0.36 + 0.04))
    assert graphs.fluctuation_susceptibility([3, 5], 4) == pytest.approx(2.0 / 4)
    with pytest.raises(ValueError, match="2 samples"):
        graphs.fluctuation_susceptibility([3], 4)


def test_er_giant_fraction_matches_the_mean_field_solution():
    # above percolation S/M solves S = 1 − exp(−⟨k⟩ S): 0.797 at ⟨k⟩ = 2; far below, S₁/M → 0
    assert graphs.er_giant_fraction(2000, 2.0, n_graphs=5) == pytest.approx(0.797, abs=0.03)
    assert graphs.er_giant_fraction(2000, 0.3, n_graphs=5) < 0.01
    assert graphs.er_giant_fraction(50, 49.0, n_graphs=2) == 1.0
    with pytest.raises(ValueError, match="M - 1"):
        graphs.er_giant_fraction(10, 12.0)
