"""The log query language: a hand-written tokenizer and recursive-descent parser.

    query   := or EOF
    or      := and ("OR" and)*
    and     := unary (["AND"] unary)*          juxtaposition is AND
    unary   := ("NOT" | "-") unary | primary   "-" only when glued to its operand
    primary := "(" or ")" | FIELD ":" (WORD | PHRASE) | PHRASE | WORD

Precedence NOT > AND > OR. Keywords are upper-case only (`and` is a word). A word whose text
before its first `:` is a field name is a field query; any other word (`12:30`) is a term.
Unknown field names are attribute keys (`user_id:1` is `attributes.user_id:1`). `tenant` and
`project` are refused: the store already pins both, and a query must never look like it could
choose them. Hand-written rather than a grammar library because the language is tiny and the
errors must carry exact positions and wording.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from infra.errors import AppError
from telemetry.search.ast import (
    ATTRIBUTE_PREFIXES,
    KEYWORDS,
    WORD_BREAKS,
    And,
    Field,
    Node,
    Not,
    Or,
    Phrase,
    Term,
)

MAX_QUERY_LENGTH: Final = 1000
MAX_DEPTH: Final = 32

_FIELD_NAME = re.compile(r"[A-Za-z_@][A-Za-z0-9_.\-/@]*\Z")
_ALIASES: Final = {"message": "body", "msg": "body"}
_RESERVED: Final = frozenset({"tenant", "project", "tenant_id", "project_id", "org", "org_id"})
_LEVELS: Final = {
    "TRACE": "TRACE",
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARN": "WARN",
    "WARNING": "WARN",
    "ERROR": "ERROR",
    "FATAL": "FATAL",
    "CRITICAL": "FATAL",
}


class QuerySyntaxError(AppError):
    """A query that cannot be parsed; `position` is the 0-based character offset."""

    code = "query_syntax"
    title = "Invalid search query"

    def __init__(self, detail: str, position: int) -> None:
        super().__init__(detail, position=position)
        self.position = position

    def __str__(self) -> str:
        return f"{self.detail} (at character {self.position})"


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "(" ")" AND OR NOT - WORD PHRASE FIELD END
    position: int
    text: str = ""
    node: Node | None = None


def parse(query: str) -> Node | None:
    """The AST of a query string; None for a blank query (which matches everything)."""
    if len(query) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(
            f"query is longer than {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH
        )
    tokens = _tokenize(query)
    if tokens[0].kind == "END":
        return None
    return _Parser(tokens).parse()


def _check_character(ch: str, position: int) -> None:
    category = unicodedata.category(ch)
    if category in ("Cc", "Cs", "Co", "Cn") and not ch.isspace():
        raise QuerySyntaxError(f"character U+{ord(ch):04X} is not allowed", position)


def _tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        _check_character(ch, i)
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(_Token(ch, i))
            i += 1
        elif ch == '"':
            text, i_next = _phrase(query, i)
            tokens.append(_Token("PHRASE", i, node=Phrase(text)))
            i = i_next
        elif ch == "-" and i + 1 < n and not query[i + 1].isspace() and query[i + 1] != ")":
            tokens.append(_Token("-", i))
            i += 1
        else:
            i = _word(query, i, tokens)
    tokens.append(_Token("END", n))
    return tokens


def _phrase(query: str, start: int) -> tuple[str, int]:
    """The text of the phrase opening at `start`, and the index after its closing quote."""
    out: list[str] = []
    i = start + 1
    while i < len(query):
        ch = query[i]
        _check_character(ch, i)
        if ch == "\\" and i + 1 < len(query) and query[i + 1] in '"\\':
            out.append(query[i + 1])
            i += 2
        elif ch == '"':
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise QuerySyntaxError("unterminated phrase: add the closing '\"'", start)


def _word_end(query: str, i: int) -> int:
    while i < len(query) and not query[i].isspace() and query[i] not in WORD_BREAKS:
        _check_character(query[i], i)
        i += 1
    return i


def _word(query: str, start: int, tokens: list[_Token]) -> int:
    end = _word_end(query, start)
    word = query[start:end]
    colon = word.find(":")
    if colon > 0 and _FIELD_NAME.match(word[:colon]):
        name = _field_name(word[:colon], start)
        value_at = start + colon + 1
        if colon + 1 < len(word):
            value: Term | Phrase = Term(word[colon + 1 :])
            after = end
        elif value_at < len(query) and query[value_at] == '"':
            text, after = _phrase(query, value_at)
            value = Phrase(text)
        else:
            raise QuerySyntaxError(f"missing value after '{word}'", value_at)
        node = Field(name, _normalize(name, value, value_at))
        tokens.append(_Token("FIELD", start, word[:colon], node))
        return after
    kind = word if word in KEYWORDS else "WORD"
    tokens.append(_Token(kind, start, word, Term(word) if kind == "WORD" else None))
    return end


def _field_name(raw: str, position: int) -> str:
    lowered = raw.lower()
    if lowered in _RESERVED:
        raise QuerySyntaxError(
            f"field '{raw}' cannot be searched: results are always limited to this project",
            position,
        )
    lowered = _ALIASES.get(lowered, lowered)
    if lowered in ("level", "service", "trace_id", "span_id", "body"):
        return lowered
    for prefix in ATTRIBUTE_PREFIXES:
        if lowered.startswith(prefix):
            key = raw[len(prefix) :]
            if not key:
                raise QuerySyntaxError(f"missing attribute name after '{raw}'", position)
            return prefix + key
    return "attributes." + raw


def _normalize(name: str, value: Term | Phrase, position: int) -> Term | Phrase:
    if name == "level":
        level = _LEVELS.get(value.text.upper())
        if level is None:
            raise QuerySyntaxError(
                f"unknown level '{value.text}': use one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL",
                position,
            )
        return type(value)(level)
    if name in ("trace_id", "span_id"):
        return type(value)(value.text.lower())
    if name == "body" and not value.text.strip():
        raise QuerySyntaxError("empty body search", position)
    return value


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._at = 0
        self._depth = 0

    def parse(self) -> Node:
        node = self._or()
        token = self._peek()
        if token.kind == ")":
            raise QuerySyntaxError("unexpected ')' without a matching '('", token.position)
        if token.kind != "END":  # pragma: no cover - every other token starts an operand
            raise QuerySyntaxError(f"unexpected '{token.text}'", token.position)
        return node

    def _peek(self) -> _Token:
        return self._tokens[self._at]

    def _next(self) -> _Token:
        token = self._tokens[self._at]
        self._at += 1
        return token

    def _descend(self, position: int) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise QuerySyntaxError(f"query is nested deeper than {MAX_DEPTH} levels", position)

    def _or(self) -> Node:
        children = [self._and()]
        while self._peek().kind == "OR":
            self._next()
            children.append(self._and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def _and(self) -> Node:
        children = [self._unary()]
        while True:
            kind = self._peek().kind
            if kind == "AND":
                self._next()
            elif kind not in ("(", "NOT", "-", "WORD", "PHRASE", "FIELD"):
                break
            children.append(self._unary())
        return children[0] if len(children) == 1 else And(tuple(children))

    def _unary(self) -> Node:
        token = self._peek()
        if token.kind in ("NOT", "-"):
            self._next()
            self._descend(token.position)
            child = self._unary()
            self._depth -= 1
            return Not(child)
        return self._primary()

    def _primary(self) -> Node:
        token = self._next()
        if token.kind in ("WORD", "PHRASE", "FIELD"):
            node = token.node
            if node is None:  # pragma: no cover - the tokenizer attaches a node to these
                raise QuerySyntaxError("unexpected token", token.position)
            if isinstance(node, Phrase) and not node.text.strip():
                raise QuerySyntaxError("empty phrase", token.position)
            return node
        if token.kind == "(":
            self._descend(token.position)
            node = self._or()
            closing = self._next()
            if closing.kind != ")":
                raise QuerySyntaxError(
                    f"missing ')' to close the '(' at character {token.position}",
                    closing.position,
                )
            self._depth -= 1
            return node
        if token.kind == "END":
            raise QuerySyntaxError("query ends where a search term is expected", token.position)
        if token.kind == ")":
            if self._at >= 2 and self._tokens[self._at - 2].kind == "(":
                raise QuerySyntaxError("empty parentheses", token.position)
            raise QuerySyntaxError("unexpected ')' where a search term is expected", token.position)
        raise QuerySyntaxError(f"'{token.kind}' needs a search term on each side", token.position)
