"""Training layer: data, models, the one training loop, the shared paper-003 run, sweeps and the run cache.

Imports the probe and analysis layers, never the book's own layer.
"""
