"""Compile a query AST to an OpenSearch query clause (a plain dict for the adapter to send).

The store puts the result under `bool.must` next to its own tenant, project and time filters, so
nothing here can widen the scope: every leaf names one of our mapped fields, and attribute keys
(validated by the parser) live under the `attributes` / `resource` flat_object fields.
"""

from __future__ import annotations

from typing import Any

from telemetry.search.ast import And, Field, Node, Not, Phrase, Term

Clause = dict[str, Any]


def to_opensearch(node: Node) -> Clause:
    """The query DSL clause matching the records the query describes."""
    if isinstance(node, Term):
        return _text_search(node.text, phrase=False)
    if isinstance(node, Phrase):
        return _text_search(node.text, phrase=True)
    if isinstance(node, Field):
        if node.name == "body":
            return _text_search(node.value.text, phrase=isinstance(node.value, Phrase))
        return {"term": {node.name: node.value.text}}
    if isinstance(node, Not):
        return {"bool": {"must_not": [to_opensearch(node.child)]}}
    if isinstance(node, And):
        return {"bool": {"filter": [to_opensearch(child) for child in node.children]}}
    return {
        "bool": {
            "should": [to_opensearch(child) for child in node.children],
            "minimum_should_match": 1,
        }
    }


def _text_search(value: str, *, phrase: bool) -> Clause:
    if phrase:
        return {"match_phrase": {"body": {"query": value}}}
    return {"match": {"body": {"query": value, "operator": "and"}}}
