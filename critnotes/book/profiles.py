"""Profiles (``ci`` / ``quick`` / ``paper-cpu`` / ``paper``) and validated chapter configs.

Every chapter defines a frozen dataclass of its settings and one preset per profile::

    PROFILES = {"ci": UpdatesConfig(steps=200), "quick": UpdatesConfig(...), "paper": UpdatesConfig(...)}
    cfg = chapter_config(PROFILES, profile=None, lr=0.1)   # profile from CRITNOTES_PROFILE, one override

``paper-cpu`` is optional: a chapter whose ``paper`` run does not fit a 2-core CPU may add it — the paper's
recipe and data, shortened only where it must be — with ``PROFILE_DIFFERENCES["paper-cpu"]``, the list of what
differs from ``paper`` (stored with every result of that profile).  A shortened run is never called ``paper``.

A misspelled profile or setting raises a :class:`ConfigError` that lists the valid choices,
instead of being silently ignored (STYLE.md, convention 4).
"""
from __future__ import annotations

import os
from typing import Mapping, TypeVar

from critnotes.analysis.records import ConfigError, replace_checked

PROFILE_NAMES = ("ci", "quick", "paper-cpu", "paper")
#: every chapter has these presets; the others are optional (a chapter without one says so when asked for it)
REQUIRED_PROFILES = ("ci", "quick", "paper")
#: the profiles whose results are "paper scale" (stored under ``book/results/<profile>/``, shown next to ``quick``)
PAPER_SCALE = ("paper-cpu", "paper")
DEFAULT_PROFILE = "quick"
PROFILE_ENV = "CRITNOTES_PROFILE"

PROFILE_HELP = {
    "ci": "seconds per notebook; used by nbmake in the tests (numbers are not meaningful)",
    "quick": "default; the whole book on a 2-core laptop CPU in well under an hour",
    "paper-cpu": "the papers' recipe and full data, shortened where a 2-core CPU must (each chapter lists what "
                 "differs); only chapters that define it",
    "paper": "the papers' settings (hours on CPU; use CUDA where available)",
}

C = TypeVar("C")


def get_profile(profile: str | None = None) -> str:
    """The active profile: ``profile`` if given, else ``$CRITNOTES_PROFILE``, else ``quick``."""
    name = profile if profile is not None else os.environ.get(PROFILE_ENV, DEFAULT_PROFILE)
    name = name.strip().lower()
    if name not in PROFILE_NAMES:
        choices = ", ".join(f"'{p}' ({PROFILE_HELP[p]})" for p in PROFILE_NAMES)
        src = "argument" if profile is not None else f"${PROFILE_ENV}; fix or unset it"
        raise ConfigError(f"unknown profile {name!r} (from {src}); choose one of: {choices}")
    return name


def chapter_config(presets: Mapping[str, C], profile: str | None = None, **overrides) -> C:
    """The preset of the active profile with ``overrides`` applied (both validated)."""
    name = get_profile(profile)
    missing = [p for p in REQUIRED_PROFILES if p not in presets]
    if missing:
        raise ConfigError(f"presets lack profile(s) {missing}")
    if name not in presets:
        raise ConfigError(f"this chapter has no {name!r} variant (its 'paper' run needs no shortening, or it is not "
                          f"written yet); use --profile paper, or one of: {', '.join(presets)}")
    return replace_checked(presets[name], **overrides)

