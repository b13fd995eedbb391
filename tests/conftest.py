"""Shared fixtures: every chapter run once on the ci profile (trainings cached for the notebooks)."""
import pytest

from critnotes.book.chapters import available, chapter_module, summarize
from critnotes.book.profiles import chapter_config


@pytest.fixture(scope="session")
def ci_runs():
    """``{chapter id: (module, cfg, results)}`` of every chapter on ci; each chapter's results are saved
    for the ledger page as its notebook would."""
    out = {}
    for cid in available():
        ch = chapter_module(cid)
        cfg = chapter_config(ch.PROFILES, "ci")
        res = ch.run(cfg, progress=False)
        summarize(ch, res, profile="ci")
        out[cid] = (ch, cfg, res)
    return out
