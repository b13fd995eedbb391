"""Faults at the command line and in the results folder: bad input is refused before any chapter runs,
a failing chapter does not take the others (or its own claims) with it, and the ledger skips files that
are not chapter results.  ``critnotes.book.cli.main`` runs in-process with the chapters' ``reproduce`` faked."""
import json
import os
import re
from html.parser import HTMLParser

import pytest
import torch

import critnotes.book.chapters as chapters
from critnotes.book import ledger
from critnotes.book.cli import main
from critnotes.book.results import ChapterResult, Claim, claims_html, claims_markdown, load_results, read_result
from critnotes.training.device import DeviceError, resolve_device
from critnotes.training.loop import progress_mode
from critnotes.training.sweeps import default_jobs

CHAPTER_IDS = ["updates", "maxent", "ruggedness"]


def _result(cid, profile="ci", statement="s", measured=1.1):
    return ChapterResult(cid, profile, "cpu", 1.0, [Claim(f"{cid}.x", statement, 1.0, measured, verdict="agrees")])


@pytest.fixture
def calls(monkeypatch):
    """Fake chapters: ``reproduce`` records (chapter, profile, device) and returns a one-claim result."""
    for var in ("CRITNOTES_JOBS", "CRITNOTES_DEVICE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CRITNOTES_PROFILE", "ci")          # restored after the test (the CLI sets it)
    monkeypatch.setenv("CRITNOTES_PROGRESS", "off")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    log = []

    def fake_reproduce(cid, profile=None, device=None, progress=True):
        log.append((cid, profile, device))
        if cid == "maxent":
            raise RuntimeError("maxent blew up")
        return _result(cid, profile, measured=f"value of {cid}")

    monkeypatch.setattr(chapters, "available", lambda: list(CHAPTER_IDS))
    monkeypatch.setattr(chapters, "reproduce", fake_reproduce)
    return log


# --- 1. every input is checked before the first chapter runs ------------------------------------------
def _read_only_dir(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:       # root ignores mode bits: let os.access answer as for a normal user
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: not str(p).startswith(str(ro)) and real(p, mode))
    return ro


BAD_INPUTS = {   # name: (extra argv, environment, phrase the error must contain)
    "cuda without CUDA": (["--device", "cuda"], {}, "CUDA is not available on this machine; use --device cpu"),
    "cuda:1 without CUDA": (["--device", "cuda:1"], {}, "CUDA is not available"),
    "unknown device": (["--device", "tpu"], {}, "unknown device 'tpu'"),
    "malformed device": (["--device", "cuda:x"], {}, "unknown device 'cuda:x'"),
    "device from env": ([], {"CRITNOTES_DEVICE": "gpu"}, "unknown device 'gpu' (from $CRITNOTES_DEVICE)"),
    "jobs not a number": ([], {"CRITNOTES_JOBS": "two"}, "$CRITNOTES_JOBS must be a whole number"),
    "jobs zero": ([], {"CRITNOTES_JOBS": "0"}, "$CRITNOTES_JOBS must be a whole number of parallel workers ≥ 1, not '0'"),
    "jobs negative": ([], {"CRITNOTES_JOBS": "-1"}, "$CRITNOTES_JOBS"),
    "progress mode": ([], {"CRITNOTES_PROGRESS": "bar"}, "$CRITNOTES_PROGRESS must be 'text', 'widget' or 'off'"),
    "profile from env": ([], {"CRITNOTES_PROFILE": "fast"}, "unknown profile 'fast' (from $CRITNOTES_PROFILE"),
    "empty out": (["--out", ""], {}, "--out is empty"),
    "blank out": (["--out", "  "], {}, "--out is empty"),
}


@pytest.mark.parametrize("chapter", ["all", "updates"])
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_before_any_chapter_runs(case, chapter, calls, tmp_path, monkeypatch, capsys):
    argv, env, phrase = BAD_INPUTS[case]
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    out = ["--out", str(tmp_path / "res")] if "--out" not in argv else []
    assert main(["reproduce", chapter, *out, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and phrase in err
    assert calls == [] and not (tmp_path / "res").exists()


@pytest.mark.parametrize("where", ["existing file", "below a file", "unwritable parent", "unwritable folder"])
def test_bad_out_folder_is_refused_before_any_chapter_runs(where, calls, tmp_path, monkeypatch, capsys):
    f = tmp_path / "file.txt"
    f.write_text("not a folder")
    out, phrase = {"existing file": (f, "is an existing file, not a folder"),
                   "below a file": (f / "res", f"cannot be created: {f} is a file"),
                   "unwritable parent": (tmp_path / "ro" / "a" / "res", "cannot be created: "),
                   "unwritable folder": (tmp_path / "ro", "is not writable")}[where]
    ro = _read_only_dir(tmp_path, monkeypatch)
    assert main(["reproduce", "all", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and phrase in err and calls == []
    if where == "unwritable parent":
        assert f"{ro} is not writable" in err


def test_unknown_or_unwritten_chapter_and_bad_profile_flag(calls, tmp_path, monkeypatch, capsys):
    assert main(["reproduce", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown chapter 'nope'" in capsys.readouterr().err
    monkeypatch.setattr(chapters, "chapter_module", lambda cid: (_ for _ in ()).throw(
        NotImplementedError(f"chapter {cid!r} has no experiments yet")))
    assert main(["reproduce", "ccg", "--out", str(tmp_path)]) == 2
    assert "chapter 'ccg' has no experiments yet" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:                    # an explicit --profile is checked by argparse
        main(["reproduce", "updates", "--profile", "fast", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "invalid choice: 'fast'" in capsys.readouterr().err
    assert calls == []


def test_good_input_reaches_the_chapters_resolved(calls, tmp_path, monkeypatch):
    monkeypatch.setenv("CRITNOTES_JOBS", "3")
    out = tmp_path / "new" / "res"                            # created on save
    assert main(["reproduce", "updates", "--out", str(out)]) == 0
    assert calls == [("updates", "ci", "cpu")]                # profile from $CRITNOTES_PROFILE, auto → cpu
    assert load_results(out)[0].claims[0].measured == "value of updates"


def test_validators_alone(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu") and resolve_device(" CPU ") == torch.device("cpu")
    with pytest.raises(DeviceError, match="unknown device 'meta'"):
        resolve_device("meta")
    monkeypatch.delenv("CRITNOTES_JOBS", raising=False)
    assert default_jobs() == 1
    for raw, want in [("", 1), (" 4 ", 4)]:
        monkeypatch.setenv("CRITNOTES_JOBS", raw)
        assert default_jobs() == want
    monkeypatch.setenv("CRITNOTES_JOBS", "1.5")
    with pytest.raises(ValueError, match=r"\$CRITNOTES_JOBS .*not '1.5'"):
        default_jobs()
    monkeypatch.setenv("CRITNOTES_PROGRESS", "Widget")
    assert progress_mode() == "widget"
    monkeypatch.setenv("CRITNOTES_PROGRESS", "bars")
    with pytest.raises(ValueError, match=r"\$CRITNOTES_PROGRESS must be"):
        progress_mode()


# --- 2. a failing chapter does not stop the others nor lose finished work -------------------------------
def test_all_runs_every_chapter_past_failures_and_keeps_unsaved_claims(calls, tmp_path, capsys):
    out = tmp_path / "res"
    (out / "ruggedness.json").mkdir(parents=True)             # saving ruggedness fails (a folder is in the way)
    assert main(["reproduce", "all", "--out", str(out)]) == 1
    assert [c[0] for c in calls] == CHAPTER_IDS               # maxent raised, ruggedness still ran
    captured = capsys.readouterr()
    assert "RuntimeError: maxent blew up" in captured.err and "Traceback" in captured.err
    assert "IsADirectoryError" in captured.err
    assert "2 of 3 chapter(s) failed: maxent, ruggedness" in captured.err.splitlines()[-1]
    with pytest.warns(UserWarning, match="ruggedness.json: unreadable"):
        assert [r.chapter for r in load_results(out)] == ["updates"]        # the others' results are kept
    assert "`ruggedness.x`" in captured.out and "value of ruggedness" in captured.out   # unsaved claims printed


def test_single_chapter_failure_exits_1_with_traceback(calls, tmp_path, capsys):
    assert main(["reproduce", "maxent", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "RuntimeError: maxent blew up" in err and "1 of 1 chapter(s) failed: maxent" in err


# --- 3. the ledger skips files that are not chapter results --------------------------------------------
BAD_FILES = {
    "broken.json": ("{not json", "invalid JSON"),
    "list.json": ("[1, 2]", "must be a JSON object, got list"),
    "foreign.json": ('{"name": "package.json", "version": "1"}', "missing field(s) 'chapter'"),
    "typed.json": (json.dumps({**_result("updates").as_dict(), "seconds": "fast"}), "field 'seconds' must be int or float"),
    "chapter.json": (json.dumps({**_result("updates").as_dict(), "chapter": "nope"}), "unknown chapter id 'nope'"),
    "claim.json": (json.dumps({**_result("updates").as_dict(), "claims": [{"id": "updates.x"}]}),
                   "claims[0]: missing field(s) 'statement', 'paper', 'measured', 'kind', 'verdict'"),
    "latin1.json": (b"\xff\xfe{", "unreadable"),
}


def test_ledger_skips_malformed_and_foreign_files_with_a_warning(tmp_path, capsys):
    _result("updates").save(tmp_path)
    for name, (text, _) in BAD_FILES.items():
        (tmp_path / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.warns(UserWarning) as record:
        assert main(["ledger", "--results", str(tmp_path)]) == 0
    messages = [str(w.message) for w in record]
    for name, (_, why) in BAD_FILES.items():
        assert any(str(tmp_path / name) in m and why in m for m in messages), (name, messages)
    assert len(messages) == len(BAD_FILES)
    assert "`updates.x`" in capsys.readouterr().out
    for name in BAD_FILES:
        (tmp_path / name).unlink(missing_ok=True)
    (tmp_path / "updates.json").write_text("{")
    with pytest.warns(UserWarning, match="updates.json: invalid JSON"):
        assert main(["ledger", "--results", str(tmp_path)]) == 2
    assert "no chapter results in" in capsys.readouterr().err


def test_book_ledger_reruns_a_chapter_whose_file_is_malformed(tmp_path, monkeypatch):
    (tmp_path / "updates.json").write_text('{"chapter": "updates"}')
    monkeypatch.setattr(ledger, "available", lambda: ["updates"])
    monkeypatch.setattr(ledger, "reproduce", lambda cid, profile, progress: _result(cid, profile))
    with pytest.warns(UserWarning, match="updates.json: not a chapter result .*missing field"):
        assert ledger.gather("ci", folder=tmp_path, run_missing=False) == []
    with pytest.warns(UserWarning):
        assert [r.chapter for r in ledger.gather("ci", folder=tmp_path)] == ["updates"]
    assert read_result(tmp_path / "updates.json").claims[0].id == "updates.x"     # re-run and saved


@pytest.mark.parametrize("d, match", [
    ({"chapter": "updates"}, "missing field(s) 'profile', 'device', 'seconds', 'claims'"),
    ({**_result("updates").as_dict(), "extra": 1}, "unknown field(s) 'extra'"),
    ({**_result("updates").as_dict(), "profile": "fast"}, "unknown profile 'fast' in field 'profile'"),
    ({**_result("updates").as_dict(), "seconds": True}, "field 'seconds' must be int or float, got bool"),
    ({**_result("updates").as_dict(), "claims": {}}, "field 'claims' must be list"),
    ({**_result("updates").as_dict(), "claims": [{**_result("updates").claims[0].as_dict(), "agrees": "yes"}]},
     "claims[0]: field 'agrees' must be bool or NoneType"),
])
def test_from_dict_names_the_bad_field(d, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        ChapterResult.from_dict(d)


def test_from_dict_roundtrips_and_detail_is_optional():
    r = _result("updates")
    assert ChapterResult.from_dict(json.loads(r.to_json())) == r
    d = r.as_dict()
    del d["claims"][0]["detail"]
    assert ChapterResult.from_dict(d).claims[0].detail == {}


# --- 4. claim text cannot break or inject into the tables -----------------------------------------------
NASTY = "slope | 2\nsecond line `code` <script>alert(1)</script> & more"


def test_markdown_table_escapes_claim_text():
    r = ChapterResult("updates", "ci", "cpu", 1.0, [Claim("updates.x", NASTY, "<b>3|5</b>", {"a|b": "<i>"}, kind="finding")])
    lines = claims_markdown([r]).splitlines()
    assert len(lines) == 3                                    # header, rule, one row: the newline did not split it
    cells = re.split(r"(?<!\\)\|", lines[2])[1:-1]            # cells split on unescaped pipes only
    assert len(cells) == 7                                    # chapter, claim, kind, paper, measured, verdict, profile
    assert "<script>" not in lines[2] and "&lt;script>" in cells[1] and "\\`code\\`" in cells[1]
    assert "slope \\| 2<br>second line" in cells[1] and "&amp; more" in cells[1]
    assert cells[3].strip() == "&lt;b>3\\|5&lt;/b>" and cells[4].strip() == "a\\|b=&lt;i>"


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.cells = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "td":
            self.cells.append("")

    def handle_data(self, data):
        if self.cells:
            self.cells[-1] += data


def test_html_tables_escape_claim_text():
    r = ChapterResult("updates", "ci", "cpu", 1.0, [Claim("updates.x", NASTY, "<b>3</b>", "<img src=x>", verdict="differs")])
    for html, n_cells, n_bold in [(claims_html(r.claims), 5, 2), (r._repr_html_(), 5, 2), (ledger.ledger_html([r]), 7, 1)]:
        p = _Cells()                                          # bold: the title and the measured value only
        p.feed(html)
        assert "script" not in p.tags and "img" not in p.tags and p.tags.count("b") == n_bold
        assert len(p.cells) == n_cells
        k = 1 if n_cells == 7 else 0                          # the ledger's first cell is the chapter
        assert p.cells[k] == "updates.x" + NASTY and p.cells[k + 2:k + 4] == ["<b>3</b>", "<img src=x>"]  # as typed
