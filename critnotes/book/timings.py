"""Run times of the chapters and the instructors' lab plan, computed from recorded results — never typed.

Every chapter run (notebook or CLI) records its wall time in its ``<chapter>.json`` result
(:attr:`~critnotes.book.results.ChapterResult.seconds`, with profile, device and provenance).  Two sources:

* **stored** results committed under ``book/results/<profile>/`` (``python -m critnotes reproduce all
  --profile quick --out book/results/quick``): the reference machine's measurements, each with its
  :class:`~critnotes.book.results.Provenance` (commit, date, data sets, rules, CPU/GPU) — required there;
* **this machine's** latest results in :func:`~critnotes.book.results.results_dir` (this build: ``ci`` in
  the tests, ``quick`` when a reader builds the book).

The chapter pages print :func:`runtime_line`; the run-times page prints :func:`runtime_table`; the
instructors page prints :func:`lab_plan_markdown` of :func:`lab_plan`, whose exercise lists are read
from the chapter notebooks' ``### Exercise N.k: …`` headings at build time.
"""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from critnotes.book.chapters import CHAPTERS
from critnotes.book.results import (STORED, ChapterResult, load_results, markdown_cell, read_result, results_dir,
                                    stored_results)

BOOK = STORED.parent
#: stored profiles shown by the run-time line and table, in this order
STORED_PROFILES = ("quick", "paper-cpu", "paper")


def format_duration(seconds: float) -> str:
    """``"0.4 s"``, ``"12 s"``, ``"2 min 05 s"``, ``"1 h 03 min"``."""
    s = float(seconds)
    if s < 10:
        return f"{s:.1f} s"
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        m, r = divmod(round(s), 60)
        return f"{m} min {r:02d} s"
    h, r = divmod(round(s / 60), 60)
    return f"{h} h {r:02d} min"


def latest_results(folder: str | Path | None = None) -> dict[str, ChapterResult]:
    """This machine's latest result per chapter (default :func:`results_dir`; unreadable files skipped, warned)."""
    return {r.chapter: r for r in load_results(folder)}


def _where(res: ChapterResult) -> str:
    p = res.provenance
    if p is None:
        return res.device
    hw = p.gpu if p.gpu else f"{p.cpu_count} CPU core{'s' * (p.cpu_count != 1)}"
    commit = f", commit {p.commit[:7]}{'+' if p.dirty else ''}" if p.commit else ""
    return f"{res.device}, {hw}{commit}, {p.date[:10]}"


def _measured(res: ChapterResult | None) -> str:
    return f"{format_duration(res.seconds)} ({_where(res)})" if res is not None else "not measured yet"


def runtime_line(chapter: str, stored_root: str | Path | None = None, results: str | Path | None = None) -> str:
    """One line for a chapter's title: its stored ``quick`` and ``paper`` run times (and ``paper-cpu`` when stored)
    with where they were measured, and this machine's latest run of it."""
    if chapter not in CHAPTERS:
        raise ValueError(f"unknown chapter {chapter!r}; choose one of: {', '.join(CHAPTERS)}")
    stored = {p: stored_results(p, stored_root).get(chapter) for p in STORED_PROFILES}
    parts = [f"`{p}` {_measured(r)}" for p, r in stored.items() if r is not None or p != "paper-cpu"]
    path = Path(results or results_dir()) / f"{chapter}.json"
    mine = read_result(path) if path.exists() else None
    here = (f"this machine's last run: {format_duration(mine.seconds)} on `{mine.profile}` ({mine.device})"
            if mine is not None else "not run on this machine yet")
    return f"Run time (measured): {'; '.join(parts)}; {here}."


def runtime_table(stored_root: str | Path | None = None, results: str | Path | None = None) -> str:
    """A Markdown table: per chapter the stored run time of each stored profile and this machine's latest,
    then a total row and where the stored times were measured."""
    stored = {p: stored_results(p, stored_root) for p in STORED_PROFILES}
    mine = latest_results(results)
    lines = ["| chapter | " + " | ".join(f"`{p}` (stored)" for p in STORED_PROFILES) + " | this machine (latest) |",
             "|---" * (len(STORED_PROFILES) + 2) + "|"]
    for n, cid in enumerate(CHAPTERS, 1):
        cells = [format_duration(stored[p][cid].seconds) if cid in stored[p] else "—" for p in STORED_PROFILES]
        m = mine.get(cid)
        cells.append(f"{format_duration(m.seconds)} on `{m.profile}` ({m.device})" if m else "—")
        lines.append(f"| {n} {cid} | " + " | ".join(cells) + " |")
    totals = [f"{format_duration(sum(r.seconds for r in stored[p].values()))} ({len(stored[p])} of {len(CHAPTERS)})"
              if stored[p] else "—" for p in STORED_PROFILES]
    lines.append("| **total** | " + " | ".join(totals) + " | |")
    notes = []
    for p in STORED_PROFILES:
        where = sorted({_where(r) for r in stored[p].values()})
        notes.append(f"* `{p}`: " + ("; ".join(where) if where else
                                     f"no stored results yet (`book/results/{p}/` is empty)"))
    return "\n".join(lines) + "\n\nStored results measured on:\n\n" + "\n".join(notes)


# --- the lab plan -------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ChapterPage:
    """What a chapter notebook's headings say: number, id, title, exercises, earlier chapters it refers to."""

    number: int
    chapter: str
    title: str
    exercises: tuple[str, ...]        # "N.k: title", in page order
    builds_on: tuple[int, ...]


_REF = re.compile(r"\b[Cc]hapters?\s+(\d+)((?:\s*(?:[–-]|,|and|or)\s*\d+)*)")


def chapter_page(path: str | Path) -> ChapterPage:
    """Read ``NN_<chapter>.ipynb``: its ``# N. Title``, its ``### Exercise N.k: …`` headings and the earlier
    chapters its prose refers to ("chapter 2", "chapters 6–7")."""
    path = Path(path)
    n, cid = int(path.name[:2]), path.stem[3:]
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    titles = [line[2:].strip() for line in text.splitlines() if line.startswith("# ")]
    exercises = tuple(m.group(1).strip() for m in re.finditer(r"^### Exercise (\d+\.\d+\s*:?.*)$", text, re.M))
    refs = set()
    for m in _REF.finditer(text):
        nums = [int(m.group(1))] + [int(x) for x in re.findall(r"\d+", m.group(2))]
        if re.search(r"[–-]", m.group(2) or "") and len(nums) == 2:
            nums = list(range(nums[0], nums[1] + 1))
        refs.update(nums)
    title = re.sub(rf"^{n}\.\s*", "", titles[0]) if titles else cid
    return ChapterPage(n, cid, title, exercises, tuple(sorted(r for r in refs if 0 < r < n)))


@dataclasses.dataclass(frozen=True)
class LabRow:
    """One chapter of the lab plan: its page, its stored ``quick`` and its ``ci`` results, and the exercises
    that fit the session."""

    page: ChapterPage
    quick: ChapterResult | None
    ci: ChapterResult | None
    fit: tuple[str, ...]
    minutes_left: float               # for exercises, after reading and the live quick run (0 min when unmeasured)


def lab_plan(book: str | Path | None = None, stored_root: str | Path | None = None,
             results: str | Path | None = None, session_minutes: float = 90, reading_minutes: float = 30,
             minutes_per_exercise: float = 15) -> list[LabRow]:
    """The lab plan: per chapter notebook, its ``quick`` run time (stored: the reference laptop), its ``ci``
    run time (this machine's latest ``ci`` result, else a stored one), and the first exercises that fit a
    session of ``session_minutes`` after ``reading_minutes`` and the live ``quick`` run, at
    ``minutes_per_exercise`` each (planning assumptions, printed with the plan)."""
    if min(session_minutes, minutes_per_exercise) <= 0 or reading_minutes < 0:
        raise ValueError("session_minutes and minutes_per_exercise must be positive and reading_minutes ≥ 0, got "
                         f"{session_minutes}, {minutes_per_exercise}, {reading_minutes}")
    book = Path(book or BOOK)
    quick, ci_stored = stored_results("quick", stored_root), stored_results("ci", stored_root)
    mine = {c: r for c, r in latest_results(results).items() if r.profile == "ci"}
    rows = []
    for path in sorted(book.glob("[0-9][0-9]_*.ipynb")):
        page = chapter_page(path)
        q = quick.get(page.chapter)
        left = session_minutes - reading_minutes - (q.seconds / 60 if q is not None else 0.0)
        k = max(0, int(left // minutes_per_exercise))
        rows.append(LabRow(page, q, mine.get(page.chapter, ci_stored.get(page.chapter)), page.exercises[:k], left))
    return rows


def lab_plan_markdown(rows: list[LabRow]) -> str:
    """The lab plan as a Markdown table (one row per chapter)."""
    lines = ["| chapter | `quick` run (laptop) | `ci` run | builds on | exercises that fit | left for later |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        p = r.page
        fit = ("<br>".join(map(markdown_cell, r.fit)) or "none: run the chapter before the session") if p.exercises \
            else "no `### Exercise` on the page yet"
        if r.quick is None and r.fit:
            fit += "<br>(`quick` run time not measured yet: assumes a pre-filled cache)"
        later = "<br>".join(map(markdown_cell, p.exercises[len(r.fit):])) or "—"
        builds = ", ".join(f"ch. {b}" for b in p.builds_on) or "—"
        lines.append(f"| {p.number}. {markdown_cell(p.title)} | {_measured(r.quick)} | "
                     f"{format_duration(r.ci.seconds) + ' (' + _where(r.ci) + ')' if r.ci else 'not run yet'} | "
                     f"{builds} | {fit} | {later} |")
    return "\n".join(lines)
