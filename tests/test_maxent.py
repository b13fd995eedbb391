"""Chapter `maxent`: summaries on hand-made records, and the results contract on the ci profile."""
import json

import numpy as np

from critnotes.book.chapters import maxent as ch
from critnotes.probes.information_probes import KLRecord


def _record(kl, quad, fim):
    n = len(kl)
    radii = np.array([[0.1, 1.0, 10.0]])
    return KLRecord(np.arange(n), np.array(kl), np.array(quad), np.ones(n), np.array([0]), radii,
                    np.array([[1e-4, 1e-2, 1.0]]), np.array([[1e-4, 1e-2, 1.0]]), np.array([fim]))


def test_kl_agreement_and_scan_slopes_hand_computed():
    rec = _record([1.0, 2.0, 4.4], [1.0, 2.2, 4.0], [3.0, 3.0, 3.0])
    a = ch.kl_agreement(rec)
    assert np.isclose(a["median_rel_err"], 1 - 2 / 2.2)                # median of 0, 0.0909, 0.1
    s = ch.scan_slopes(rec)
    assert np.isclose(s["fim_slope"], 0.0) and np.isclose(s["kl_slope"], 2.0)


def test_reproduce_ci_follows_results_contract(tmp_path):
    res = ch.reproduce("ci", progress=False)
    d = json.loads(res.to_json())
    assert d["chapter"] == "maxent" and d["profile"] == "ci"
    ids = [c["id"] for c in d["claims"]]
    assert "maxent.alpha_equals_lambda_kappa" in ids and "maxent.kl_quadratic.b50" in ids
    for c in d["claims"]:
        assert c["measured"] is not None and c["agrees"] in (True, False, None)
    assert d["claims"][0]["agrees"] is True                          # the solver finds α = λκ
