"""E-government assurance: page fingerprints and baselines, mail sessions, certificate expiry rules."""

from __future__ import annotations

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
