"""Where each value of a YAML (or JSON) document was written, so that a problem found in it
is reported as ``file:line:column``, as compilers and linters do, for editors to jump to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headrace.domain.problems import Loc

if TYPE_CHECKING:
    import yaml


@dataclass(frozen=True)
class Position:
    file: Path
    line: int  # from 1
    column: int  # from 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class _Text:
    """Where a text value's first character is, and how it was written."""

    line: int  # from 0, as yaml's marks
    column: int  # from 0
    style: str | None  # None: plain; '"' or "'": quoted; '|' or '>': a block


class Positions:
    """The position of every key and list item of one document, by its location (the keys
    and indexes leading to it); a location not written (a missing field) is placed at the
    nearest enclosing value that is."""

    def __init__(
        self, file: Path, found: dict[Loc, tuple[int, int]], texts: dict[Loc, _Text], text: str
    ) -> None:
        self.file = file
        self._found = found
        self._texts = texts
        self._lines = text.splitlines()

    def of(self, loc: Loc) -> Position:
        for end in range(len(loc), -1, -1):
            at = self._found.get(tuple(loc[:end]))
            if at is not None:
                return Position(self.file, *at)
        return Position(self.file, 1, 1)

    def inside(self, loc: Loc, line: int, column: int) -> Position | None:
        """Where ``line``:``column`` of the text value at ``loc`` is in the file (a block
        keeps its lines; a one-line value its columns); None when that cannot be said."""
        text = self._texts.get(loc)
        if text is None:
            return None
        if text.style in ("|", ">"):
            first = text.line + 1  # the block's lines start below its indicator
            if first >= len(self._lines):
                return None
            indent = len(self._lines[first]) - len(self._lines[first].lstrip(" "))
            return Position(self.file, first + line, indent + column)
        if line != 1:
            return None
        quoted = 1 if text.style in ('"', "'") else 0
        return Position(self.file, text.line + 1, text.column + quoted + column)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _walk(
    node: yaml.Node, loc: Loc, found: dict[Loc, tuple[int, int]], texts: dict[Loc, _Text]
) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                here = (*loc, key.value)
                found[here] = _mark(key)  # the key: where an editor shows ``field: problem``
                _walk(value, here, found, texts)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found[(*loc, index)] = _mark(item)
            _walk(item, (*loc, index), found, texts)
    elif isinstance(node, yaml.ScalarNode):
        mark = node.start_mark
        texts[loc] = _Text(mark.line, mark.column, node.style)


def load_with_positions(file: Path, text: str) -> tuple[Any, Positions]:
    """The document of ``text`` (YAML's safe subset) and where each of its values is, in one
    parse. Raises ``yaml.YAMLError`` (with its mark) for text that is not YAML."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    found: dict[Loc, tuple[int, int]] = {(): (1, 1)}
    texts: dict[Loc, _Text] = {}
    if node is not None:
        _walk(node, (), found, texts)
    return data, Positions(file, found, texts, text)
