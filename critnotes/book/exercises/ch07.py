"""Exercise checks of chapter 7 (landscape concentration): ΔS of two-valued losses by hand, and the Eq-1
frequency of large batch means by sampling."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from critnotes.book.exercises import Feedback, call, compare

#: Exercise 7.1: 30 % of the samples have loss 0.1, 70 % have loss 2.0; the level is a = 1.2
LOW, HIGH, Q_HIGH, LEVEL = 0.1, 2.0, 0.7, 1.2


def _kl(a: float, q: float) -> float:
    return a * math.log(a / q) + (1 - a) * math.log((1 - a) / (1 - q))


_A = (LEVEL - LOW) / (HIGH - LOW)


def check_delta_s_two_valued(answer) -> Feedback:
    """ΔS = ln N − S(p_β) at level a for the two-valued losses: KL(Bern(â) ‖ Bern(q)), â = (a − L₀)/(L₁ − L₀)."""
    return compare(answer, _kl(_A, Q_HIGH), what="ΔS", rtol=1e-6, mistakes=[
        (_kl(Q_HIGH, _A), "the KL divergence runs the other way: from the tilted weights â to the original q"),
        (_A * math.log(_A / Q_HIGH), "only the high-loss term; add the low-loss samples' term (1 − â) ln((1 − â)/(1 − q))"),
        (math.log(2) - stats.bernoulli(_A).entropy(), "ln 2 − S(Bern(â)) uses two states; ΔS compares with the "
                                                       "uniform distribution over all N samples"),
    ])


def _right_frequency(losses, level, batch_size, n_batches, rng):
    idx = rng.integers(0, len(losses), size=(n_batches, batch_size))
    return float(np.mean(np.asarray(losses)[idx].mean(axis=1) >= level))


def _lower_tail(losses, level, batch_size, n_batches, rng):
    idx = rng.integers(0, len(losses), size=(n_batches, batch_size))
    return float(np.mean(np.asarray(losses)[idx].mean(axis=1) <= level))


def _single_samples(losses, level, batch_size, n_batches, rng):
    return float(np.mean(np.asarray(losses)[rng.integers(0, len(losses), n_batches)] >= level))


def check_batch_frequency(fn) -> Feedback:
    """``fn(losses, level, batch_size, n_batches, rng)`` → frequency of batch means L̂_B ≥ level (with
    replacement), tested on 0/1 losses where the exact answer is a binomial tail."""
    losses = np.array([0.0] * 700 + [1.0] * 300)
    level, b, n = 0.4, 20, 20_000
    got, fb = call(fn, losses, level, b, n, np.random.default_rng(0), what="batch frequency")
    if fb is not None:
        return fb
    exact = float(stats.binom(b, 0.3).sf(math.ceil(level * b) - 1))
    se = math.sqrt(exact * (1 - exact) / n)
    mistakes = [(float(stats.binom(b, 0.3).cdf(math.floor(level * b))), "that is the lower tail L̂_B ≤ a; Eq 1 "
                 "bounds the upper tail L̂_B ≥ a"),
                (0.3, "that is the frequency for single samples; average B losses per batch first")]
    return compare(got, exact, what="batch frequency", rtol=0, atol=5 * se, mistakes=[(w, m) for w, m in mistakes])


CASES = {
    "check_delta_s_two_valued": (_kl(_A, Q_HIGH), [(_kl(Q_HIGH, _A), "other way"),
                                                   (_A * math.log(_A / Q_HIGH), "only the high-loss term")]),
    "check_batch_frequency": (_right_frequency, [(_lower_tail, "lower tail"), (_single_samples, "single samples")]),
}
