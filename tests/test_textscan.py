"""Two-character marks found through their first character (publish.support.textscan)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from publish.support.textscan import MAX_PROBES, holds_pair, pair_count

TEXT = st.text(alphabet=st.sampled_from(list("ab]:(![ \n")), max_size=80)


@given(text=TEXT, pair=st.sampled_from(["](", "![", "]:"]))
def test_a_pair_is_counted_and_found_as_str_finds_it(text: str, pair: str) -> None:
    assert pair_count(text, pair) == text.count(pair)
    assert holds_pair(text, pair) == (pair in text)


def test_a_text_full_of_the_first_character_is_searched_plainly() -> None:
    text = "]" * (MAX_PROBES * 3) + "](x)" + "]:" * 5
    assert pair_count(text, "](") == 1
    assert pair_count(text, "]:") == 5
    assert holds_pair(text, "](")
