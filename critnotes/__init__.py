"""critnotes: helper package of the criticality-in-learning book."""
