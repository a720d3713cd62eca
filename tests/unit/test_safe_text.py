"""Short excerpts of user input for error messages."""

from __future__ import annotations

from rota.safe_text import EXCERPT_CHARS, excerpt


def test_short_text_is_quoted_whole() -> None:
    assert excerpt("Mars/Olympus") == "'Mars/Olympus'"
    assert excerpt("x" * EXCERPT_CHARS) == repr("x" * EXCERPT_CHARS)


def test_long_text_is_cut_and_says_how_long_it_was() -> None:
    text = excerpt("0" * 100_000)
    assert text == repr("0" * EXCERPT_CHARS + "…") + " (100000 characters)"


def test_any_value_is_quoted_even_one_whose_str_raises() -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert excerpt(12) == "'12'"
    assert excerpt(Broken()) == "'<str() failed: RuntimeError: no>'"
