"""The templates' code generator (`templatecode.JoinedOutputCode`) yields each output tag's
pieces as one string, and renders every template to exactly what Jinja's own code renders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2.compiler import CodeGenerator
from markupsafe import Markup, escape

from publish.outputs.templatecode import JoinedOutputCode
from publish.outputs.templates import template_environment


class _Shown:
    """A value that shows itself as HTML (`__html__`), not a Markup object."""

    def __html__(self) -> str:
        return "<kbd>shown</kbd>"


class _Told(str):
    """Text of a class of its own, which says something else as `str`."""

    def __str__(self) -> str:
        return "told & said"


# Pieces of a template: text (with what HTML escapes), expressions, and every tag that
# outputs (control flow, loops, macros, calls, filter blocks, set blocks, includes, blocks).
TEXT = st.text(alphabet="ab <>&\"'\n é", max_size=8).filter(
    lambda text: "{" not in text and "}" not in text and "#" not in text
)
EXPRESSIONS = st.sampled_from(
    [
        "{{ value }}",
        "{{ value | upper }}",
        "{{ safe }}",
        "{{ number + 1 }}",
        "{{ missing }}",
        "{{ items | length }}",
        "{{ '%s<%s' | format(value, number) }}",
        "{{ value ~ '&' ~ number }}",
        "{{ shout(value) }}",
        "{{ shown }}",
        "{{ told }}",
        "{{ nothing }}",
        "{{ value if number else safe }}",
    ]
)
TAGS = st.sampled_from(
    [
        "{% if number %}[{{ value }}]{% else %}({{ safe }}){% endif %}",
        "{% for item in items %}<i>{{ loop.index }}:{{ item }}</i>{% if not loop.last %}, "
        "{% endif %}{% endfor %}",
        "{% for item in items %}{{ item }}{% else %}none{% endfor %}",
        "{% macro pair(a, b) %}<b>{{ a }}</b>{{ b }}{% endmacro %}{{ pair(value, number) }}",
        "{% call(x) caller_of(value) %}<u>{{ x }}</u>{% endcall %}",
        "{% filter upper %}<s>{{ value }}</s>{% endfilter %}",
        "{% set kept %}<q>{{ value }}</q>{% endset %}{{ kept }}{{ kept }}",
        "{% set n = number * 2 %}{{ n }}/{{ n }}",
        "{% include 'part.html' %}",
        "{% autoescape false %}{{ value }}{% endautoescape %}",
        "{{ value }}{# a comment #}{{ safe }}",
        "\n{%- if number %} trimmed {%+ endif -%}\n",
    ]
)
BODIES = st.lists(st.one_of(TEXT, EXPRESSIONS, TAGS), max_size=8).map("".join)
INCLUDED = BODIES.filter(lambda body: "include" not in body)  # the part includes no part
CONTEXT = {
    "value": "<a href='x'>&amp; é",
    "safe": Markup("<em>kept</em>"),
    "number": 3,
    "items": ["<1>", "2&", Markup("<b>3</b>")],
    "shout": lambda text: str(text).upper() + "!",
    "shown": _Shown(),
    "told": _Told("<told>"),
    "nothing": None,
}


def _finalized(value: object) -> object:
    """What a finalizer makes of a value: nothing of None, a number in brackets."""
    if value is None:
        return ""
    return f"[{value}]" if isinstance(value, int) else value


def _caller_of(value: str, caller: Callable[[str], str]) -> str:
    """What a `{% call %}` block test calls: the block's output for `value`, bracketed."""
    return f"[{caller(value)}]"


def _environments(
    templates: dict[str, str], autoescape: bool, trim: bool, finalize: bool = False
) -> tuple[jinja2.Environment, jinja2.Environment]:
    """Jinja's environment and the same with the joined code generator (with `finalize`,
    each expression's value passed through a finalizer first)."""

    def environment(generator: type[CodeGenerator]) -> jinja2.Environment:
        made = jinja2.Environment(
            loader=jinja2.DictLoader(templates),
            autoescape=autoescape,
            trim_blocks=trim,
            lstrip_blocks=trim,
            finalize=_finalized if finalize else None,
        )
        made.code_generator_class = generator
        made.globals["caller_of"] = _caller_of
        return made

    return environment(CodeGenerator), environment(JoinedOutputCode)


@given(
    page=BODIES,
    base_head=BODIES,
    base_main=BODIES,
    child_main=BODIES,
    part=INCLUDED,
    autoescape=st.booleans(),
    trim=st.booleans(),
    finalize=st.booleans(),
)
def test_a_template_renders_what_jinjas_own_code_renders(
    page: str,
    base_head: str,
    base_main: str,
    child_main: str,
    part: str,
    autoescape: bool,
    trim: bool,
    finalize: bool,
) -> None:
    templates = {
        "page.html": page,
        "part.html": part,
        "base.html": f"<h>{base_head}</h>{{% block main %}}{base_main}{{% endblock %}}<f/>",
        "child.html": '{% extends "base.html" %}{% block main %}'
        f"{child_main}{{{{ super() }}}}{{% endblock %}}",
    }
    jinjas, joined = _environments(templates, autoescape, trim, finalize)
    for name in ("page.html", "child.html"):
        assert joined.get_template(name).render(CONTEXT) == jinjas.get_template(name).render(
            CONTEXT
        ), name


def test_each_output_tag_is_yielded_once(tmp_path: Path) -> None:
    """A run of text and expressions is one piece, not one per text and expression (the
    glossary page was more than ten thousand pieces, each passed up through the templates
    it extends)."""
    templates = template_environment(tmp_path / "templates")
    template = templates.from_string(
        "<p>{{ a }} and {{ b }}</p>\n{% for x in xs %}<i>{{ x }}</i>, {% endfor %}"
    )
    pieces = list(template.generate(a="<1>", b=2, xs=["x", "y"]))
    assert pieces == ["<p>&lt;1&gt; and 2</p>\n", "<i>x</i>, ", "<i>y</i>, "]


def test_escaped_values_are_joined_as_text_without_a_markup_object_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An escaped value (text, a number, a rendered body given as Markup) is joined as the
    text `escape` makes of it, without a Markup object made for it (a page's hundred values
    each made one, only to be joined into a plain string; a body was copied into its own)."""
    templates = template_environment(tmp_path / "templates")
    template = templates.from_string(
        "<p>{{ a }} and {{ b }}</p>\n{% for x in xs %}<i>{{ x }}</i>{% endfor %}{{ body }}"
    )
    made: list[object] = []
    real_new = Markup.__new__

    def counting(cls: type[Markup], *args: object, **kwargs: object) -> Markup:
        made.append(args)
        return real_new(cls, *args, **kwargs)  # type: ignore[arg-type]

    body = Markup("<p>body &amp; soul</p>")
    monkeypatch.setattr(Markup, "__new__", staticmethod(counting))
    pieces = list(template.generate(a="<1>", b=2, xs=["x", "<y>"], body=body))
    monkeypatch.undo()
    assert "".join(pieces) == (
        "<p>&lt;1&gt; and 2</p>\n<i>x</i><i>&lt;y&gt;</i><p>body &amp; soul</p>"
    )
    assert made == []


def test_this_markupsafe_escapes_text_to_text() -> None:
    """The installed markupsafe has the text-to-text escaping beneath `escape` that the
    joined pieces are made with (without it, each would be a Markup object again)."""
    from publish.outputs import templatecode

    assert templatecode.ESCAPE_INNER is not None
    assert templatecode.escaped_text("<a & 'b'>") == str(escape("<a & 'b'>"))


def test_this_jinja_has_every_part_the_joined_output_is_written_with() -> None:
    """The installed Jinja has each part of its code generator `JoinedOutputCode` uses, so
    pages are joined (a Jinja without one would get its own, unjoined code: this says so)."""
    from publish.outputs import templatecode

    missing = [p for p in templatecode.JINJA_OUTPUT_PARTS if not hasattr(CodeGenerator, p)]
    assert missing == []
    assert templatecode.JOINS_OUTPUT


def test_a_jinja_without_those_parts_gets_its_own_code(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Where Jinja lacks a part (`JOINS_OUTPUT` off), each piece is yielded as Jinja's own
    code yields it, and the text is the same."""
    from publish.outputs import templatecode

    monkeypatch.setattr(templatecode, "JOINS_OUTPUT", False)
    templates = template_environment(tmp_path / "templates")
    template = templates.from_string("<p>{{ a }} and {{ b }}</p>")
    assert list(template.generate(a="<1>", b=2)) == ["<p>", "&lt;1&gt;", " and ", "2", "</p>"]
