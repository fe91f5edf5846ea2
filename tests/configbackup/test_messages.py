"""The ssh-trust/config-freeze/config-diff texts: both languages complete, confirmation answers per language."""

from __future__ import annotations

import string
import unicodedata

import pytest

from netwatch.commands.configbackup import TEXTS, is_yes


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_text_exists_in_both_languages_with_the_same_fields() -> None:
    assert TEXTS["vi"].keys() == TEXTS["en"].keys()
    for key, vi in TEXTS["vi"].items():
        # English may add a plural word; Vietnamese has no plural, so it may leave one out.
        assert fields(vi) <= fields(TEXTS["en"][key]), key
        assert fields(TEXTS["en"][key]) - fields(vi) <= {"entries"}, key


@pytest.mark.parametrize("answer", ["c", "C", "có", "Có", unicodedata.normalize("NFD", "có"), " co \n", "y", "yes"])
def test_vietnamese_confirmations(answer: str) -> None:
    assert is_yes(answer, "vi")


@pytest.mark.parametrize("answer", ["", "k", "không", "n", "no", "cos", "yes please"])
def test_vietnamese_refusals(answer: str) -> None:
    assert not is_yes(answer, "vi")


def test_english_takes_only_y_or_yes() -> None:
    assert is_yes("Y", "en") and is_yes("yes", "en")
    assert not is_yes("c", "en") and not is_yes("có", "en")
