"""The reproduction ledger is rendered from chapter results, re-running only what is missing."""
from critnotes.book import ledger
from critnotes.book.results import ChapterResult, Claim


def _result(chapter, profile, agrees):
    return ChapterResult(chapter, profile, "cpu", 1.0, [Claim(f"{chapter}.x", "s", 1.0, 1.1, agrees)])


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
    assert ledger.tally(results) == {"updates": {"agrees": 1, "differs": 0, "no number": 0},
                                     "maxent": {"agrees": 0, "differs": 1, "no number": 0},
                                     "ruggedness": {"agrees": 0, "differs": 1, "no number": 0}}
    html = ledger.ledger_html(results)
    assert html.count("<tr>") == 1 + 3 and "maxent.x" in html and "✘ differs" in html
    # what was re-run is saved for next time
    assert ledger.gather("ci", folder=tmp_path, run_missing=False)[1].claims[0].agrees is False


def test_summary_text_and_plot_count_every_claim():
    counts = {"updates": {"agrees": 2, "differs": 1, "no number": 0}, "ccg": {"agrees": 0, "differs": 0, "no number": 3}}
    text = ledger.summary_text(counts)
    assert text.splitlines()[0] == "6 claims: 2 agree with the paper, 1 differ, 3 have no paper number to compare with."
    fig = ledger.plot_tally(counts, "ci")
    widths = sorted(round(p.get_width()) for p in fig.axes[0].patches)
    assert widths == [0, 0, 0, 1, 2, 3] and "ci" in fig.axes[0].get_title()
