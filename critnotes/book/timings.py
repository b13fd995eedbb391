"""Run times of the chapters, computed from the results the runs leave behind — never typed.

Every chapter run (notebook or CLI) records its wall time in its ``<chapter>.json`` result
(:class:`~critnotes.book.results.ChapterResult.seconds`, with profile and device).  The chapter pages'
run-time line and the book's run-time tables are read from those files.
"""
from __future__ import annotations

from critnotes.book.results import read_result, results_dir


def runtime_line(chapter: str) -> str:
    """One line for a chapter's title: its recorded run time per profile (this machine's results folder)."""
    path = results_dir() / f"{chapter}.json"
    res = read_result(path) if path.exists() else None
    if res is None:
        return f"Run time of {chapter}: not recorded yet on this machine (it is recorded when the chapter runs)."
    return (f"Run time of {chapter}: {res.seconds:.0f} s on the `{res.profile}` profile ({res.device}), "
            f"recorded by the last run on this machine.")
