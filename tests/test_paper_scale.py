"""Paper-scale results: the optional ``paper-cpu`` profile, stored results with provenance, staleness, and the
ledger and chapter boxes showing both scales."""
import dataclasses
import json
import subprocess

import pytest

from critnotes.analysis.records import ConfigError
from critnotes.book import ledger, results
from critnotes.book.chapters import available, chapter_module, chapter_result, has_profile
from critnotes.book.cli import main
from critnotes.book.profiles import PAPER_SCALE, chapter_config
from critnotes.book.results import ChapterResult, Claim, Provenance, rules_fingerprint

HEAD = subprocess.run(["git", "-C", str(results.STORED.parent), "rev-parse", "HEAD"], capture_output=True,
                      text=True).stdout.strip()


def _stored(chapter, profile, verdict, *, rules=None, commit=HEAD, dirty=False, differences=()):
    prov = Provenance(commit=commit, dirty=dirty, date="2026-11-29T10:00:00Z", datasets=["mnist"],
                      rules=rules or rules_fingerprint([chapter_module(chapter)]), torch="2.5", cpu="cpu", cpu_count=2)
    claims = [Claim(f"{chapter}.a", "s", 1, 1, verdict=verdict), Claim(f"{chapter}.b", "s", 1, 1, verdict="agrees"),
              Claim(f"{chapter}.c", "s", None, 2, kind="finding")]
    return ChapterResult(chapter, profile, "cpu", 600.0, claims, prov, list(differences))


def _write(root, res):
    (root / res.profile).mkdir(parents=True, exist_ok=True)
    (root / res.profile / f"{res.chapter}.json").write_text(res.to_json())


def test_committed_results_load_name_a_commit_of_this_history_and_stale_ones_are_marked():
    """Every file under book/results/ is machine output: valid, with provenance from a clean commit in this
    history; every row of a stale one is labelled stale in the ledger and in the chapter box."""
    if not HEAD:
        pytest.skip("not a git checkout: the commits of the stored results cannot be checked")
    assert results.stored_problems() == []
    scale = ledger.paper_scale()
    stored = [f for p in PAPER_SCALE for f in (results.STORED / p).glob("*.json")]
    assert len(stored) == sum(len(got) for got in scale.values())       # nothing stored is left out
    for cid, got in scale.items():
        mine = ChapterResult(cid, "quick", "cpu", 1.0, [dataclasses.replace(c) for c in got[0].claims])
        table, box = ledger.ledger_html([mine], scale), results.claims_html(mine.claims, others=got)
        for r in got:
            assert r.profile in PAPER_SCALE and r.provenance.datasets and "mnist-10k" not in r.provenance.datasets, r
            label = f"<small>{r.profile} (stale):</small>" if r.stale else f"<small>{r.profile}:</small>"
            assert table.count(label) == box.count(label) == len(mine.claims), (cid, r.profile, r.stale)


def test_stored_problems_finds_bad_files_dirty_runs_and_foreign_commits(tmp_path):
    if not HEAD:
        pytest.skip("not a git checkout")
    _write(tmp_path, _stored("updates", "paper-cpu", "agrees"))
    assert results.stored_problems(tmp_path) == []
    _write(tmp_path, _stored("interevent", "paper-cpu", "agrees", dirty=True))
    _write(tmp_path, _stored("connectivity", "paper-cpu", "agrees", commit="f" * 40))
    problems = results.stored_problems(tmp_path)
    assert len(problems) == 2 and "connectivity.json: commit ffff" in problems[0] and "not in this checkout's history" \
        in problems[0] and "interevent.json: made from uncommitted changes" in problems[1]
    (tmp_path / "paper").mkdir()
    (tmp_path / "paper" / "updates.json").write_text(_stored("updates", "paper-cpu", "agrees").to_json())
    assert any("its profile is 'paper-cpu', not 'paper'" in p for p in results.stored_problems(tmp_path))


def test_a_result_judged_by_other_rules_is_stale():
    assert _stored("updates", "paper-cpu", "agrees").stale is False
    old = _stored("updates", "paper-cpu", "agrees", rules="0" * 16)
    assert old.stale is True and "STALE" in results.scale_label(old)
    assert ChapterResult("updates", "ci", "cpu", 1.0, []).stale is None


def test_differences_round_trip_and_are_checked():
    res = _stored("updates", "paper-cpu", "agrees", differences=["CNN not run"])
    back = ChapterResult.from_dict(json.loads(res.to_json()))
    assert back.differences == ["CNN not run"] and back.provenance == res.provenance
    assert "differences" not in dataclasses.replace(res, differences=[]).as_dict()
    d = res.as_dict()
    d["differences"] = [1]
    with pytest.raises(ValueError, match="'differences' must be a list of strings"):
        ChapterResult.from_dict(d)


def test_a_chapters_result_carries_what_its_profile_changes():
    assert chapter_result("updates", "paper-cpu", "cpu", 1.0, []).differences == \
        list(chapter_module("updates").PROFILE_DIFFERENCES["paper-cpu"])
    assert chapter_result("updates", "quick", "cpu", 1.0, []).differences == []


def test_paper_cpu_is_optional_and_keeps_the_papers_data():
    with_it = [c for c in available() if has_profile(c, "paper-cpu")]
    assert with_it, "no chapter defines a paper-cpu variant"
    for cid in with_it:
        mod = chapter_module(cid)
        assert mod.PROFILE_DIFFERENCES["paper-cpu"], f"{cid}: paper-cpu must say what differs from paper"
        assert "mnist-10k" not in repr(mod.PROFILES["paper-cpu"]), f"{cid}: paper-cpu must use the full data"
    without = next(c for c in available() if not has_profile(c, "paper-cpu"))
    with pytest.raises(ConfigError, match="has no 'paper-cpu' variant"):
        chapter_config(chapter_module(without).PROFILES, "paper-cpu")
    assert main(["reproduce", without, "--profile", "paper-cpu", "--out", "/tmp"]) == 2


def test_ledger_lists_claims_that_change_verdict_between_scales_agree_vs_differ_first():
    quick = [ChapterResult("updates", "quick", "cpu", 1.0,
                           [Claim("updates.a", "s", 1, 1, verdict="agrees"),
                            Claim("updates.b", "s", 1, 1, verdict="inconclusive"),
                            Claim("updates.c", "s", None, 3, kind="finding")])]
    scale = {"updates": [_stored("updates", "paper-cpu", "differs")]}
    rows = ledger.disagreements(quick, scale)
    assert [(r["id"], r["verdict"], r["scale_verdict"]) for r in rows] == [
        ("updates.a", "agrees", "differs"), ("updates.b", "inconclusive", "agrees")]
    text = ledger.scale_summary_markdown(quick, scale)
    assert "2 claim(s) of the 1 chapter(s)" in text and "| updates | `updates.a` | reproduction | agrees (quick) | " \
        "differs (paper-cpu) |" in text
    html = ledger.ledger_html(quick, scale)
    assert html.count("paper-cpu") == 3 and "✘ differs" in html
    assert ledger.disagreements(quick, {}) == [] and "No stored paper-scale results" in \
        ledger.scale_summary_markdown(quick, {})


def test_chapter_box_shows_stored_paper_scale_verdicts_under_its_own(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "STORED", tmp_path)
    _write(tmp_path, _stored("updates", "paper-cpu", "differs", differences=["CNN not run"]))
    box = ChapterResult("updates", "quick", "cpu", 1.0, [Claim("updates.a", "s", 1, 1, verdict="agrees")])._repr_html_()
    assert box.index("✔ agrees") < box.index("paper-cpu:") < box.index("✘ differs")
    assert "CNN not run" in box and f"commit {HEAD[:7]}" in box
    (tmp_path / "paper-cpu" / "updates.json").write_text("{}")
    assert "stored paper-scale results not shown" in \
        ChapterResult("updates", "quick", "cpu", 1.0, [])._repr_html_()
