"""The docs a new user reads first: true, inside the repository, and in Vietnamese for duty staff."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_readme_points_at_nothing_outside_the_repository() -> None:
    for doc in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for target in re.findall(r"`(\.\./[^`]+)`|\]\((\.\./[^)]+)\)", text):
            path = next(t for t in target if t)
            assert (doc.parent / path).resolve().is_relative_to(REPO), f"{doc}: {path}"
        assert "shared/DESIGN.md" not in text, doc


def test_readme_tells_the_demo_length_and_the_new_commands() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert "about 6.5 minutes" in text and "--fast" in text
    for command in ("`netwatch import INVENTORY.csv", "`netwatch discover --seed", "`netwatch check -c FILE [--strict]`"):
        assert command in text
    assert ".venv" in text and "/usr/local/bin" in text


def test_vietnamese_quick_starts_cover_the_duty_officer_and_the_engineer() -> None:
    duty = (REPO / "docs" / "vi" / "truc-ban.md").read_text(encoding="utf-8")
    for needed in ("/board", "netwatch ack", "netwatch maintenance add", "netwatch report", "netwatch incidents"):
        assert needed in duty
    setup = (REPO / "docs" / "vi" / "thiet-lap.md").read_text(encoding="utf-8")
    for needed in ("scripts/install.sh", "netwatch import", "netwatch discover", "profiles:", "check --strict"):
        assert needed in setup
    assert "Hướng dẫn" in duty and "Hướng dẫn" in setup


def test_config_reference_documents_profiles_inventory_and_unset_secrets() -> None:
    text = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    for heading in ("## Profiles", "## Inventory"):
        assert heading in text
    for needed in ("match_labels", "Authorization_file", "--strict", "1m30s", "config/venue.example.env"):
        assert needed in text
