"""Analysis layer: statistics and maths on arrays, graphs and models (numpy, scipy, networkx, torch).

Heavy-tail fitting, mutual information and the max-entropy solution, correlation graphs, interevent
intervals, loss concentration, probability flux, landscape scans, computational graphs, criticality
metrics, layer discovery on any model.  Imports no probe, training or book code (tests/test_layout.py).
"""
