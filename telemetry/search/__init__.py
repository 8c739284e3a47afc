"""Our log query language: parser, AST and the compilers to SQL and the OpenSearch DSL."""

from telemetry.search.ast import And, Field, Node, Not, Or, Phrase, Term, render
from telemetry.search.parser import MAX_DEPTH, MAX_QUERY_LENGTH, QuerySyntaxError, parse

__all__ = [
    "MAX_DEPTH",
    "MAX_QUERY_LENGTH",
    "And",
    "Field",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "QuerySyntaxError",
    "Term",
    "parse",
    "render",
]
