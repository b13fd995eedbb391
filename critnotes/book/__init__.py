"""The book's own layer: profiles, chapter experiments, results and the ledger, the CLI, plotting, widgets."""
