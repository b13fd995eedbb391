"""Coding exercises: one module per chapter (``critnotes.book.exercises.<chapter module>``) with a
``check_<name>(answer)`` per exercise that tells the student what is right or wrong.

In a notebook an exercise is three cells: the task (markdown), a skeleton the student completes
(``...`` / ``raise NotImplementedError``; tagged ``raises-exception`` and ``remove-output`` so the
book builds) followed by ``ex.check_<name>(answer)``, and the solution (tagged ``hide-input``: folded
in the book, executed by the build).  ``tests/test_exercises.py`` checks that right answers pass and
typical wrong answers get their specific message.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable

import numpy as np


@dataclasses.dataclass(frozen=True)
class Feedback:
    """What a check says: ``ok`` and a message for the student (shown as text or HTML)."""

    ok: bool
    message: str

    def __str__(self) -> str:
        return ("✔ " if self.ok else "✘ ") + self.message

    def _repr_html_(self) -> str:
        import html
        colour = "#1a7f37" if self.ok else "#cf222e"
        return f"<p style='color:{colour}'><b>{'✔' if self.ok else '✘'}</b> {html.escape(self.message)}</p>"

    def __bool__(self) -> bool:
        return self.ok


def compare(answer: Any, expected: Any, *, what: str, rtol: float = 1e-6, atol: float = 1e-9,
            mistakes: Iterable[tuple[Any, str]] = (), shape_hint: str = "") -> Feedback:
    """Feedback on a numeric ``answer`` against ``expected``: right within tolerance, or the message of
    the first typical mistake (``(wrong value, message)``) it matches, or a generic difference."""
    if answer is None or answer is Ellipsis:
        return Feedback(False, f"{what}: no answer yet — replace the `...` with your code")
    try:
        a = np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        return Feedback(False, f"{what}: expected numbers, got {type(answer).__name__}")
    e = np.asarray(expected, dtype=float)
    if a.shape != e.shape:
        return Feedback(False, f"{what}: shape {a.shape}, expected {e.shape}. {shape_hint}".strip())
    if np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
        return Feedback(True, f"{what}: correct")
    for wrong, message in mistakes:
        w = np.asarray(wrong, dtype=float)
        if w.shape == a.shape and np.allclose(a, w, rtol=rtol, atol=atol, equal_nan=True):
            return Feedback(False, f"{what}: {message}")
    err = float(np.nanmax(np.abs(a - e))) if a.size else 0.0
    return Feedback(False, f"{what}: not yet — largest difference from the expected value is {err:.3g}")


def call(fn: Callable, *args, what: str) -> tuple[Any, Feedback | None]:
    """Run a student's function; a :class:`Feedback` instead of a traceback when it is not written yet."""
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, Feedback(False, f"{what}: not implemented yet — complete the function and run the check again")
