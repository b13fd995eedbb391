"""Run times and the lab plan are computed from recorded chapter results (with provenance), never typed."""
import json
import subprocess

import nbformat
import pytest

from critnotes.book import timings
from critnotes.book.chapters import CHAPTERS, chapter_result
from critnotes.book.cli import main
from critnotes.book.results import ChapterResult, Claim, Provenance
from critnotes.training.data import datasets_used, resolve_name

PROV = {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False, "date": "2026-11-29T10:42:50Z",
        "datasets": ["mnist-10k"], "rules": "abcdef0123456789", "torch": "2.5.0", "cpu": "Some CPU",
        "cpu_count": 2, "gpu": None}


def _result(chapter, profile, seconds, prov=PROV):
    claim = Claim(f"{chapter}.x", "s", None, 1.0, kind="finding")
    return ChapterResult(chapter, profile, "cpu", seconds, [claim], Provenance(**prov) if prov else None)


def _write(folder, res):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{res.chapter}.json").write_text(res.to_json())


def test_format_duration():
    assert [timings.format_duration(s) for s in (0.44, 12.4, 125, 3780)] == ["0.4 s", "12 s", "2 min 05 s", "1 h 03 min"]


def test_provenance_round_trip_and_strict_validation():
    res = _result("updates", "quick", 10.0)
    back = ChapterResult.from_dict(json.loads(res.to_json()))
    assert back.provenance == res.provenance and back.seconds == 10.0
    assert ChapterResult.from_dict({k: v for k, v in res.as_dict().items() if k != "provenance"}).provenance is None
    for change, message in [({"commit": "abc"}, "40-digit hex"), ({"date": "yesterday"}, "ISO 8601"),
                            ({"cpu_count": 0}, "at least 1"), ({"cpu_count": "2"}, "'cpu_count' must be int"),
                            ({"host": "x"}, r"unknown field\(s\) 'host'"), ({"datasets": [1]}, "data set names")]:
        d = res.as_dict()
        d["provenance"] = {**PROV, **change}
        with pytest.raises(ValueError, match=message):
            ChapterResult.from_dict(d)
    d = res.as_dict()
    del d["provenance"]["date"]
    with pytest.raises(ValueError, match=r"provenance: missing field\(s\) 'date'"):
        ChapterResult.from_dict(d)


def test_collected_provenance_names_this_checkout_and_the_data_used():
    datasets_used(reset=True)
    resolve_name("mnist-10k")
    res = chapter_result("updates", "ci", "cpu", 1.0, [])
    p = res.provenance
    head = subprocess.run(["git", "-C", str(timings.BOOK.parent), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert p.commit == head.stdout.strip() and isinstance(p.dirty, bool)
    assert p.datasets == ["mnist-10k"] and p.cpu_count >= 1 and len(p.rules) == 16
    assert ChapterResult.from_dict(json.loads(res.to_json())).provenance == p


def test_stored_results_must_be_valid_with_provenance(tmp_path):
    _write(tmp_path / "quick", _result("updates", "quick", 30.0))
    assert list(timings.stored_results("quick", tmp_path)) == ["updates"]
    assert timings.stored_results("paper", tmp_path) == {}
    _write(tmp_path / "quick", _result("maxent", "quick", 30.0, prov=None))
    with pytest.raises(ValueError, match=r"maxent.json: it has no provenance.*reproduce maxent --profile quick"):
        timings.stored_results("quick", tmp_path)
    _write(tmp_path / "quick", _result("maxent", "ci", 30.0))
    with pytest.raises(ValueError, match="its profile is 'ci', not 'quick'"):
        timings.stored_results("quick", tmp_path)
    (tmp_path / "quick" / "maxent.json").write_text("{not json")
    with pytest.raises(ValueError, match="maxent.json is not a valid chapter result"):
        timings.stored_results("quick", tmp_path)


def test_runtime_line_and_table_read_the_results(tmp_path):
    stored, mine = tmp_path / "stored", tmp_path / "mine"
    q, p = _result("updates", "quick", 173.2), _result("updates", "paper", 4000.0, {**PROV, "gpu": "Big GPU"})
    _write(stored / "quick", q)
    _write(stored / "paper", p)
    _write(stored / "quick", _result("maxent", "quick", 46.0))
    _write(mine, _result("updates", "ci", 7.5, prov=None))
    line = timings.runtime_line("updates", stored, mine)
    fd = timings.format_duration
    assert f"`quick` {fd(173.2)} (cpu, 2 CPU cores, commit 0123456, 2026-11-29)" in line
    assert f"`paper` {fd(4000.0)} (cpu, Big GPU" in line and f"last run: {fd(7.5)} on `ci`" in line
    assert "`paper` not measured yet" in timings.runtime_line("maxent", stored, mine)
    assert "not run on this machine yet" in timings.runtime_line("maxent", stored, mine)
    with pytest.raises(ValueError, match="unknown chapter 'nope'"):
        timings.runtime_line("nope", stored, mine)
    table = timings.runtime_table(stored, mine)
    assert f"| 1 updates | {fd(173.2)} | — | {fd(4000.0)} | {fd(7.5)} on `ci` (cpu) |" in table
    assert f"| **total** | {fd(173.2 + 46.0)} (2 of 11) | — | {fd(4000.0)} (1 of 11) |" in table
    assert "paper-cpu" not in line
    _write(stored / "paper-cpu", _result("updates", "paper-cpu", 900.0))
    assert f"`paper-cpu` {fd(900.0)} (cpu, 2 CPU cores" in timings.runtime_line("updates", stored, mine)


def _notebook(path, title, exercises, prose=""):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\n{prose}")] + [
        nbformat.v4.new_markdown_cell(f"## Section\n\n### Exercise {e}\n\nDo it.") for e in exercises]
    nbformat.write(nb, path)


def test_lab_plan_from_notebook_headings_and_stored_times(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    _notebook(book / "01_updates.ipynb", "1. Heavy-tailed updates", ["1.1: Fit a tail", "1.2: Bins", "1.3: Tails"])
    _notebook(book / "03_mutual-information.ipynb", "3. Mutual information", ["3.1: MI", "3.2: κ", "3.3: a", "3.4: b",
                                                                              "3.5: c"],
              prose="As chapters 1–2 showed, and chapter 7 will show, …")
    stored, mine = tmp_path / "stored", tmp_path / "mine"
    _write(stored / "quick", _result("updates", "quick", 25 * 60.0))       # 25 min live run
    _write(mine, _result("updates", "ci", 9.0, prov=None))
    _write(mine, _result("mutual-information", "quick", 99.0, prov=None))   # not a ci run: not the ci column
    rows = timings.lab_plan(book, stored, mine, session_minutes=90, reading_minutes=30, minutes_per_exercise=15)
    r1, r3 = rows
    assert (r1.page.number, r1.page.chapter, r1.page.title) == (1, "updates", "Heavy-tailed updates")
    assert r1.minutes_left == 35 and r1.fit == ("1.1: Fit a tail", "1.2: Bins")        # 35 min // 15 = 2
    assert r1.ci.seconds == 9.0 and r3.ci is None and r3.quick is None
    assert r3.minutes_left == 60 and r3.fit == ("3.1: MI", "3.2: κ", "3.3: a", "3.4: b")  # unmeasured: cache assumed
    assert r3.page.builds_on == (1, 2)
    md = timings.lab_plan_markdown(rows)
    assert "1.3: Tails" in md.splitlines()[2].split("|")[-2] and "pre-filled cache" in md
    with pytest.raises(ValueError, match="must be positive"):
        timings.lab_plan(book, stored, mine, minutes_per_exercise=0)


def test_the_real_chapter_pages_parse():
    rows = timings.lab_plan()
    assert [r.page.chapter for r in rows] == list(CHAPTERS)          # file names NN_<chapter id> in book order
    assert [r.page.number for r in rows] == list(range(1, len(CHAPTERS) + 1)) and all(r.page.title for r in rows)


def test_reproduce_refuses_a_stored_folder_of_another_profile(capsys):
    assert main(["reproduce", "updates", "--profile", "ci", "--out", str(timings.STORED / "quick")]) == 2
    assert "holds the stored 'quick' results but --profile is 'ci'" in capsys.readouterr().err
