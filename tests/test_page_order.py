"""Every chapter page has the same order: title, goals and run time, setup cell, numbered sections
(the method by hand early, exercises inside the sections), then demo, "Does it reproduce?", summary."""
import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))
TAIL = ["Interactive demo", "Does it reproduce?", "Summary"]


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _headings(cells, level):
    out = []
    for i, c in enumerate(cells):
        if c["cell_type"] == "markdown":
            for line in "".join(c["source"]).splitlines():
                if line.startswith("#" * level + " "):
                    out.append((i, line[level + 1:].strip()))
    return out


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_page_order(path):
    n = int(path.name[:2])
    cells = _cells(path)
    h1 = _headings(cells, 1)
    assert len(h1) == 1 and h1[0][1].startswith(f"{n}. "), f"one title '# {n}. …', got {h1}"
    intro = "".join(cells[h1[0][0]]["source"])
    assert "Learning goals" in intro and "Run time" in intro, "the title cell states learning goals and run time"
    h2 = _headings(cells, 2)
    first_h2 = h2[0][0]
    setup = [c for c in cells[:first_h2] if c["cell_type"] == "code"]
    assert setup and "chapter_config" in "".join(setup[0]["source"]), "a setup cell before the first section"
    assert [t for _, t in h2[-3:]] == TAIL, f"the page ends with {TAIL}, got {[t for _, t in h2[-3:]]}"
    sections = [t for _, t in h2[:-3]]
    assert sections and all(re.match(rf"{n}\.{k} ", t) for k, t in enumerate(sections, 1)), \
        f"sections numbered {n}.1, {n}.2, …: {sections}"
    h3 = [t for _, t in _headings(cells, 3)]
    assert any(t.startswith("The method by hand") for t in h3), "a '### The method by hand' subsection"
    exercises = [t for t in h3 if re.match(rf"Exercise {n}\.\d+", t)]
    assert len(exercises) >= 2, f"at least two '### Exercise {n}.k' inside the sections, got {exercises}"
    assert not any(t == "Exercises" for t in sections), "exercises sit inside the sections they belong to"
