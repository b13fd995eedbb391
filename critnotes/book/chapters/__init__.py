"""Chapter experiments, one module per chapter, each with the same small surface:

* ``CHAPTER`` — the chapter id (``updates``, ``maxent``, …);
* ``PROFILES`` — ``{"ci": Config(...), "quick": Config(...), "paper": Config(...)}`` of a frozen config dataclass,
  optionally a ``"paper-cpu"`` preset with ``PROFILE_DIFFERENCES = {"paper-cpu": ("what is shortened", …)}``;
* ``run(cfg, device=None, progress=True)`` — the experiment: config in, results object out
  (trainings go through :func:`critnotes.training.loop.train`, so they are cached);
* ``claims(results) -> list[Claim]`` — the measured numbers next to the paper's;
* ``reproduce(profile=None, device=None, progress=True) -> ChapterResult`` — what the CLI calls.

The notebook and the CLI call the same ``run`` and ``claims``.
"""
from __future__ import annotations

import importlib
import time
from types import ModuleType

from critnotes.book.profiles import get_profile
from critnotes.book.results import ChapterResult, Claim, Provenance
from critnotes.training.data import datasets_used
from critnotes.training.device import resolve_device

#: chapter id → module name, in book order
CHAPTERS = {
    "updates": "updates",
    "maxent": "maxent",
    "mutual-information": "mutual_information",
    "ruggedness": "ruggedness",
    "interevent": "interevent",
    "connectivity": "connectivity",
    "concentration": "concentration",
    "flux": "flux",
    "heavy-tailed-connectivity": "heavy_tailed_connectivity",
    "ccg": "ccg",
    "criticality-metrics": "criticality_metrics",
}


def chapter_module(chapter: str) -> ModuleType:
    """The module of a chapter id; a clear error for unknown or not-yet-written chapters."""
    if chapter not in CHAPTERS:
        raise ValueError(f"unknown chapter {chapter!r}; choose one of: {', '.join(CHAPTERS)} (or 'all')")
    name = f"{__name__}.{CHAPTERS[chapter]}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise NotImplementedError(f"chapter {chapter!r} has no experiments yet ({name} is missing)") from None


def available() -> list[str]:
    """Chapter ids whose experiment module exists, in book order."""
    out = []
    for cid in CHAPTERS:
        try:
            chapter_module(cid)
        except NotImplementedError:
            continue
        out.append(cid)
    return out


def has_profile(chapter: str, profile: str) -> bool:
    """Whether the chapter defines a preset for ``profile`` (``paper-cpu`` is optional)."""
    return get_profile(profile) in chapter_module(chapter).PROFILES


def chapter_result(chapter: str, profile: str | None, device, seconds: float, claims: list[Claim]) -> ChapterResult:
    """Package a chapter's claims per the results contract (profile and device resolved to names), with the
    provenance of this process (git commit, date, data sets used, rules fingerprint, machine) and what the
    profile changes from the paper's settings (the chapter's ``PROFILE_DIFFERENCES``)."""
    dev, mod, name = resolve_device(device), chapter_module(chapter), get_profile(profile)
    return ChapterResult(chapter=chapter, profile=name, device=dev.type, seconds=seconds, claims=claims,
                         provenance=Provenance.collect(str(dev), code=[mod]),
                         differences=list(getattr(mod, "PROFILE_DIFFERENCES", {}).get(name, ())))


def reproduce(chapter: str, profile: str | None = None, device=None, progress: bool = True) -> ChapterResult:
    """Run one chapter headless and return its :class:`ChapterResult`."""
    mod = chapter_module(chapter)
    get_profile(profile)
    datasets_used(reset=True)                 # the provenance lists this chapter's data sets only
    t0 = time.perf_counter()
    result = mod.reproduce(profile=profile, device=device, progress=progress)
    result.seconds = time.perf_counter() - t0
    return result


def summarize(module: ModuleType, results, profile: str | None = None, device=None, seconds: float = 0.0,
              save: bool = True) -> ChapterResult:
    """The "Does it reproduce?" box of a chapter: its ``claims(results)`` as a :class:`ChapterResult`.

    Notebooks call this on the results they plotted (``save=True`` leaves ``<chapter>.json`` in
    :func:`critnotes.book.results.results_dir` for the ledger); ``reproduce`` calls it headless.
    Displaying the returned object in a notebook renders the table.
    """
    res = chapter_result(module.CHAPTER, profile, device, seconds, module.claims(results))
    if save:
        res.save()
    return res
