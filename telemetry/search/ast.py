"""The log query AST and its printer; `parse(render(node)) == node` for every parsed node.

Field names are canonical: one of `KNOWN_FIELDS`, or `attributes.<key>` / `resource.<key>`.
Values of `level`, `trace_id` and `span_id` are normalized by the parser (upper-case level,
lower-case hex ids), so compilers compare them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

KNOWN_FIELDS: Final = frozenset({"level", "service", "trace_id", "span_id", "body"})
ATTRIBUTE_PREFIXES: Final = ("attributes.", "resource.")
KEYWORDS: Final = frozenset({"AND", "OR", "NOT"})
WORD_BREAKS: Final = frozenset('()"')


@dataclass(frozen=True, slots=True)
class Term:
    """A word searched in the body (full text: whole words, case-insensitive)."""

    text: str


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words that must appear next to each other in the body, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class Field:
    """`name:value`: an exact match on a field or attribute (`body` searches as text)."""

    name: str
    value: Term | Phrase

    def __post_init__(self) -> None:
        if self.name not in KNOWN_FIELDS and not self.name.startswith(ATTRIBUTE_PREFIXES):
            raise ValueError(f"not a canonical field name: {self.name!r}")

    @property
    def attribute(self) -> tuple[str, str] | None:
        """`("attributes" | "resource", key)` for an attribute field, else None."""
        for prefix in ATTRIBUTE_PREFIXES:
            if self.name.startswith(prefix):
                return prefix[:-1], self.name[len(prefix) :]
        return None


@dataclass(frozen=True, slots=True)
class And:
    """Every child matches."""

    children: tuple[Node, ...]

    def __post_init__(self) -> None:
        if len(self.children) < 2:
            raise ValueError("And needs at least two children")


@dataclass(frozen=True, slots=True)
class Or:
    """At least one child matches."""

    children: tuple[Node, ...]

    def __post_init__(self) -> None:
        if len(self.children) < 2:
            raise ValueError("Or needs at least two children")


@dataclass(frozen=True, slots=True)
class Not:
    """The child does not match."""

    child: Node


Node = Term | Phrase | Field | And | Or | Not


def quote(text: str) -> str:
    """A phrase literal: `"` and `\\` escaped with a backslash."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def is_bare_value(text: str) -> bool:
    """Whether a field value can be printed without quotes."""
    return bool(text) and not any(ch.isspace() or ch in WORD_BREAKS for ch in text)


def render(node: Node) -> str:
    """The query string of a node, with the fewest parentheses that keep its shape."""
    if isinstance(node, Term):
        return node.text
    if isinstance(node, Phrase):
        return quote(node.text)
    if isinstance(node, Field):
        value = node.value
        bare = isinstance(value, Term) and is_bare_value(value.text)
        return f"{node.name}:{value.text if bare else quote(value.text)}"
    if isinstance(node, Not):
        inner = render(node.child)
        return f"NOT ({inner})" if isinstance(node.child, And | Or) else f"NOT {inner}"
    if isinstance(node, And):
        return " ".join(
            f"({render(child)})" if isinstance(child, And | Or) else render(child)
            for child in node.children
        )
    return " OR ".join(
        f"({render(child)})" if isinstance(child, Or) else render(child) for child in node.children
    )
