"""Probe layer: everything that watches a network while it trains.

Probes of the book's loop (:class:`~critnotes.probes.base.Probe`) and recorders that attach to any model
and optimizer by PyTorch hooks (:class:`~critnotes.probes.update_recorder.UpdateRecorder`,
:class:`~critnotes.probes.activity.ActivityRecorder`).  Imports only the analysis layer.
"""
