"""Read YAML safely: nesting and alias expansion bounded, repeated keys kept for the check, times as text.

PyYAML's ``safe_load`` builds whatever a document describes. A few hundred bytes of nested aliases (the
"billion laughs") describe billions of values, and the validator would walk every one; nesting a few
thousand levels deep breaks recursion; a repeated key silently keeps the last value. This reader composes
the node graph first, refusing nesting past ``MAX_DEPTH`` as it goes and more than ``MAX_ALIASES`` aliases,
then counts the values the graph expands to (each shared node once, its size reused) and refuses past
``MAX_VALUES``, all before any Python value is built. Repeated keys and over-long integers are built into
markers (``DuplicateKeys``, ``TooLongInteger``) that the document check reports with their paths.

Date-times stay text, so that every format's date-times go through the one parser (``_time``).
"""

from __future__ import annotations

from typing import Any

import yaml

from ._document import MAX_DEPTH, MAX_INTEGER_DIGITS, MAX_VALUES, DuplicateKeys, TooLongInteger

__all__ = ["MAX_ALIASES", "YAMLRefused", "load_yaml"]

MAX_ALIASES = 10_000
"""Most aliases (``*name``) in one document; sharing a stage plan between 1,000 rules needs 1,000."""


class YAMLRefused(Exception):
    """The document is beyond a bound; the message says which and where."""


class _Loader(yaml.SafeLoader):
    """``SafeLoader`` that counts aliases and nesting while it composes, refusing past the bounds."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                msg = f"YAML: {_where(mark)}: more than {MAX_ALIASES:,} aliases"
                raise YAMLRefused(msg)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            msg = f"YAML: {_where(mark)}: nested more than {MAX_DEPTH} levels deep"
            raise YAMLRefused(msg)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    written = sum(key.tag != "tag:yaml.org,2002:merge" for key, _ in node.value)
    loader.flatten_mapping(node)  # merged pairs come first: a key written in the table overrides them
    merged = len(node.value) - written
    pairs: list[tuple[Any, Any]] = []
    seen: set[Any] = set()
    duplicates: list[str] = []
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        try:
            repeated = key in seen
        except TypeError as exc:
            msg = "found an unhashable key"
            raise yaml.constructor.ConstructorError(None, None, msg, key_node.start_mark) from exc
        if index >= merged:  # only keys written in this table count: they may override merged ones
            seen.add(key)
            if repeated:
                duplicates.append(str(key))
        pairs.append((key, loader.construct_object(value_node, deep=True)))
    return DuplicateKeys(pairs, duplicates) if duplicates else dict(pairs)


def _integer(loader: _Loader, node: yaml.ScalarNode) -> Any:
    text = str(loader.construct_scalar(node))
    digits = sum(ch.isdigit() for ch in text)
    if digits > MAX_INTEGER_DIGITS:
        return TooLongInteger(digits)
    return loader.construct_yaml_int(node)


def _timestamp(loader: _Loader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)
_Loader.add_constructor("tag:yaml.org,2002:int", _integer)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def _expanded_size(root: yaml.Node) -> int:
    """How many values the node graph stands for, a shared node counted each time it is used."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # being expanded: meeting one again means the graph loops
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        if not children_done and id(node) in open_nodes:
            msg = f"YAML: {_where(node.start_mark)}: an alias refers to a node that contains it"
            raise YAMLRefused(msg)
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = [n for pair in node.value for n in pair]
        if children_done:
            sizes[id(node)] = min(1 + sum(sizes[id(c)] for c in children), MAX_VALUES + 1)
            open_nodes.discard(id(node))
            continue
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def load_yaml(text: str) -> Any:
    """The document's value; ``YAMLRefused`` past a bound, ``yaml.YAMLError`` on bad syntax."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        size = _expanded_size(root)
        if size > MAX_VALUES:
            msg = f"YAML: the document expands to more than {MAX_VALUES:,} values (aliases counted each time)"
            raise YAMLRefused(msg)
        return loader.construct_document(root)
    finally:
        loader.dispose()
