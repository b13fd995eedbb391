"""critnotes: helper package of the criticality-in-learning book.

For your own network and training loop: :class:`UpdateRecorder` (``.attach(model, optimizer)``, then
``.stats()`` → :class:`UpdateStats`, fitted with :mod:`critnotes.fitting`) and :class:`ActivityRecorder`
(forward hooks; ``.activity(name)`` → samples × units, e.g. for :func:`critnotes.graphs.correlation_matrix`).
"""
from . import fitting, graphs
from .probes import ActivityRecorder
from .recorder import UpdateRecorder
from .update_stats import UpdateStats

__all__ = ["ActivityRecorder", "UpdateRecorder", "UpdateStats", "fitting", "graphs"]
