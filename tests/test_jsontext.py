"""JSON text with an indent, made by msgspec where the value is plain JSON without a float
(`support.jsontext`), is byte for byte what `json.dumps` writes, whatever the value; the
pages and feeds use it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from publish.support.jsontext import indented_json

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and the infinities too
    st.text(),  # any code point, lone surrogates included
    st.text(max_size=4).map(Markup),  # a str subclass, as pages pass
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
    ),
    max_leaves=20,
)


@given(value=VALUES, indent=st.sampled_from([0, 1, 2, 4]), sort_keys=st.booleans())
def test_the_text_is_what_json_dumps_writes(value: Any, indent: int, sort_keys: bool) -> None:
    expected = json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=sort_keys)
    assert indented_json(value, indent, sort_keys) == expected


@pytest.mark.parametrize(
    "value", [{1: "a", "b": 2}, {"when": object()}, [1, {"x": {2.5: None}}], {"a": 1, 2: 3}]
)
def test_what_is_not_plain_json_is_left_to_json_dumps(value: Any) -> None:
    try:
        expected: Any = json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)
    except TypeError as exc:
        expected = type(exc)
    try:
        made: Any = indented_json(value, 1, sort_keys=True)
    except TypeError as exc:
        made = type(exc)
    assert made == expected


def test_a_circle_is_refused_as_json_dumps_refuses_it() -> None:
    circle: list[Any] = []
    circle.append(circle)
    with pytest.raises(ValueError, match="Circular reference"):
        indented_json(circle, 1)
