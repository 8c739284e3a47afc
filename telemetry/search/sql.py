"""Compile a query AST to a SQLAlchemy condition over `log_records` (bound parameters only).

Terms and phrases use PostgreSQL full text (`plainto_tsquery` / `phraseto_tsquery` with the
'simple' configuration) on the same expression as the GIN index `ix_log_records_body`: whole
words, case-insensitive, like OpenSearch's standard analyzer, and an index lookup instead of a
scan. Attribute fields are jsonb containment (`@>`), served by the jsonb_path_ops GIN index.
Every comparison is NULL-free so that NOT means "everything else", as in OpenSearch.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, func, not_, or_

from infra.pg_stores import BODY_TSVECTOR, TS_CONFIG, log_records
from telemetry.search.ast import And, Field, Node, Not, Phrase, Term

_NUMBER: Final = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?\Z")


def to_sql(node: Node) -> ColumnElement[bool]:
    """A WHERE condition matching the records the query describes."""
    if isinstance(node, Term):
        return _text_search(node.text, phrase=False)
    if isinstance(node, Phrase):
        return _text_search(node.text, phrase=True)
    if isinstance(node, Field):
        return _field(node)
    if isinstance(node, Not):
        return not_(to_sql(node.child))
    if isinstance(node, And):
        return and_(*(to_sql(child) for child in node.children))
    return or_(*(to_sql(child) for child in node.children))


def _text_search(value: str, *, phrase: bool) -> ColumnElement[bool]:
    to_query = func.phraseto_tsquery if phrase else func.plainto_tsquery
    return BODY_TSVECTOR.bool_op("@@")(to_query(TS_CONFIG, value))


def _field(node: Field) -> ColumnElement[bool]:
    value = node.value.text
    if node.name == "body":
        return _text_search(value, phrase=isinstance(node.value, Phrase))
    attribute = node.attribute
    if attribute is not None:
        kind, key = attribute
        column = log_records.c[kind]
        return or_(*(column.contains({key: candidate}) for candidate in json_candidates(value)))
    column = log_records.c[node.name]
    if column.nullable:
        return and_(column.isnot(None), column == value)
    return column == value


def json_candidates(value: str) -> list[Any]:
    """The JSON values a query value may stand for: the string, a number, a boolean, in arrays."""
    scalars: list[Any] = [value]
    if _NUMBER.match(value):
        number = float(value)
        # `1e999` or a 400-digit number is no JSON number jsonb holds: match it as text only.
        if math.isfinite(number):
            scalars.append(int(number) if number.is_integer() and abs(number) < 2**53 else number)
    elif value in ("true", "false"):
        scalars.append(value == "true")
    return scalars + [[scalar] for scalar in scalars]
