"""Verdicts of the "Does it reproduce?" boxes: claim kinds, the four verdicts, and the rules.

A claim is a ``reproduction`` (a paper's statement tested on our runs — the only kind the ledger
tallies), a ``check`` (our implementation, or a theorem verified numerically) or a ``finding`` (our own
observation; no paper number).  Its verdict is one of :data:`VERDICTS`:

* ``agrees`` — the measurement supports the paper's statement;
* ``differs`` — the measurement contradicts it;
* ``inconclusive`` — the measurement cannot tell the paper's value from the alternative (an interval
  that straddles the boundary, a fit on its search bound, too few points, less than a decade of range);
* ``not measured`` — nothing to judge (the run could not measure it, e.g. a truncated search).

Each verdict comes from a *rule*: a small pure function, measured values in, :class:`Verdict` out,
registered with :func:`rule` together with one synthetic input on which it says ``differs`` and one on
which it says ``agrees`` (``tests/test_verdicts.py`` runs both for every registered rule, and checks
that every reproduction claim of every chapter names a registered rule).  So no rule can be one that
cannot fail.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

KINDS = ("reproduction", "check", "finding")
VERDICTS = ("agrees", "differs", "inconclusive", "not measured")

#: name → (rule function, kwargs on which it says "agrees", kwargs on which it says "differs")
RULES: dict[str, tuple[Callable[..., "Verdict"], dict, dict]] = {}


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A rule's outcome: one of :data:`VERDICTS`, with the reason in words."""

    verdict: str
    reason: str = ""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}; choose one of {', '.join(VERDICTS)}")


def rule(*, agrees: dict, differs: dict):
    """Register a rule with one input on which it must say ``agrees`` and one on which it must say
    ``differs`` (the falsifiability pair that ``tests/test_verdicts.py`` runs)."""
    def register(fn):
        if fn.__name__ in RULES:
            raise ValueError(f"a rule named {fn.__name__!r} is already registered")
        RULES[fn.__name__] = (fn, agrees, differs)
        return fn
    return register


def missing(*values: Any) -> bool:
    """True when any value is ``None`` or a non-finite number (nothing was measured)."""
    return any(v is None or (isinstance(v, float) and not math.isfinite(v)) for v in values)


@rule(agrees=dict(value=3.8, lo=3.0, hi=5.0, ci=(3.5, 4.1)),
      differs=dict(value=8.9, lo=3.0, hi=5.0, ci=(8.2, 9.6)))
def in_range(value: float | None, lo: float, hi: float, ci: tuple[float, float] | None = None,
             at_bound: bool = False) -> Verdict:
    """The paper's range ``[lo, hi]`` against a measured value and its 95 % interval ``ci``.

    ``agrees`` when the interval (or, without one, the value) lies inside the range, ``differs`` when it
    lies wholly outside, ``inconclusive`` when it straddles a boundary or the fit sits on its search bound.
    """
    if missing(value) or (ci is not None and missing(*ci)):
        return Verdict("not measured", "no value")
    if at_bound:
        return Verdict("inconclusive", "the fit sits on its search bound")
    a, b = ci if ci is not None else (value, value)
    if lo <= a and b <= hi:
        return Verdict("agrees", f"{'interval' if ci else 'value'} inside [{lo:g}, {hi:g}]")
    if b < lo or a > hi:
        return Verdict("differs", f"{'interval' if ci else 'value'} outside [{lo:g}, {hi:g}]")
    return Verdict("inconclusive", f"interval [{a:.3g}, {b:.3g}] straddles [{lo:g}, {hi:g}]")


@rule(agrees=dict(value=1.52, target=1.5, tol=0.2, ci=(1.4, 1.6)),
      differs=dict(value=1.95, target=1.5, tol=0.2, ci=(1.8, 2.1)))
def close_to(value: float | None, target: float, tol: float, ci: tuple[float, float] | None = None,
             at_bound: bool = False) -> Verdict:
    """The paper's value ``target`` within ``± tol`` (stated next to the claim): :func:`in_range` on
    ``[target − tol, target + tol]``."""
    return in_range(value, target - tol, target + tol, ci=ci, at_bound=at_bound)


@rule(agrees=dict(rho=0.9, p=1e-6, sign=+1), differs=dict(rho=-0.8, p=1e-5, sign=+1))
def trend(rho: float | None, p: float | None, sign: int, alpha: float = 0.05) -> Verdict:
    """A monotonic trend in the paper's direction (``sign`` +1 increasing, −1 decreasing) from a rank
    correlation ``rho`` (Spearman/Kendall) and its p-value: ``agrees`` when significant in that
    direction, ``differs`` when significant the other way, ``inconclusive`` when not significant."""
    if missing(rho, p):
        return Verdict("not measured", "no trend statistic")
    if p >= alpha:
        return Verdict("inconclusive", f"no significant trend (p = {p:.2g} ≥ {alpha:g})")
    if math.copysign(1, rho) == sign:
        return Verdict("agrees", f"significant trend in the paper's direction (p = {p:.2g})")
    return Verdict("differs", f"significant trend against the paper's direction (p = {p:.2g})")


@rule(agrees=dict(favoured="power law", alternatives=("exponential",), decisive=True),
      differs=dict(favoured="exponential", alternatives=("exponential",), decisive=True))
def family(favoured: str | None, expected: str = "power law", alternatives: tuple[str, ...] = (),
           decisive: bool = True) -> Verdict:
    """The paper's distribution family against the family a likelihood-ratio comparison favours:
    ``agrees`` when ``expected`` wins decisively, ``differs`` when one of ``alternatives`` wins
    decisively, ``inconclusive`` when undecided (or a family outside both lists wins)."""
    if favoured is None:
        return Verdict("not measured", "no comparison")
    if favoured == "at_bound":
        return Verdict("inconclusive", "the power-law fit sits on its search bound")
    if not decisive:
        return Verdict("inconclusive", f"likelihood ratio undecided ({favoured} slightly ahead)")
    if favoured == expected:
        return Verdict("agrees", f"{expected} favoured decisively")
    if favoured in alternatives:
        return Verdict("differs", f"{favoured} favoured decisively over {expected}")
    return Verdict("inconclusive", f"{favoured} favoured: neither the paper's family nor its alternative")


@rule(agrees=dict(value=0.4, threshold=0.1, above=True, ci=(0.25, 0.55)),
      differs=dict(value=0.02, threshold=0.1, above=True, ci=(-0.03, 0.07)))
def exceeds(value: float | None, threshold: float, above: bool = True,
            ci: tuple[float, float] | None = None) -> Verdict:
    """A one-sided statement ``value > threshold`` (``above``) or ``value < threshold``: judged on the
    95 % interval when given (straddling → ``inconclusive``)."""
    if missing(value) or (ci is not None and missing(*ci)):
        return Verdict("not measured", "no value")
    a, b = ci if ci is not None else (value, value)
    lo, hi = (a, b) if above else (-b, -a)
    t = threshold if above else -threshold
    rel = ">" if above else "<"
    if lo > t:
        return Verdict("agrees", f"{'interval' if ci else 'value'} {rel} {threshold:g}")
    if hi <= t:
        return Verdict("differs", f"{'interval' if ci else 'value'} not {rel} {threshold:g}")
    return Verdict("inconclusive", f"interval [{a:.3g}, {b:.3g}] straddles {threshold:g}")


def judge(rule_name: str, **kwargs) -> Verdict:
    """Apply the registered rule ``rule_name`` (a clear error for an unknown one)."""
    if rule_name not in RULES:
        raise KeyError(f"no rule named {rule_name!r}; registered: {', '.join(sorted(RULES))}")
    return RULES[rule_name][0](**kwargs)
