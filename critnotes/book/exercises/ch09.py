"""Exercise checks of chapter 9 (heavy-tailed connectivity)."""
from __future__ import annotations

import numpy as np

from critnotes.book.exercises import Feedback, compare

_W = np.array([[0.5, -1.0, 2.0], [0.25, -0.5, 1.0]])       # a 2 × 3 layer: fan-in 3


def check_rescale(answer) -> Feedback:
    """Exercise 9.1: the layer ``_W`` (fan-in 3) multiplied by √fan-in, flattened."""
    return compare(answer, (_W * np.sqrt(3)).ravel(), what="rescaled weights",
                   mistakes=[((_W * np.sqrt(2)).ravel(), "the fan-in is the number of inputs, W.shape[1], not W.shape[0]"),
                             ((_W / np.sqrt(3)).ravel(), "multiply by √fan-in (undo the 1/√fan-in of the initialisation)"),
                             ((_W * 3).ravel(), "use the square root of the fan-in")],
                   shape_hint="Flatten with .ravel().")


def check_reading(answer) -> Feedback:
    """Exercise 9.2: the reading of a fit where the power law beats the exponential (R = 5, p = 0.001)
    but the log-normal beats the power law (R = −3, p = 0.01), at p < 0.1."""
    if answer is None or answer is Ellipsis:
        return Feedback(False, "reading: no answer yet — replace the `...`")
    a = str(answer).strip().lower()
    if a in ("heavier than exponential", "log-normal (heavier than exponential)", "log-normal"):
        return Feedback(True, "reading: correct — heavier than exponential, but not a power law")
    if a == "power law":
        return Feedback(False, "reading: the log-normal wins significantly (R < 0, p < 0.1): not a power law")
    if a == "not heavy tailed":
        return Feedback(False, "reading: the power law does beat the exponential (R > 0, p < 0.1)")
    return Feedback(False, f"reading: {answer!r} is not one of 'power law', 'heavier than exponential', 'not heavy tailed'")


CASES = {
    "check_rescale": ((_W * np.sqrt(3)).ravel(), [((_W * np.sqrt(2)).ravel(), "W.shape[1]"),
                                                   ((_W / np.sqrt(3)).ravel(), "multiply")]),
    "check_reading": ("heavier than exponential", [("power law", "not a power law"),
                                                   ("not heavy tailed", "does beat the exponential")]),
}
