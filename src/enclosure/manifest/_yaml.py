"""YAML to plain data, remembering where every key and value came from.

PyYAML composes the document into nodes (aliases stay references, so composing a
"billion laughs" file is cheap); we then walk the nodes ourselves with a budget on
nodes and depth, refuse duplicate keys and merge keys, and record the 1-based line
and column of each key and value under its path. This module must not know what a
manifest means: it returns data and a ``SourceMap``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import yaml

from enclosure.errors import ManifestError, ManifestIssue

__all__ = ["MAX_BYTES", "Position", "SourceMap", "parse_yaml"]

MAX_BYTES = 1024 * 1024
"""Largest manifest accepted; a permission manifest is a page, not a data set."""
MAX_NODES = 50_000
"""Most nodes visited while expanding aliases: stops exponential alias bombs."""
MAX_DEPTH = 64
_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
# Tags a plain key can resolve to; any other tag on a key was written explicitly.
_KEY_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "timestamp", "value")
)
# What PyYAML's scalar constructors raise besides YAMLError on values their resolver
# accepted: ``!!int 0x`` (ValueError), ``!!bool maybe`` (KeyError), ``!!int ''``
# (IndexError), ``!!timestamp x`` (AttributeError), ``2001-02-30`` (ValueError).
_CONSTRUCT_ERRORS = (
    yaml.YAMLError,
    ValueError,
    LookupError,
    AttributeError,
    TypeError,
    OverflowError,
)
_TOO_COMPLEX = (
    f"document too large or too deep after expanding aliases "
    f"(limits: {MAX_NODES} nodes, depth {MAX_DEPTH})"
)

Loc = tuple[str | int, ...]


class Position(NamedTuple):
    line: int
    col: int


class SourceMap:
    """Where each path of a parsed document came from."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.values: dict[Loc, Position] = {}
        self.keys: dict[Loc, Position] = {}

    def locate(self, loc: Loc, *, prefer_key: bool = False) -> Position:
        """Return the position of ``loc``, or of its nearest ancestor that exists.

        Parts of ``loc`` that name no path (pydantic adds union member names such
        as ``str`` or ``function-after[...]``) are skipped.
        """
        path: list[str | int] = []
        best = self.values.get((), Position(1, 1))
        for part in loc:
            candidate = (*path, part)
            if candidate in self.values:
                path.append(part)
                best = self.values[candidate]
        if prefer_key and tuple(path) in self.keys:
            return self.keys[tuple(path)]
        return best

    def issue(
        self, code: str, message: str, loc: Loc, *, prefer_key: bool = False
    ) -> ManifestIssue:
        """Build a located issue for ``loc``."""
        pos = self.locate(loc, prefer_key=prefer_key)
        return ManifestIssue(code, message, self.file, pos.line, pos.col)


def _mark(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


class _Walker:
    def __init__(self, loader: yaml.SafeLoader, source: SourceMap) -> None:
        self.loader = loader
        self.source = source
        self.visited = 0

    def fail(self, code: str, message: str, node: yaml.Node) -> ManifestError:
        pos = _mark(node)
        issue = ManifestIssue(code, message, self.source.file, pos.line, pos.col)
        return ManifestError([issue])

    def walk(self, node: yaml.Node, loc: Loc, depth: int) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES or depth > MAX_DEPTH:
            raise self.fail("E-MANIFEST-TOO-COMPLEX", _TOO_COMPLEX, node)
        self.source.values.setdefault(loc, _mark(node))
        if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_TAGS:
            msg = f"YAML tag {node.tag!r} is not allowed in a manifest"
            raise self.fail("E-MANIFEST-YAML", msg, node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc, depth)
        if isinstance(node, yaml.SequenceNode):
            return [
                self.walk(item, (*loc, i), depth + 1)
                for i, item in enumerate(node.value)
            ]
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except _CONSTRUCT_ERRORS as exc:
            msg = f"cannot read this value: {getattr(exc, 'problem', None) or exc}"
            raise self.fail("E-MANIFEST-YAML", msg, node) from exc

    def _mapping(self, node: yaml.MappingNode, loc: Loc, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                msg = "merge keys ('<<') are not supported; repeat the keys instead"
                raise self.fail("E-MANIFEST-YAML", msg, key_node)
            if not isinstance(key_node, yaml.ScalarNode):
                msg = "mapping keys must be plain scalars"
                raise self.fail("E-MANIFEST-YAML", msg, key_node)
            if key_node.tag not in _KEY_TAGS:
                msg = f"YAML tag {key_node.tag!r} is not allowed in a manifest"
                raise self.fail("E-MANIFEST-YAML", msg, key_node)
            # Keys are names: always the text as written, so a tool called `off`,
            # `no` or `1` stays a string instead of YAML 1.1's False or 1.
            key = str(key_node.value)
            if key in out:
                first = self.source.keys.get((*loc, key))
                where = f" (first defined at line {first.line})" if first else ""
                msg = f"duplicate key {key!r}{where}"
                raise self.fail("E-MANIFEST-DUPLICATE-KEY", msg, key_node)
            self.source.keys[(*loc, key)] = _mark(key_node)
            out[key] = self.walk(value_node, (*loc, key), depth + 1)
        return out


class _Loader(yaml.SafeLoader):
    """A SafeLoader whose composer stops at ``MAX_DEPTH``.

    PyYAML composes recursively, so ``[[[[...]]]]`` nested a few hundred deep would
    otherwise raise ``RecursionError`` before the walker could count the depth.
    """

    def __init__(self, text: str, file: str) -> None:
        super().__init__(text)
        self._file = file
        self._depth = 0
        self._composed = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        self._composed += 1
        try:
            # The root is depth 1 here, 0 in _Walker. Counting nodes here too stops
            # a huge flat document long before PyYAML has built all of it.
            if self._depth > MAX_DEPTH + 1 or self._composed > MAX_NODES:
                # peek_event is untyped in types-PyYAML, hence the ignore.
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                issue = ManifestIssue(
                    "E-MANIFEST-TOO-COMPLEX",
                    _TOO_COMPLEX,
                    self._file,
                    mark.line + 1,
                    mark.column + 1,
                )
                raise ManifestError([issue])
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _reader_error(exc: yaml.reader.ReaderError, text: str, file: str) -> ManifestError:
    # For text input ``position`` is the index of the offending character.
    pos = min(max(exc.position, 0), len(text))
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    char = exc.character
    shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
    message = f"character {shown} is not allowed in YAML"
    return ManifestError([ManifestIssue("E-MANIFEST-YAML", message, file, line, col)])


def parse_yaml(text: str, file: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain data and its source map.

    Raises:
        ManifestError: the text is not one well-formed, bounded YAML document.
    """
    source = SourceMap(file)
    # surrogatepass: a lone surrogate is measured here and refused by the reader.
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        issue = ManifestIssue(
            "E-MANIFEST-TOO-LARGE",
            f"manifest is larger than {MAX_BYTES} bytes",
            file,
            1,
            1,
        )
        raise ManifestError([issue])
    try:
        loader = _Loader(text, file)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, file) from exc
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            problem = exc.problem or exc.context or "malformed YAML"
            issue = ManifestIssue("E-MANIFEST-YAML", problem, file, line, col)
            raise ManifestError([issue]) from exc
        except yaml.YAMLError as exc:
            issue = ManifestIssue("E-MANIFEST-YAML", str(exc), file, 1, 1)
            raise ManifestError([issue]) from exc
        if node is None:
            issue = ManifestIssue("E-MANIFEST-EMPTY", "manifest is empty", file, 1, 1)
            raise ManifestError([issue])
        data = _Walker(loader, source).walk(node, (), 0)
    finally:
        loader.dispose()
    return data, source
