"""`variant_diff`: a cluster member's words against its representative's."""

from __future__ import annotations

from modqueue.queue import WordChange, variant_diff


def test_a_changed_price_and_phone_number_are_the_only_changes() -> None:
    rep = "Crossing to UK, 2000 EUR, call +44 7700 900123 today"
    variant = "Crossing to UK, 1500 EUR, call +44 7700 900999 today"
    diff = variant_diff(rep, variant)
    assert diff.parts == (
        WordChange("same", "Crossing to UK,"),
        WordChange("removed", "2000"),
        WordChange("added", "1500"),
        WordChange("same", "EUR, call +44 7700"),
        WordChange("removed", "900123"),
        WordChange("added", "900999"),
        WordChange("same", "today"),
    )
    assert diff.added == ["1500", "900999"] and diff.removed == ["2000", "900123"]
    assert not diff.identical


def test_spacing_alone_is_no_change_and_empty_texts_work() -> None:
    assert variant_diff("a  b\nc", "a b c").identical
    assert variant_diff(None, None).parts == ()
    assert variant_diff(None, "new words").parts == (WordChange("added", "new words"),)
    assert variant_diff("old words", "").parts == (WordChange("removed", "old words"),)


def test_inserted_and_swapped_words() -> None:
    diff = variant_diff("safe boat to Dover", "safe fast boat to Folkestone")
    assert diff.parts == (
        WordChange("same", "safe"),
        WordChange("added", "fast"),
        WordChange("same", "boat to"),
        WordChange("removed", "Dover"),
        WordChange("added", "Folkestone"),
    )
