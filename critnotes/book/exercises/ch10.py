"""Exercise checks of chapter 10 (critical computational graphs)."""
from __future__ import annotations

import numpy as np

from critnotes.analysis.computational_graphs import task_snr
from critnotes.book.exercises import Feedback, compare

#: activity of three neurons on six samples; the first three samples are in the task T (every neuron
#: varies within T and within ¬T, so every d' is finite)
_A = np.array([[2.0, 0.0, 1.0], [3.0, 1.0, 2.0], [4.0, 0.0, 1.0], [0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 1.0, 2.0]])
_ON = np.array([True, True, True, False, False, False])


def _snr(a, on):
    """d' of each column of ``a`` for the task mask ``on``: the clustering statistic's owner, ``task_snr``."""
    return task_snr([a], on, True)[1][0]


def check_snr(answer) -> Feedback:
    """Exercise 10.1: the task SNR d' of the three neurons of ``_A`` for the task ``_ON``."""
    right = _snr(_A, _ON)
    d = _A[_ON].mean(0) - _A[~_ON].mean(0)
    return compare(answer, right, what="d'",
                   mistakes=[(d, "divide the difference of means by the pooled standard deviation"),
                             (d / np.sqrt((_A[_ON].var(0, ddof=1) + _A[~_ON].var(0, ddof=1)) / 2),
                              "use the population variance (ddof=0), as critnotes.analysis.computational_graphs.task_snr does"),
                             (-right, "the sign: μ(T) − μ(¬T)")])


_S = np.array([0.1, 0.6, 0.35, 0.8, 0.7, 0.2, 0.3, 0.1])
_Y = np.array([False, False, True, True, True, False, False, False])


def check_balanced_accuracy(answer) -> Feedback:
    """Exercise 10.2: balanced accuracy of the decision score ≥ 0.5 on ``_S`` for positives ``_Y``."""
    pred = _S >= 0.5
    right = 0.5 * (pred[_Y].mean() + (~pred[~_Y]).mean())
    return compare(answer, right, what="balanced accuracy",
                   mistakes=[(float((pred == _Y).mean()), "that is the plain accuracy; average the two class recalls"),
                             (float(pred[_Y].mean()), "that is the recall of T only; average it with the recall of ¬T")])


CASES = {
    "check_snr": (_snr(_A, _ON), [(_A[_ON].mean(0) - _A[~_ON].mean(0), "pooled standard deviation"),
                                  (-_snr(_A, _ON), "the sign")]),
    "check_balanced_accuracy": (0.5 * (2 / 3 + 4 / 5), [(0.75, "plain accuracy"), (2 / 3, "recall of T only")]),
}
