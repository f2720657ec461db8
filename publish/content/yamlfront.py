"""YAML's loaders made strict for front matter: loaded only for front matter that is not of
the plainest kind (`publish.content.flatyaml` reads that without YAML)."""

from __future__ import annotations

import re
from typing import Any

import yaml
import yaml.composer

from publish.content.flatyaml import STR_TAG
from publish.errors import shown

MAX_DEPTH = 50  # front matter is a flat mapping; no real one nests lists this deep
HAS_LIBYAML = hasattr(yaml, "CSafeLoader")
YAMLError = yaml.YAMLError
SURROGATE = re.compile("[\ud800-\udfff]")


class StrictConstruction:
    """What both front matter loaders construct: keys that are text (others recorded for the
    caller to report), an impossible date kept as text, and a character beyond the Basic
    Multilingual Plane written as JSON writes it, two `\\u` escapes (`"\\ud83d\\ude00"`),
    read as that one character (as YAML 1.2, a superset of JSON, reads it)."""

    key_problems: list[tuple[yaml.Mark, str, str]]

    def construct_scalar(self, node: yaml.ScalarNode) -> Any:
        """The node's text, each escaped surrogate pair joined into its character (a lone
        surrogate left for the caller to refuse)."""
        value = super().construct_scalar(node)  # type: ignore[misc]
        return joined_surrogates(value) if isinstance(value, str) else value

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """A mapping whose keys YAML would read as anything but text (`yes:`, `1:`, `null:`)
        keep their written text as key, and are recorded for the caller to report."""
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != STR_TAG:
                self.key_problems.append(
                    (key_node.start_mark, key_node.value, key_node.tag.rsplit(":", 1)[-1])
                )
                key_node.tag = STR_TAG
        return super().construct_mapping(node, deep)  # type: ignore[misc]

    def construct_yaml_timestamp(self, node: yaml.Node) -> Any:
        """A date or datetime, or the raw text when it names no real day (2026-13-01)."""
        try:
            return super().construct_yaml_timestamp(node)  # type: ignore[misc]
        except ValueError:
            return self.construct_scalar(node)  # type: ignore[attr-defined]


class FrontMatterLoader(StrictConstruction, yaml.SafeLoader):
    """YAML's safe loader, made strict for front matter: no aliases (so no alias bomb can
    expand), no nesting deeper than MAX_DEPTH (so no recursion error), keys that are text,
    and an impossible date kept as text for the caller to report."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.depth = 0
        self.key_problems = []

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        """Compose one node, refusing aliases and deep nesting before they cost anything."""
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                f"aliases such as '*{shown(event.anchor)}' are not allowed in "
                "front matter; write the value out",
                event.start_mark,
            )
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"front matter nests more than {MAX_DEPTH} levels deep",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class FastFrontMatterLoader(StrictConstruction, yaml.CSafeLoader):
    """The same, parsed by libyaml in C: used only for front matter that cannot hold an alias
    or nest deeply (see `_plain_enough`), and never for the message of an error."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.key_problems = []


for _loader in (FrontMatterLoader, FastFrontMatterLoader):
    _loader.add_constructor(
        "tag:yaml.org,2002:timestamp", StrictConstruction.construct_yaml_timestamp
    )


def plain_enough(front_matter: str) -> bool:
    """Whether front matter can hold neither an alias nor nesting past MAX_DEPTH (then the C
    parser, which checks neither, reads it exactly as the strict one would)."""
    if "*" in front_matter or "&" in front_matter:
        return False
    return (
        front_matter.count("\n")
        + front_matter.count("[")
        + front_matter.count("{")
        + front_matter.count("-")
        + front_matter.count("?")
    ) < MAX_DEPTH - 2


def joined_surrogates(text: str) -> str:
    """`text` with each UTF-16 surrogate pair in it made the one character it encodes."""
    if not SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
