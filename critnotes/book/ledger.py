"""The reproduction ledger: every chapter's claims in one table (book page ``reproduction``).

Rendered from the chapters' :class:`~critnotes.book.results.ChapterResult` objects — the JSON the chapter
notebooks (or ``python -m critnotes reproduce all --out DIR``) left in the results folder, and, for any
chapter that has none for the requested profile, a fresh ``reproduce`` (its trainings come from the
run cache when the chapter was executed before).  Nothing in it is typed by hand.
"""
from __future__ import annotations

from pathlib import Path

from critnotes.book.chapters import CHAPTERS, available, reproduce
from critnotes.book.profiles import get_profile
from critnotes.book.results import ChapterResult, claim_row_html, read_result, results_dir


def gather(profile: str | None = None, folder=None, run_missing: bool = True,
           progress: bool = False) -> list[ChapterResult]:
    """One :class:`ChapterResult` per written chapter (book order) for ``profile``.

    A ``<chapter>.json`` that is not a valid chapter result is skipped with a warning (and re-run when
    ``run_missing``); other JSON files in ``folder`` are not read.
    """
    profile = get_profile(profile)
    folder = Path(folder or results_dir())
    out = []
    for cid in available():
        path = folder / f"{cid}.json"
        res = read_result(path) if path.exists() else None   # a malformed file: warned about, re-run
        if res is not None and res.profile != profile:
            res = None
        if res is None and run_missing:
            res = reproduce(cid, profile=profile, progress=progress)
            res.save(folder)
        if res is not None:
            out.append(res)
    return out


def tally(results: list[ChapterResult]) -> dict[str, dict[str, int]]:
    """Per chapter: how many claims agree, differ, or have no paper number."""
    out = {}
    for r in results:
        t = {"agrees": 0, "differs": 0, "no number": 0}
        for c in r.claims:
            t["agrees" if c.agrees is True else "differs" if c.agrees is False else "no number"] += 1
        out[r.chapter] = t
    return out


def ledger_html(results: list[ChapterResult]) -> str:
    """An HTML table: chapter, claim, paper, measured, agrees?, profile."""
    order = {cid: i for i, cid in enumerate(CHAPTERS)}
    rows = [claim_row_html(c, before=(r.chapter,), after=(r.profile,))
            for r in sorted(results, key=lambda r: order.get(r.chapter, 99)) for c in r.claims]
    return ("<table class='critnotes-ledger'><thead><tr><th>chapter</th><th>claim</th><th>paper</th>"
            "<th>measured here</th><th>agrees?</th><th>profile</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def summary_text(counts: dict[str, dict[str, int]]) -> str:
    """The ledger's headline and one line per chapter, from :func:`tally`."""
    total = {k: sum(t[k] for t in counts.values()) for k in ("agrees", "differs", "no number")}
    lines = [f"{sum(total.values())} claims: {total['agrees']} agree with the paper, {total['differs']} differ, "
             f"{total['no number']} have no paper number to compare with."]
    lines += [f"  {c:28s} agree {t['agrees']:3d}   differ {t['differs']:3d}   no number {t['no number']:3d}"
              for c, t in counts.items()]
    return "\n".join(lines)


def plot_tally(counts: dict[str, dict[str, int]], profile: str = "", ax=None):
    """Stacked bars of agree / differ / no-number claims per chapter (the ledger page's summary figure)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.35 * max(len(counts), 1) + 1.2), constrained_layout=True)
    names = list(counts)[::-1]
    left = [0] * len(names)
    for key, colour in [("agrees", "#1a7f37"), ("differs", "#cf222e"), ("no number", "#9e9e9e")]:
        vals = [counts[n][key] for n in names]
        ax.barh(names, vals, left=left, color=colour, label=key)
        left = [a + b for a, b in zip(left, vals)]
    ax.set_xlabel("number of claims")
    ax.set_title(f"Claims per chapter (profile {profile})" if profile else "Claims per chapter")
    ax.legend(loc="lower right", fontsize=8)
    return ax.figure
