"""The compiled code of templates, kept between processes in Jinja's own bytecode format: a
packaged template's with the package (as Python keeps a module's `.pyc` in `__pycache__`), so
that a cold build of any site compiles none of them; a site's own in its build cache.

Jinja's `Bucket` refuses a kept file whose magic (Jinja's bytecode version and Python's) or
source checksum does not match, and a damaged one is refused here: the template is then
compiled again and the file rewritten (atomically: another process may be writing it too).
A file's name hashes the template's name and path (its compiled code names that path, which
tracebacks and `template_problem` use to locate an error) and everything else the code depends
on: Jinja's version, the Python that compiled it and the environment's compile options.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import weakref
from collections.abc import Callable
from hashlib import sha1
from pathlib import Path
from types import CodeType
from typing import Any, BinaryIO

import jinja2
import markupsafe
from jinja2 import Environment, nodes
from jinja2.bccache import Bucket, BytecodeCache, FileSystemBytecodeCache
from jinja2.compiler import CodeGenerator, Frame
from markupsafe import Markup, escape

PACKAGE_TEMPLATES = Path(__file__).parent.parent / "templates"
# Where the packaged templates' compiled code is kept: beside them, in the package's own
# `__pycache__` (never under templates/, which the code fingerprint reads).
PACKAGED_CODE = PACKAGE_TEMPLATES.parent / "__pycache__" / "templates"
# The environment's settings the lexer and the code generator read.
COMPILE_OPTIONS = (
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
    "line_statement_prefix",
    "line_comment_prefix",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
    "keep_trailing_newline",
    "optimized",
    "is_async",
    "autoescape",
    "finalize",
    "undefined",
    "code_generator_class",
    "newstyle_gettext",  # set by the i18n extension's install: its calls compile differently
)


class KeptBucket(Bucket):
    """One template's compiled code, with the folders it is read from and those it may be
    written to (each in order); a kept file that is damaged (cut short, not code) is
    refused."""

    def __init__(
        self,
        environment: Environment,
        key: str,
        checksum: str,
        reads: tuple[Path, ...],
        writes: tuple[Path, ...],
    ) -> None:
        super().__init__(environment, key, checksum)
        self.reads = reads
        self.writes = writes

    def load_bytecode(self, f: BinaryIO) -> None:
        """Jinja's checks (magic, source checksum), and none of a damaged file's code."""
        try:
            super().load_bytecode(f)
        except Exception:  # whatever a damaged file raises (pickle can raise many): compile again
            self.reset()
        if not isinstance(self.code, CodeType):
            self.reset()


class TemplateCode(BytecodeCache):
    """The kept code of an environment's templates: a packaged template's in `packaged`
    (written there where Python would write a `.pyc`, else with the site's), a site's own in
    `site` (None: compiled in memory, as with the cache off or only read)."""

    def __init__(self, packaged: Path | None, site: Path | None, write_packaged: bool) -> None:
        self.packaged = packaged
        self.site = site
        self.write_packaged = write_packaged

    @classmethod
    def for_site(cls, site: Path | None) -> TemplateCode:
        """The packaged templates' code with the package, written unless Python writes no
        bytecode (`PYTHONDONTWRITEBYTECODE`); the site's own in `site`."""
        return cls(PACKAGED_CODE, site, not sys.dont_write_bytecode)

    def get_bucket(
        self, environment: Environment, name: str, filename: str | None, source: str
    ) -> Bucket:
        """The bucket of one template, its kept code loaded when it is sound and current."""
        key = template_key(environment, name, filename)
        checksum = self.get_source_checksum(source)
        reads, writes = self._folders(filename)
        bucket = KeptBucket(environment, key, checksum, reads, writes)
        self.load_bytecode(bucket)
        return bucket

    def _folders(self, filename: str | None) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
        """Where a template's code is read from, and the folders to try writing it to."""
        site = (self.site,) if self.site is not None else ()
        if not is_packaged(filename) or self.packaged is None:
            return site, site
        packaged = (self.packaged,)
        return packaged + site, (packaged if self.write_packaged else ()) + site

    def load_bytecode(self, bucket: Bucket) -> None:
        """The first sound, current code kept in the bucket's folders."""
        for folder in bucket.reads if isinstance(bucket, KeptBucket) else ():
            with contextlib.suppress(OSError):  # no such folder, or no such file in it
                FileSystemBytecodeCache(str(folder)).load_bytecode(bucket)
            if bucket.code is not None:
                return

    def dump_bytecode(self, bucket: Bucket) -> None:
        """Keep the bucket's code in the first of its folders that can be written (a file
        written whole, then renamed into place); nowhere when none can."""
        for folder in bucket.writes if isinstance(bucket, KeptBucket) else ():
            with contextlib.suppress(OSError):
                folder.mkdir(parents=True, exist_ok=True)
                FileSystemBytecodeCache(str(folder)).dump_bytecode(bucket)
                return


def is_packaged(filename: str | None) -> bool:
    """Whether a template's file is one of the packaged templates: one where the package
    loader finds them (no link resolved: a template name holds no `..`), else one whose
    resolved path lies in their folder."""
    if filename is None:
        return False
    if filename.startswith(_PACKAGED_PREFIX):
        return True
    return Path(filename).resolve().is_relative_to(_packaged_folder())


_PACKAGED_PREFIX = os.path.join(PACKAGE_TEMPLATES, "")


@functools.cache
def _packaged_folder() -> Path:
    """The packaged templates' folder, resolved once."""
    return PACKAGE_TEMPLATES.resolve()


def template_key(environment: Environment, name: str, filename: str | None) -> str:
    """The name of a template's kept code: Jinja's key (its name and path) with everything
    else the compiled code depends on (see `compile_options`)."""
    jinja_key = BytecodeCache().get_cache_key(name, filename)
    return sha1(f"{jinja_key}|{compile_options(environment)}".encode()).hexdigest()


def compile_options(environment: Environment) -> str:
    """What a template's compiled code depends on besides its source and path: Jinja's and
    Python's versions, the environment's lexer and code generator settings, its extensions
    and how each of its filters and tests is called (the code passes a context or the
    environment to those that ask for one); the environment's part read once, at its first
    template (see `_ENVIRONMENT_OPTIONS`)."""
    versions = [jinja2.__version__, sys.implementation.cache_tag or sys.version]
    found = _ENVIRONMENT_OPTIONS.get(environment)
    if found is None:
        found = _ENVIRONMENT_OPTIONS[environment] = _environment_options(environment)
    return "\n".join([*versions, found])


# Each environment's own part of `compile_options`, read when it keys its first template:
# Jinja holds that an environment is not changed once it has loaded one.
_ENVIRONMENT_OPTIONS: weakref.WeakKeyDictionary[Environment, str] = weakref.WeakKeyDictionary()


def _environment_options(environment: Environment) -> str:
    """An environment's lexer and code generator settings, extensions, filters and tests."""
    settings = [f"{name}={_named(getattr(environment, name, None))}" for name in COMPILE_OPTIONS]
    settings += sorted(environment.extensions)
    for kind, callables in (("filter", environment.filters), ("test", environment.tests)):
        settings += sorted(f"{kind}:{name}:{_passed(f)}" for name, f in callables.items())
    return "\n".join(settings)


def _named(value: Any) -> str:
    """A setting as text: a function or class by its qualified name (and what it is passed),
    with the version of the code it writes where it says one (`JoinedOutputCode`)."""
    if isinstance(value, type) or callable(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', '')}" + (
            f"/{_passed(value)}@{getattr(value, 'code_version', '')}"
        )
    return repr(value)


def _passed(function: Callable[..., Any]) -> str:
    """What Jinja passes a filter, test or finalizer first (`pass_context` and its kin)."""
    return str(getattr(function, "jinja_pass_arg", ""))


# The parts of Jinja's code generator (3.1) that `JoinedOutputCode` writes its pieces with;
# a Jinja without any of them gets its own code for every output tag, unjoined.
JINJA_OUTPUT_PARTS = (
    "_make_finalize",
    "_output_child_to_const",
    "_output_const_repr",
    "_output_child_pre",
    "_output_child_post",
)
JOINS_OUTPUT = all(hasattr(CodeGenerator, part) for part in JINJA_OUTPUT_PARTS)
# markupsafe's escaping of text to text (in C where its speedups are built), which its public
# `escape` calls and wraps in a new Markup object; without it, `escape` itself is taken.
ESCAPE_INNER: Callable[[str], str] | None = getattr(markupsafe, "_escape_inner", None)
# How the joined code names `escaped_text` (no template name or Jinja's own starts with "_p").
ESCAPED_TEXT = "_publish_escaped_text"


def escaped_text(value: Any) -> str:
    """The text of `escape(value)`, without its Markup object: what an output tag's pieces
    are, as they are joined into one plain string at once (a page's hundred escaped values
    each made a Markup object, only to be joined; a rendered body was copied into a new one)."""
    if type(value) is str and ESCAPE_INNER is not None:
        return ESCAPE_INNER(value)
    if type(value) is Markup:
        return value  # `escape` would copy it into a new Markup of the same text
    if ESCAPE_INNER is None or hasattr(value, "__html__"):
        return escape(value)
    return ESCAPE_INNER(str(value))  # as `escape` does


class JoinedOutputCode(CodeGenerator):
    """Jinja's code generator, but each output tag's pieces (text, expressions) joined into
    one string and yielded once: Jinja yields each piece on its own, so a page is many
    thousands of pieces (the glossary's more than ten thousand), each passed up through every
    template it extends and its blocks' generators. The same text, in the same order, each
    piece made as Jinja makes it (escaped, finalized); only where the pieces are buffered
    (a macro, a `set` block, a call) does Jinja's own code stand, as it joins them there."""

    code_version = 2  # changes the key of kept code (see `compile_options`) when this does

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        """Jinja's module, with `escaped_text` imported for the joined pieces."""
        self.writeline(f"from {__name__} import escaped_text as {ESCAPED_TEXT}")
        super().visit_Template(node, frame)

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        """One `yield "".join((...))` of the output's pieces (Jinja's code for a single
        constant piece, where it buffers, or where a template that extends another may not
        output); each escaped piece as text (`escaped_text`), not a Markup object."""
        if not JOINS_OUTPUT or frame.buffer is not None or frame.require_output_check:
            super().visit_Output(node, frame)
            return
        finalize = self._make_finalize()
        body: list[list[Any] | nodes.Expr] = []
        for child in node.nodes:  # constant pieces evaluated now, as Jinja does
            try:
                if not (finalize.const or isinstance(child, nodes.TemplateData)):
                    raise nodes.Impossible()
                const = self._output_child_to_const(child, frame, finalize)
            except (nodes.Impossible, Exception):
                body.append(child)
                continue
            if body and isinstance(body[-1], list):
                body[-1].append(const)
            else:
                body.append([const])
        if len(body) == 1 and isinstance(body[0], list):  # one text: yielded as it is
            super().visit_Output(node, frame)
            return
        if len(body) == 1:  # one expression: yielded as its text
            self.writeline("yield ", body[0])
            self._output_piece(body[0], frame, finalize)
            return
        self.writeline('yield "".join((')
        self.indent()
        for item in body:
            if isinstance(item, list):
                self.writeline(self._output_const_repr(item) + ",")
                continue
            self.newline(item)
            self._output_piece(item, frame, finalize)
            self.write(",")
        self.outdent()
        self.writeline("))")

    def _output_piece(self, item: nodes.Expr, frame: Frame, finalize: Any) -> None:
        """One expression of an output, made as Jinja makes it (finalized, escaped where
        autoescape is on), escaped to text rather than to a Markup object."""
        if frame.eval_ctx.volatile or not frame.eval_ctx.autoescape:
            self._output_child_pre(item, frame, finalize)
        else:
            self.write(f"{ESCAPED_TEXT}(")
            if finalize.src is not None:
                self.write(finalize.src)
        self.visit(item, frame)
        self._output_child_post(item, frame, finalize)
