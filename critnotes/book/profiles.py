"""Profiles (``ci`` / ``quick`` / ``paper``) and validated chapter configs.

Every chapter defines a frozen dataclass of its settings and one preset per profile::

    PROFILES = {"ci": UpdatesConfig(steps=200), "quick": UpdatesConfig(...), "paper": UpdatesConfig(...)}
    cfg = chapter_config(PROFILES, profile=None, lr=0.1)   # profile from CRITNOTES_PROFILE, one override

A misspelled profile or setting raises a :class:`ConfigError` that lists the valid choices,
instead of being silently ignored (STYLE.md, convention 4).
"""
from __future__ import annotations

import os
from typing import Mapping, TypeVar

from critnotes.analysis.records import ConfigError, replace_checked

PROFILE_NAMES = ("ci", "quick", "paper")
DEFAULT_PROFILE = "quick"
PROFILE_ENV = "CRITNOTES_PROFILE"

PROFILE_HELP = {
    "ci": "seconds per notebook; used by nbmake in the tests (numbers are not meaningful)",
    "quick": "default; the whole book on a 2-core laptop CPU in well under an hour",
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
    missing = [p for p in PROFILE_NAMES if p not in presets]
    if missing:
        raise ConfigError(f"presets lack profile(s) {missing}")
    return replace_checked(presets[name], **overrides)

