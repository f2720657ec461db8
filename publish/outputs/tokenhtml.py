"""markdown-it-py's HTML rendering, sooner: the same strings as its `RendererHTML`.

`FastRendering` stands between a renderer of ours and `RendererHTML`. Its render loop looks
each token's rule up once in a table made for the options' shape, and the rules it brings
for what the library renders by default (a tag from its token, text, breaks, raw HTML) are
plain functions that write the same string as the library's (`tag_html` is its
`renderToken`, shape for shape: hidden tokens, attributes, block newlines, XHTML slashes).
A rule a renderer of ours defines itself is kept and called as the library would call it;
a token type without a rule is written by `tag_html`, as the library writes it by
`renderToken`. tests/test_tokenhtml.py holds it to the library's output.

`render_pair` writes what two such renderers write of the same tokens (an essay's web page
and its feed entry) in one pass: a token both write by the same plain rule (text, a tag, a
break: most of an essay) is written once, for both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache, partial
from html import escape
from typing import Any, NamedTuple

from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

Rule = Callable[[Sequence[Token], int, Any, Any], str]
Tables = tuple[dict[str, Rule], dict[str, Rule], Rule]  # block rules, inline rules, default


def escape_html(text: str) -> str:
    """markdown-it's `escapeHtml`, sooner for text with nothing to escape (most of it)."""
    if "&" in text or "<" in text or ">" in text or '"' in text:
        return escapeHtml(text)
    return text


def html_escape(text: str) -> str:
    """`html.escape(text)` (quotes too), sooner for text with nothing to escape."""
    if "&" in text or "<" in text or ">" in text or '"' in text or "'" in text:
        return escape(text)
    return text


def attrs_html(attrs: Mapping[str, Any]) -> str:
    """A token's attributes as `RendererHTML.renderAttrs` writes them."""
    return "".join(
        f' {escape_html(key)}="{escape_html(str(value))}"' for key, value in attrs.items()
    )


def tag_html(
    tokens: Sequence[Token], idx: int, xhtml: bool, attrs: Mapping[str, Any] | None = None
) -> str:
    """The tag of `tokens[idx]` as `RendererHTML.renderToken` writes it (with `attrs` in
    place of the token's own when given)."""
    return _tag(tokens, idx, None, None, xhtml, attrs)


def _tag(
    tokens: Sequence[Token],
    idx: int,
    options: Any,
    env: Any,
    xhtml: bool = True,
    attrs: Mapping[str, Any] | None = None,
) -> str:
    """`tag_html` as a rule (XHTML unless told)."""
    token = tokens[idx]
    if token.hidden:
        return ""
    nesting = token.nesting
    html = ("</" if nesting == -1 else "<") + token.tag
    attrs = token.attrs if attrs is None else attrs
    if attrs:
        html += attrs_html(attrs)
    if nesting == 0 and xhtml:
        html += " /"
    if not token.block:
        return html + ">"
    if nesting != -1 and idx and tokens[idx - 1].hidden:
        html = "\n" + html
    if nesting == 1 and idx + 1 < len(tokens):
        following = tokens[idx + 1]
        if following.type == "inline" or following.hidden:
            return html + ">"
        if following.nesting == -1 and following.tag == token.tag:
            return html + ">"
    return html + ">\n"


def _text(tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return escape_html(tokens[idx].content)


def _raw(tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return tokens[idx].content


# The rules that write a token from the token list and the options alone (never the
# renderer or `env`): what two renderers write by the same one of them is the same.
_PLAIN_RULES: set[Rule] = {_tag, _text, _raw}


@cache  # one rule a text, so that renderers of the same options share it
def _constant(text: str) -> Rule:
    def rule(tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        return text

    _PLAIN_RULES.add(rule)
    return rule


@cache  # one rule a shape, so that renderers of the same options share it
def _tag_rule(xhtml: bool) -> Rule:
    rule = _tag if xhtml else partial(_tag, xhtml=False)
    _PLAIN_RULES.add(rule)
    return rule


def default_rules(xhtml: bool, breaks: bool) -> dict[str, Rule]:
    """The library's own rules that depend on nothing but the token and these options, as
    plain functions."""
    line_break = "<br />\n" if xhtml else "<br>\n"
    return {
        "text": _text,
        "html_block": _raw,
        "html_inline": _raw,
        "hardbreak": _constant(line_break),
        "softbreak": _constant(line_break if breaks else "\n"),
    }


class FastRendering(RendererHTML):
    """`RendererHTML`'s rendering with one table look-up a token and plain-function rules
    for the library's defaults; put after a renderer of ours in its bases, so that its
    rules and its `render` come first."""

    def __init__(self, parser: Any = None) -> None:
        super().__init__(parser)
        self._tables: dict[tuple[bool, bool], Tables] = {}

    def _tables_for(self, options: Any) -> Tables:
        """The rule tables for the options' shape (made once a shape)."""
        shape = (bool(options["xhtmlOut"]), bool(options["breaks"]))
        tables = self._tables.get(shape)
        if tables is None:
            tables = self._tables[shape] = self._make_tables(*shape)
        return tables

    def _make_tables(self, xhtml: bool, breaks: bool) -> Tables:
        """Each rule of this renderer, a library default replaced by its plain function."""
        rules: dict[str, Rule] = dict(self.rules)
        for name, rule in default_rules(xhtml, breaks).items():
            if getattr(type(self), name, None) is getattr(RendererHTML, name, None):
                rules[name] = rule
        own_token = type(self).renderToken is not FastRendering.renderToken
        default = self.renderToken if own_token else _tag_rule(xhtml)
        inline_rules = dict(rules)
        rules.pop("inline", None)  # at the block level an inline token renders its children
        return rules, inline_rules, default

    def prepared_env(self, tokens: Sequence[Token], env: Any) -> Any:
        """The `env` a rendering of `tokens` starts with (a renderer of ours may add to it)."""
        return env

    def render(self, tokens: Sequence[Token], options: Any, env: Any) -> str:
        """What `RendererHTML.render` returns."""
        rules, inline_rules, default = self._tables_for(options)
        own_inline = type(self).renderInline is not FastRendering.renderInline
        out: list[str] = []
        append, rule = out.append, rules.get
        for idx, token in enumerate(tokens):
            kind = token.type
            if kind != "inline":
                append(rule(kind, default)(tokens, idx, options, env))
            elif token.children:
                children = token.children
                if own_inline:
                    append(self.renderInline(children, options, env))
                else:
                    append(_inline(children, inline_rules, default, options, env))
        return "".join(out)

    def renderInline(self, tokens: Sequence[Token], options: Any, env: Any) -> str:
        """What `RendererHTML.renderInline` returns."""
        _, rules, default = self._tables_for(options)
        return _inline(tokens, rules, default, options, env)

    def renderToken(self, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        """What `RendererHTML.renderToken` returns."""
        return _tag(tokens, idx, options, env, bool(options["xhtmlOut"]))


def _inline(
    tokens: Sequence[Token], rules: dict[str, Rule], default: Rule, options: Any, env: Any
) -> str:
    """Inline tokens rendered by their rules (text by the library's, written out here)."""
    plain_text = rules.get("text") is _text
    out: list[str] = []
    append, rule = out.append, rules.get
    for idx, token in enumerate(tokens):
        kind = token.type
        if kind == "text" and plain_text:
            text = token.content  # `escape_html`, written out: most tokens are text
            if "&" in text or "<" in text or ">" in text or '"' in text:
                text = escapeHtml(text)
            append(text)
        else:
            append(rule(kind, default)(tokens, idx, options, env))
    return "".join(out)


# How two renderers write one token type: the first's rule, and the second's, or None when
# both write it by the same plain rule (so it is written once, for both).
Writers = tuple[Rule, Rule | None]


class _Plan(NamedTuple):
    """How two renderers' block (or inline) tables write each token type."""

    writers: dict[str, Writers]  # each type with a rule in either table
    fallback: Writers  # a type with a rule in neither
    text: bool  # whether both write text by the library's rule


def _plan(first: Tables, second: Tables, inline: bool) -> _Plan:
    """How two renderers write each token type, found once from their tables."""
    rules_a, rules_b = (first[1], second[1]) if inline else (first[0], second[0])
    writers: dict[str, Writers] = {}
    for kind in rules_a.keys() | rules_b.keys():
        rule_a, rule_b = rules_a.get(kind, first[2]), rules_b.get(kind, second[2])
        writers[kind] = (rule_a, None if rule_a is rule_b and rule_a in _PLAIN_RULES else rule_b)
    by_default = first[2] is second[2] and first[2] in _PLAIN_RULES
    fallback = (first[2], None if by_default else second[2])
    return _Plan(writers, fallback, rules_a.get("text") is _text is rules_b.get("text"))


# how two renderers' tables write each type, by the tables' identities (kept with them)
_shared_rules: dict[tuple[int, int], tuple[Tables, Tables, _Plan, _Plan]] = {}


def _plans(first: Tables, second: Tables) -> tuple[_Plan, _Plan]:
    """How two renderers write each block type and each inline type (found once a pair)."""
    found = _shared_rules.get((id(first), id(second)))
    if found is None or found[0] is not first or found[1] is not second:
        plans = _plan(first, second, inline=False), _plan(first, second, inline=True)
        found = _shared_rules[id(first), id(second)] = (first, second, *plans)
    return found[2], found[3]


def render_pair(
    first: FastRendering,
    second: FastRendering,
    tokens: Sequence[Token],
    options: Any,
    envs: tuple[Any, Any],
) -> tuple[str, str]:
    """What `first.render(tokens, options, envs[0])` and `second.render(tokens, options,
    envs[1])` return, for renderers whose `render` is `prepared_env` then `FastRendering`'s:
    written in one pass, each token both write by the same plain rule written once (apart,
    when either renderer writes inline tokens its own way)."""
    if any(type(r).renderInline is not FastRendering.renderInline for r in (first, second)):
        return first.render(tokens, options, envs[0]), second.render(tokens, options, envs[1])
    plan, inline_plan = _plans(first._tables_for(options), second._tables_for(options))
    env_a, env_b = first.prepared_env(tokens, envs[0]), second.prepared_env(tokens, envs[1])
    out_a: list[str] = []
    out_b: list[str] = []
    append_a, append_b = out_a.append, out_b.append
    writers, fallback = plan.writers.get, plan.fallback
    inline_writers, inline_fallback, plain_text = inline_plan
    inline_get = inline_writers.get
    for idx, token in enumerate(tokens):
        kind = token.type
        if kind != "inline":
            rule_a, rule_b = writers(kind, fallback)
            if rule_a is _tag and token.nesting == -1 and not token.hidden and not token.attrs:
                piece = f"</{token.tag}>\n" if token.block else f"</{token.tag}>"  # `_tag`'s
            else:
                piece = rule_a(tokens, idx, options, env_a)
            append_a(piece)
            append_b(piece if rule_b is None else rule_b(tokens, idx, options, env_b))
            continue
        # an inline token's children, written by the inline rules straight into both bodies
        children = token.children or ()
        for index, child in enumerate(children):
            kind = child.type
            if kind == "text" and plain_text:
                text = child.content  # `escape_html`, written out: most tokens are text
                if "&" in text or "<" in text or ">" in text or '"' in text:
                    text = escapeHtml(text)
                append_a(text)
                append_b(text)
                continue
            rule_a, rule_b = inline_get(kind, inline_fallback)
            if rule_a is _tag and child.nesting == -1 and not child.hidden and not child.attrs:
                piece = f"</{child.tag}>\n" if child.block else f"</{child.tag}>"  # `_tag`'s
            else:
                piece = rule_a(children, index, options, env_a)
            append_a(piece)
            append_b(piece if rule_b is None else rule_b(children, index, options, env_b))
    return "".join(out_a), "".join(out_b)
