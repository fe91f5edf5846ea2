"""E-government assurance: page fingerprints and baselines, mail sessions, certificate expiry rules."""

from __future__ import annotations

from netwatch import causes

# Error classes that mean someone tampered with a public system; the paging code maps them to
# the `security` alert category.
SECURITY_ERRORS: frozenset[str] = frozenset({
    "content_changed",
    "new_external_script",
    "form_changed",
    "forbidden_content",
    "required_missing",
})

SECURITY_CATEGORY = "security"


def category_of(error: str | None) -> str | None:
    """`security` for a defacement error class, else None (the caller's default applies)."""
    return SECURITY_CATEGORY if error in SECURITY_ERRORS else None


# Names for people of the error and degraded classes these checks emit: kept as a view of the one
# catalogue in netwatch.causes (pages, board and report all word a cause the same way).
ERROR_NAMES: dict[str, dict[str, str]] = {
    lang: {name: c.text(lang) for name, c in {**causes.DEGRADED, **causes.ERRORS}.items()}
    for lang in ("vi", "en")
}
