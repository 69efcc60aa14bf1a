from hypothesis import given
from hypothesis import strategies as st
from tigerseal._text import escape_control


def test_printable_text_is_unchanged() -> None:
    assert escape_control("alias/app-key v3 ünïcode") == "alias/app-key v3 ünïcode"


def test_newlines_and_ansi_are_escaped() -> None:
    out = escape_control("key\nFAKE LOG LINE\x1b[2J\r")
    assert out == "key\\nFAKE LOG LINE\\x1b[2J\\r"


def test_bidi_and_separators_are_escaped() -> None:
    assert escape_control("a\u202eb\u2028c\u2029d\x85") == "a\\u202eb\\u2028c\\u2029d\\x85"


def test_backslash_is_doubled_so_output_is_unambiguous() -> None:
    assert escape_control("a\\nb") == "a\\\\nb"
    assert escape_control("a\\nb") != escape_control("a\nb")


def test_limit_marks_the_cut() -> None:
    assert escape_control("x" * 10, limit=4) == "xxxx…"
    assert escape_control("xxxx", limit=4) == "xxxx"


@given(st.text())
def test_output_never_contains_controls(text: str) -> None:
    out = escape_control(text)
    assert out.isprintable()
