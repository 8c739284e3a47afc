"""The compilers: SQL with bound parameters only, and OpenSearch clauses on mapped fields."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql

from telemetry.search import parse
from telemetry.search.dsl import to_opensearch
from telemetry.search.sql import json_candidates, to_sql


def _sql(query: str) -> tuple[str, dict[str, object]]:
    node = parse(query)
    assert node is not None
    compiled = to_sql(node).compile(dialect=postgresql.dialect())
    return str(compiled), dict(compiled.params)


class TestToSql:
    def test_user_text_travels_only_as_bound_parameters(self) -> None:
        hostile = "\"x'); DROP TABLE log_records; --\" service:a'b user_id:\"1' OR '1'='1\""
        sql, params = _sql(hostile)
        assert "DROP" not in sql
        assert "'1'='1" not in sql
        assert "a'b" not in sql
        assert "x'); DROP TABLE log_records; --" in params.values()

    def test_terms_and_phrases_use_the_indexed_full_text_expression(self) -> None:
        sql, _ = _sql('timeout "connection reset"')
        assert sql.count("to_tsvector('simple'::regconfig, left(log_records.body, 65536)) @@") == 2
        assert "plainto_tsquery('simple'::regconfig" in sql
        assert "phraseto_tsquery('simple'::regconfig" in sql

    def test_attributes_are_jsonb_containment(self) -> None:
        sql, params = _sql("user_id:123")
        assert sql.count("log_records.attributes @>") == 4
        assert list(params.values()) == [
            {"user_id": "123"},
            {"user_id": 123},
            {"user_id": ["123"]},
            {"user_id": [123]},
        ]

    def test_nullable_columns_compare_without_null(self) -> None:
        sql, _ = _sql("NOT trace_id:ab")
        assert "log_records.trace_id IS NOT NULL" in sql

    def test_json_candidates(self) -> None:
        assert json_candidates("true") == ["true", True, ["true"], [True]]
        assert json_candidates("1.5") == ["1.5", 1.5, ["1.5"], [1.5]]
        assert json_candidates("nan") == ["nan", ["nan"]]
        assert json_candidates("007") == ["007", ["007"]]


class TestToOpenSearch:
    def test_a_query_becomes_a_bool_tree_on_mapped_fields(self) -> None:
        node = parse('timeout -"conn reset" (level:warn OR attributes.http.method:GET) svc:x')
        assert node is not None
        assert to_opensearch(node) == {
            "bool": {
                "filter": [
                    {"match": {"body": {"query": "timeout", "operator": "and"}}},
                    {"bool": {"must_not": [{"match_phrase": {"body": {"query": "conn reset"}}}]}},
                    {
                        "bool": {
                            "should": [
                                {"term": {"level": "WARN"}},
                                {"term": {"attributes.http.method": "GET"}},
                            ],
                            "minimum_should_match": 1,
                        }
                    },
                    {"term": {"attributes.svc": "x"}},
                ]
            }
        }

    def test_body_field_searches_text(self) -> None:
        node = parse('body:"a b" message:c')
        assert node is not None
        assert to_opensearch(node)["bool"]["filter"] == [
            {"match_phrase": {"body": {"query": "a b"}}},
            {"match": {"body": {"query": "c", "operator": "and"}}},
        ]
