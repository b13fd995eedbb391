"""Chapter 6 (connectivity): scaling fits, transition read-out, NCG distributions, and a tiny end-to-end run."""
import dataclasses
import json

import matplotlib
import numpy as np
import pytest

from critnotes.book.chapters import connectivity as ch
from critnotes.training.runs import CriticalRunConfig
from critnotes.training.sweeps import Failed

matplotlib.use("Agg")


def test_loglog_fit_recovers_planted_exponent():
    m = np.array([30, 50, 90, 170, 330, 650])
    rng = np.random.default_rng(0)
    y = 2.0 * m ** 1.75 * np.exp(rng.normal(scale=0.05, size=m.size))
    fit = ch.loglog_fit(m, y)
    assert fit["exponent"] == pytest.approx(1.75, abs=3 * fit["se"] + 0.02)
    assert 0 < fit["se"] < 0.1 and fit["n_points"] == 6
    exact = ch.loglog_fit(m, 3.0 * m ** 0.5)
    assert exact["exponent"] == pytest.approx(0.5) and exact["se"] == pytest.approx(0.0, abs=1e-9)
    # zeros (e.g. no edges at all) are dropped; fewer than 3 points gives no exponent
    assert ch.loglog_fit([1, 2, 3, 4], [0, 0, 5, 6])["exponent"] is None


def test_shift_fit_skips_failed_and_diverged_points():
    pts = [{"lr": 0.01, "t_c": 400, "diverged": False}, {"lr": 0.1, "t_c": 40, "diverged": False},
           {"lr": 1.0, "t_c": 4, "diverged": False}, {"lr": 3.0, "t_c": 1, "diverged": True},
           Failed({"lr": 10.0}, "boom")]
    fit = ch.shift_fit(pts, "lr")
    assert fit["exponent"] == pytest.approx(-1.0)
    assert fit["values"] == {"0.01": 400, "0.1": 40, "1.0": 4}


def test_ncg_distributions_planted_blocks():
    # two blocks of perfectly correlated neurons (sizes 4 and 3) plus 3 independent ones
    rng = np.random.default_rng(3)
    z = rng.normal(size=(300, 5))
    x = np.column_stack([z[:, [0]].repeat(4, 1), z[:, [1]].repeat(3, 1), z[:, 2:]])
    c = ch.graphs.correlation_matrix(x)
    d = ch.ncg_distributions(c, x, 0.5, max_cliques=100)
    assert sorted(d["degree"].tolist()) == [2, 2, 2, 3, 3, 3, 3]
    assert sorted(d["clique_size"].tolist()) == [3, 4]
    mean_abs = np.abs(x).mean(axis=0)
    assert sorted(d["clique_activity"].tolist()) == pytest.approx(sorted([mean_abs[:4].sum(), mean_abs[4:7].sum()]))
    assert not d["truncated"]


def test_transition_index_and_config_errors():
    assert ch.transition_index(np.array([1.0, 3.0, np.nan, 2.0])) == 1
    with pytest.raises(ValueError, match="c_th"):
        ch.run(dataclasses.replace(ch.PROFILES["ci"], c_th=0.55), progress=False)
    with pytest.raises(ValueError, match="phase"):
        ch.plot_distributions(None, phase="middle")


def test_tiny_chapter_end_to_end():
    """One small run of everything (4 tiny trainings; the single Rastermap fit of the test suite)."""
    run = CriticalRunConfig(width=8, steps=60, n_checkpoints=8, n_probe=100)
    cfg = ch.ConnectivityConfig(run=run, thresholds=(0.5, 0.9), n_batches=4, batch_probe=50, fss_widths=(5, 8, 12),
                                fss_steps=60, fss_checkpoints=8, lrs=(0.05, 0.1), batch_sizes=(64,),
                                shift_steps=60, shift_checkpoints=8, max_cliques=500, rastermap_pcs=10,
                                rastermap_clusters=5)
    res = ch.run(cfg, progress=False)
    m = res.n_neurons
    assert m == 2 * 8 + 10 and sorted(res.order.tolist()) == list(range(m))
    assert res.corr.shape == (len(res.steps), m, m)
    assert res.t_c == res.steps[int(np.argmax(res.metrics[0.5]["frob"]))]
    assert np.all(res.metrics[0.9]["n_edges"] <= res.metrics[0.5]["n_edges"])      # higher threshold, fewer edges
    assert res.batch["n_edges"].shape == (len(res.steps), 4)
    assert res.delta_i[0] == 0 and np.all(res.s_pred <= np.log(10) + 1e-9)
    assert [p["M"] for p in res.fss] == [20, 26, 34]
    fss = ch.scaling(res)
    assert fss["end"]["s1"]["n_points"] == 3
    claims = ch.claims(res)
    ids = [c.id for c in claims]
    for want in ("connectivity.transition_time", "connectivity.fss.transition.frob", "connectivity.fss.end.mean_degree",
                 "connectivity.degree_exponent.end", "connectivity.clique_size_exponent.transition",
                 "connectivity.shift.lr", "connectivity.shift.batch"):
        assert want in ids
    assert sum(i.startswith("connectivity.fss.") for i in ids) == 6
    shift = next(c for c in claims if c.id == "connectivity.shift.lr")     # two ν values: too few for a slope
    assert shift.measured is None and shift.agrees is None and len(shift.detail["values"]) == 2
    tc = next(c for c in claims if c.id == "connectivity.transition_time")
    assert tc.measured == res.t_c
    json.dumps([c.as_dict() for c in claims])
    for plot in (ch.plot_snapshots, ch.plot_metrics, ch.plot_scaling, ch.plot_distributions, ch.plot_shift):
        fig = plot(res)
        assert fig.axes and all(ax.get_xlabel() or not ax.axison for ax in fig.axes if ax.get_label() != "<colorbar>")
        matplotlib.pyplot.close(fig)
