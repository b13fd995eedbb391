"""The reproduction ledger is rendered from chapter results, re-running only what is missing."""
from critnotes.book import ledger
from critnotes.book.results import ChapterResult, Claim


def _result(chapter, profile, agrees):
    return ChapterResult(chapter, profile, "cpu", 1.0, [Claim(f"{chapter}.x", "s", 1.0, 1.1,
                                                              verdict="agrees" if agrees else "differs")])


def test_gather_uses_saved_results_and_reruns_missing_or_other_profile(tmp_path, monkeypatch):
    _result("updates", "ci", True).save(tmp_path)
    _result("maxent", "quick", True).save(tmp_path)        # another profile: must be re-run for ci
    ran = []

    def fake_reproduce(cid, profile, progress):
        ran.append((cid, profile))
        return _result(cid, profile, False)

    monkeypatch.setattr(ledger, "available", lambda: ["updates", "maxent", "ruggedness"])
    monkeypatch.setattr(ledger, "reproduce", fake_reproduce)
    results = ledger.gather("ci", folder=tmp_path)
    assert [r.chapter for r in results] == ["updates", "maxent", "ruggedness"]
    assert ran == [("maxent", "ci"), ("ruggedness", "ci")]
    zero = dict.fromkeys(ledger.COLUMNS, 0)
    assert ledger.tally(results) == {"updates": {**zero, "agrees": 1}, "maxent": {**zero, "differs": 1},
                                     "ruggedness": {**zero, "differs": 1}}
    html = ledger.ledger_html(results)
    assert html.count("<tr>") == 1 + 3 and "maxent.x" in html and "✘ differs" in html
    # what was re-run is saved for next time
    assert ledger.gather("ci", folder=tmp_path, run_missing=False)[1].claims[0].agrees is False


def test_tally_counts_reproductions_by_verdict_and_keeps_checks_and_findings_apart():
    claims = [Claim("updates.a", "s", 1, 1, verdict="agrees"), Claim("updates.b", "s", 1, 2, verdict="inconclusive"),
              Claim("updates.c", "s", 1, 1, kind="check", verdict="agrees"), Claim("updates.d", "s", None, 3,
                                                                                 kind="finding")]
    counts = ledger.tally([ChapterResult("updates", "ci", "cpu", 1.0, claims)])
    assert counts == {"updates": {"agrees": 1, "differs": 0, "inconclusive": 1, "not measured": 0, "checks": 1,
                                  "findings": 1}}


def test_summary_text_and_plot_count_every_claim():
    zero = dict.fromkeys(ledger.COLUMNS, 0)
    counts = {"updates": {**zero, "agrees": 2, "differs": 1, "checks": 4}, "ccg": {**zero, "inconclusive": 3, "findings": 5}}
    text = ledger.summary_text(counts)
    assert text.splitlines()[0].startswith("6 reproductions of the papers' statements: 2 agree, 1 differ, "
                                           "3 inconclusive, 0 not measured (besides 4 checks")
    fig = ledger.plot_tally(counts, "ci")
    widths = sorted(round(p.get_width()) for p in fig.axes[0].patches)
    assert widths == [0] * 7 + [1, 2, 3, 4, 5] and "ci" in fig.axes[0].get_title()
