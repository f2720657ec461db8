"""The model's own helpers: an essay with other tokens is the essay its constructor would
make, and loading a cached site makes each essay once."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from hypothesis import given

from bench.generate import generate
from publish.cache import parses
from publish.model import Essay
from publish.pipeline.load import load
from tests.test_cache_outputs import essays


@given(essays, essays)
def test_an_essay_with_other_tokens_is_the_replaced_one(essay: Essay, other: Essay) -> None:
    tokens, before = other.tokens, essay.tokens
    copied = essay.with_tokens(tokens)
    replaced = Essay(**{**msgspec.structs.asdict(essay), "tokens": tokens})
    assert copied == replaced and copied is not essay
    assert msgspec.structs.astuple(copied) == msgspec.structs.astuple(replaced)
    assert copied.tokens is tokens and essay.tokens is before, "the essay itself is unchanged"
    with pytest.raises(AttributeError):
        copied.title = "changed"  # type: ignore[misc]


def test_loading_a_cached_site_makes_each_essay_once(tmp_path: Path, monkeypatch) -> None:
    root = generate(6, tmp_path / "site")
    load(root)  # parses every essay and keeps it
    made = []
    real_from_record = parses.essay_from_record

    def counted(data: bytes):  # noqa: ANN202
        found = real_from_record(data)
        made.append(found[0].slug)
        return found

    monkeypatch.setattr(parses, "essay_from_record", counted)
    loaded = load(root)
    assert sorted(made) == sorted(e.slug for e in loaded.files.essays)
