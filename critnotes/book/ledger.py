"""The reproduction ledger: every chapter's claims in one table (book page ``reproduction``).

Rendered from the chapters' :class:`~critnotes.book.results.ChapterResult` objects — the JSON the chapter
notebooks (or ``python -m critnotes reproduce all --out DIR``) left in the results folder, and, for any
chapter that has none for the requested profile, a fresh ``reproduce`` (its trainings come from the
run cache when the chapter was executed before).  Next to them, the stored paper-scale results
(``book/results/paper-cpu/``, ``book/results/paper/``, with provenance; marked stale when judged by older
rules) and where the two scales disagree.  Nothing in it is typed by hand.
"""
from __future__ import annotations

from pathlib import Path

from critnotes.book.chapters import CHAPTERS, available, reproduce
from critnotes.book.profiles import get_profile
from critnotes.book.results import (ChapterResult, claim_row_html, markdown_cell, paper_scale_results, read_result,
                                    results_dir, scale_columns, scale_label)


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


#: the ledger's columns: the four verdicts of reproductions, then checks and findings (never tallied)
COLUMNS = ("agrees", "differs", "inconclusive", "not measured", "checks", "findings")
COLOURS = {"agrees": "#1a7f37", "differs": "#cf222e", "inconclusive": "#d4a72c", "not measured": "#9e9e9e",
           "checks": "#54aeff", "findings": "#c8d1da"}


def tally(results: list[ChapterResult]) -> dict[str, dict[str, int]]:
    """Per chapter: reproductions by verdict, and how many checks and findings (which are not tallied)."""
    out = {}
    for r in results:
        t = dict.fromkeys(COLUMNS, 0)
        for c in r.claims:
            t[c.verdict if c.kind == "reproduction" else c.kind + "s"] += 1
        out[r.chapter] = t
    return out


def paper_scale(root=None) -> dict[str, list[ChapterResult]]:
    """The stored paper-scale results per chapter (``paper`` first, then ``paper-cpu``), chapters without any left
    out.  Stored files are machine output checked strictly (:func:`~critnotes.book.results.stored_results`)."""
    return {cid: got for cid in CHAPTERS if (got := paper_scale_results(cid, root))}


def ledger_html(results: list[ChapterResult], scale: dict[str, list[ChapterResult]] | None = None) -> str:
    """An HTML table: chapter, claim, kind, paper, measured, verdict (with the stored paper-scale verdicts of the same
    claim under it, from ``scale``), profile."""
    order = {cid: i for i, cid in enumerate(CHAPTERS)}
    scale = scale or {}
    rows = []
    for r in sorted(results, key=lambda r: order.get(r.chapter, 99)):
        columns = scale_columns(scale.get(r.chapter, []))
        rows += [claim_row_html(c, before=(r.chapter,), after=(r.profile,),
                                others=[(lab, m.get(c.id)) for lab, m in columns]) for c in r.claims]
    return ("<table class='critnotes-ledger'><thead><tr><th>chapter</th><th>claim</th><th>kind</th><th>paper</th>"
            "<th>measured here</th><th>verdict (under it: paper scale)</th><th>profile</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def disagreements(results: list[ChapterResult], scale: dict[str, list[ChapterResult]]) -> list[dict]:
    """Claims (reproductions and checks) whose verdict differs between ``results`` (e.g. ``quick``) and a stored
    paper-scale result of the same chapter; "agrees at one scale, differs at the other" first.  Each row:
    chapter, id, kind, the two profiles and verdicts, and whether the paper-scale result is stale (stale rows last:
    older rules judged them)."""
    rows = []
    for r in results:
        mine = {c.id: c for c in r.claims if c.kind != "finding"}
        for o in scale.get(r.chapter, []):
            stale = bool(o.stale)                      # one fingerprint per stored result
            for c in o.claims:
                q = mine.get(c.id)
                if c.kind != "finding" and q is not None and q.verdict != c.verdict:
                    rows.append({"chapter": r.chapter, "id": c.id, "kind": c.kind, "profile": r.profile,
                                 "verdict": q.verdict, "scale_profile": o.profile, "scale_verdict": c.verdict,
                                 "stale": stale})
    return sorted(rows, key=lambda d: (d["stale"], {d["verdict"], d["scale_verdict"]} != {"agrees", "differs"},
                                       list(CHAPTERS).index(d["chapter"])))


def scale_summary_markdown(results: list[ChapterResult], scale: dict[str, list[ChapterResult]]) -> str:
    """The two scales side by side: which chapters have stored paper-scale results (with provenance and what differs
    from the paper's settings), and a table of every claim whose verdict changes between the scales."""
    if not scale:
        return ("No stored paper-scale results yet (`book/results/paper-cpu/`, `book/results/paper/`); regenerate "
                "them with `python -m critnotes reproduce all --profile paper --device cuda --out book/results/paper`.")
    m = markdown_cell
    lines = ["Stored paper-scale results:", ""]
    for cid, got in scale.items():
        for o in got:
            diff = f" Differs from the paper's settings: {m('; '.join(o.differences))}." if o.differences else ""
            lines.append(f"* **{m(cid)}** — {m(scale_label(o))}.{diff}")
    rows = disagreements(results, scale)
    shared = {r.chapter for r in results} & set(scale)
    lines += ["", f"{len(rows)} claim(s) of the {len(shared)} chapter(s) run at both scales change verdict "
                  f"(\"agrees\" at one scale and \"differs\" at the other first):", ""]
    if rows:
        lines += ["| chapter | claim | kind | verdict (profile) | paper scale (profile) |", "|---|---|---|---|---|"]
        lines += [f"| {m(d['chapter'])} | `{m(d['id'])}` | {d['kind']} | {d['verdict']} ({m(d['profile'])}) | "
                  f"{d['scale_verdict']} ({m(d['scale_profile'])}{', stale' if d['stale'] else ''}) |" for d in rows]
    return "\n".join(lines)


def summary_text(counts: dict[str, dict[str, int]]) -> str:
    """The ledger's headline (reproductions only) and one line per chapter, from :func:`tally`."""
    total = {k: sum(t[k] for t in counts.values()) for k in COLUMNS}
    n_rep = sum(total[k] for k in COLUMNS[:4])
    lines = [f"{n_rep} reproductions of the papers' statements: {total['agrees']} agree, {total['differs']} differ, "
             f"{total['inconclusive']} inconclusive, {total['not measured']} not measured "
             f"(besides {total['checks']} checks of our implementation and {total['findings']} findings of our own, "
             f"which are not tallied)."]
    lines += [f"  {c:28s} " + "   ".join(f"{k} {t[k]:3d}" for k in COLUMNS) for c, t in counts.items()]
    return "\n".join(lines)


def plot_tally(counts: dict[str, dict[str, int]], profile: str = "", ax=None):
    """Stacked bars per chapter: reproductions by verdict, then checks and findings (the ledger page's figure)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 0.35 * max(len(counts), 1) + 1.4), constrained_layout=True)
    names = list(counts)[::-1]
    left = [0] * len(names)
    for key in COLUMNS:
        vals = [counts[n][key] for n in names]
        ax.barh(names, vals, left=left, color=COLOURS[key], label=key if key in COLUMNS[:4] else key + " (not tallied)",
                hatch="//" if key in ("checks", "findings") else None)
        left = [a + b for a, b in zip(left, vals)]
    ax.set_xlabel("number of claims")
    ax.set_title(f"Claims per chapter (profile {profile})" if profile else "Claims per chapter")
    ax.legend(loc="lower right", fontsize=7)
    return ax.figure
