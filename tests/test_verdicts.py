"""Verdicts that can fail: every registered rule says *differs* on one input and *agrees* on another, the
generic rules are inconclusive where the measurement cannot decide, and every reproduction or check of
every chapter (run on the ci profile) names a registered rule."""
import pytest

from critnotes.book import verdicts as V
from critnotes.book.chapters import available, chapter_module
from critnotes.book.results import Claim


def _all_rules():
    for cid in available():            # importing a chapter registers its own rules
        chapter_module(cid)
    return sorted(V.RULES)


@pytest.mark.parametrize("name", _all_rules())
def test_every_rule_can_say_agrees_and_differs(name):
    fn, agrees, differs = V.RULES[name]
    assert fn(**agrees).verdict == "agrees", f"rule {name}: its 'agrees' example gives {fn(**agrees)}"
    assert fn(**differs).verdict == "differs", f"rule {name}: its 'differs' example gives {fn(**differs)}"


def test_generic_rules_are_inconclusive_when_the_measurement_cannot_decide():
    assert V.in_range(4.0, 3, 5, ci=(0.5, 11.0)).verdict == "inconclusive"      # huge error bar never agrees
    assert V.in_range(4.0, 3, 5, at_bound=True).verdict == "inconclusive"       # a fit on its bound
    assert V.in_range(None, 3, 5).verdict == "not measured"
    assert V.in_range(float("nan"), 3, 5).verdict == "not measured"
    assert V.close_to(1.5, 1.5, 0.1, ci=(1.0, 2.0)).verdict == "inconclusive"
    assert V.trend(0.9, 0.3, +1).verdict == "inconclusive"
    assert V.family("lognormal", alternatives=("exponential",)).verdict == "inconclusive"
    assert V.family("power law", decisive=False).verdict == "inconclusive"
    assert V.family("at_bound").verdict == "inconclusive"
    assert V.exceeds(0.2, 0.1, ci=(0.05, 0.3)).verdict == "inconclusive"
    assert V.exceeds(0.05, 0.1, above=False).verdict == "agrees"


def test_claims_check_kind_verdict_and_rule():
    c = Claim.judged("x.y", "s", "3-5", 4.0, "in_range", value=4.0, lo=3, hi=5)
    assert (c.verdict, c.rule, c.agrees) == ("agrees", "in_range", True) and c.detail["rule_inputs"]["lo"] == 3
    with pytest.raises(KeyError, match="no rule named 'nope'"):
        Claim.judged("x.y", "s", 1, 1, "nope")
    with pytest.raises(ValueError, match="unknown kind"):
        Claim("x.y", "s", 1, 1, kind="guess", verdict="agrees")
    with pytest.raises(ValueError, match="verdict must be one of"):
        Claim("x.y", "s", 1, 1, verdict=True)
    with pytest.raises(ValueError, match="a finding has no verdict"):
        Claim("x.y", "s", None, 1, kind="finding", verdict="agrees")


def test_every_reproduction_and_check_names_a_registered_rule(ci_runs):
    ids, bad, claims = set(), [], [c for ch, _, res in ci_runs.values() for c in ch.claims(res)]
    for c in claims:
        assert c.id not in ids, f"claim id {c.id} is used twice"
        ids.add(c.id)
        if c.kind != "finding" and c.rule not in V.RULES:
            bad.append(f"{c.id} ({c.kind}, rule {c.rule!r})")
    assert not bad, "claims without a registered rule (no falsifiability pair): " + ", ".join(bad)
    assert any(c.kind == "reproduction" for c in claims)
