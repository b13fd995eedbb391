"""Exercise checks: right answers pass, typical wrong answers get their specific message."""
import importlib
import pkgutil

import pytest

import critnotes.book.exercises as exercises
from critnotes.book.exercises import Feedback, compare

MODULES = [importlib.import_module(f"{exercises.__name__}.{m.name}") for m in pkgutil.iter_modules(exercises.__path__)]
CASES = [(m, name, case) for m in MODULES for name, case in m.CASES.items()]


def test_compare_tells_right_wrong_and_typical_mistakes():
    assert compare([1.0, 2.0], [1.0, 2.0], what="x").ok
    fb = compare([2.0, 4.0], [1.0, 2.0], what="x", mistakes=[([2.0, 4.0], "you doubled it")])
    assert not fb.ok and "you doubled it" in fb.message
    assert "shape" in compare([1.0], [1.0, 2.0], what="x").message
    assert "no answer yet" in compare(..., 1.0, what="x").message
    assert str(Feedback(True, "fine")).startswith("✔")


@pytest.mark.parametrize("module,name,case", CASES, ids=[f"{m.__name__.rsplit('.', 1)[1]}.{n}" for m, n, _ in CASES])
def test_exercise_check(module, name, case):
    right, wrongs = case
    check = getattr(module, name)
    fb = check(right)
    assert fb.ok, f"{name} rejects the right answer: {fb.message}"
    assert wrongs, f"{name} declares no typical wrong answer"
    for wrong, fragment in wrongs:
        fb = check(wrong)
        assert not fb.ok and fragment in fb.message, f"{name}: expected a message with {fragment!r}, got {fb.message!r}"
