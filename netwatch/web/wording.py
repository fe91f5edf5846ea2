"""Cause words for the wall (vi/en), from the one shared catalogue (netwatch.causes) the pages also use."""

from __future__ import annotations

from netwatch import causes


def is_security(error: str | None) -> bool:
    """Someone tampered with a system (defacement, config drift, ...): own colour and words, not an outage."""
    return causes.is_security(error)


def cause(error: str | None, degraded: str | None = None, detail: str = "") -> dict[str, str] | None:
    """{"vi": ..., "en": ...} for an error (or degraded) class, with the detail's numbers when the catalogue
    has a template for them; None when there is nothing to say."""
    if not error and not degraded:
        return None
    return {lang: causes.describe(error, detail, lang, degraded) for lang in ("vi", "en")}


def state_words(state: str) -> dict[str, str] | None:
    """Words for a state that is not the check's own failure: behind a dead parent, or in maintenance."""
    known = causes.STATES.get(state) if state in ("unreachable", "maintenance") else None
    return {"vi": known.vi, "en": known.en} if known is not None else None
