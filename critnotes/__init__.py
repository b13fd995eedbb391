"""critnotes: helper package of the criticality-in-learning book.

For your own network and training loop: :class:`UpdateRecorder` (``.attach(model, optimizer)``, then
``.stats()`` → :class:`UpdateStats`, fitted with :mod:`critnotes.analysis.fitting`) and :class:`ActivityRecorder`
(forward hooks; ``.activity(name)`` → samples × units, e.g. for :func:`critnotes.analysis.graphs.correlation_matrix`);
:func:`train` runs the book's loop on any ``nn.Module``.  The package is layered (see CONTRIBUTING.md):
``analysis`` ← ``probes`` ← ``training`` ← ``book``.
"""
from critnotes.analysis import criticality, fitting, graphs
from critnotes.analysis.layers import find_layers
from critnotes.analysis.update_stats import UpdateStats
from critnotes.probes.activity import ActivityRecorder
from critnotes.probes.update_recorder import UpdateRecorder
from critnotes.training.loop import TrainConfig, train

__all__ = ["ActivityRecorder", "TrainConfig", "UpdateRecorder", "UpdateStats", "criticality", "find_layers",
           "fitting", "graphs", "train"]
