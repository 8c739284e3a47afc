"""The log query language: examples, errors with positions, and round-trip properties."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from telemetry.search import (
    MAX_DEPTH,
    MAX_QUERY_LENGTH,
    And,
    Field,
    Node,
    Not,
    Or,
    Phrase,
    QuerySyntaxError,
    Term,
    parse,
    render,
)

a, b, c = Term("a"), Term("b"), Term("c")


class TestParse:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("timeout", Term("timeout")),
            ('"connection reset"', Phrase("connection reset")),
            ('"say \\"hi\\" \\\\ bye"', Phrase('say "hi" \\ bye')),
            ("a b", And((a, b))),
            ("a AND b AND c", And((a, b, c))),
            ("a OR b c", Or((a, And((b, c))))),
            ("NOT a b", And((Not(a), b))),
            ("-a", Not(a)),
            ('-"a b"', Not(Phrase("a b"))),
            ("-(a OR b)", Not(Or((a, b)))),
            ("NOT NOT a", Not(Not(a))),
            ("(a OR b) c", And((Or((a, b)), c))),
            ("a (b c)", And((a, And((b, c))))),
            ("a and b", And((a, Term("and"), b))),
            ("foo-bar - x", And((Term("foo-bar"), Term("-"), Term("x")))),
            ("level:error", Field("level", Term("ERROR"))),
            ("LEVEL:Warning", Field("level", Term("WARN"))),
            ("service:checkout", Field("service", Term("checkout"))),
            ('service:"my svc"', Field("service", Phrase("my svc"))),
            (f"trace_id:{'AB' * 16}", Field("trace_id", Term("ab" * 16))),
            ("message:boom", Field("body", Term("boom"))),
            ('body:"a b"', Field("body", Phrase("a b"))),
            ("attributes.http.method:GET", Field("attributes.http.method", Term("GET"))),
            ("resource.host.name:n1", Field("resource.host.name", Term("n1"))),
            ("user_id:123", Field("attributes.user_id", Term("123"))),
            ("User.Id:a:b", Field("attributes.User.Id", Term("a:b"))),
            ('k:""', Field("attributes.k", Phrase(""))),
            ("12:30", Term("12:30")),
            (":x", Term(":x")),
            ("service:AND", Field("service", Term("AND"))),
        ],
    )
    def test_examples(self, query: str, expected: Node) -> None:
        assert parse(query) == expected

    @pytest.mark.parametrize("query", ["", "   ", "\t\n"])
    def test_a_blank_query_matches_everything(self, query: str) -> None:
        assert parse(query) is None

    @pytest.mark.parametrize(
        ("query", "position", "fragment"),
        [
            ("tenant:acme", 0, "cannot be searched"),
            ("a OR Project:x", 5, "cannot be searched"),
            ("org_id:1", 0, "cannot be searched"),
            ("(a b", 4, "missing ')'"),
            ("a b)", 3, "without a matching '('"),
            ("a ()", 3, "empty parentheses"),
            ("a AND", 5, "query ends"),
            ("OR a", 0, "'OR' needs a search term"),
            ("a AND OR b", 6, "'OR' needs a search term"),
            ('x "abc', 2, "unterminated phrase"),
            ('""', 0, "empty phrase"),
            ("level:loud", 6, "unknown level"),
            ("service: x", 8, "missing value"),
            ('body:""', 5, "empty body search"),
            ("attributes.:x", 0, "missing attribute name"),
            ("a\x00b", 1, "not allowed"),
            ("NOT", 3, "query ends"),
        ],
    )
    def test_errors_say_what_and_where(self, query: str, position: int, fragment: str) -> None:
        with pytest.raises(QuerySyntaxError) as caught:
            parse(query)
        assert caught.value.position == position
        assert fragment in caught.value.detail
        assert caught.value.status_code == 400

    def test_length_is_limited(self) -> None:
        parse("a" * MAX_QUERY_LENGTH)
        with pytest.raises(QuerySyntaxError, match="longer than"):
            parse("a" * (MAX_QUERY_LENGTH + 1))

    def test_depth_is_limited(self) -> None:
        parse("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH)
        with pytest.raises(QuerySyntaxError, match="nested deeper"):
            parse("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1))
        with pytest.raises(QuerySyntaxError, match="nested deeper"):
            parse("NOT " * (MAX_DEPTH + 1) + "a")
        with pytest.raises(QuerySyntaxError, match="nested deeper"):
            parse("-" * (MAX_DEPTH + 1) + "a")


class TestRender:
    def test_prints_the_fewest_parentheses(self) -> None:
        node = parse('a (b OR "c d") NOT (e f) service:"x y" -level:error')
        assert render(node) == 'a (b OR "c d") NOT (e f) service:"x y" NOT level:ERROR'  # type: ignore[arg-type]


# -- properties --------------------------------------------------------------------------------

_WORD_CHARS = st.characters(
    codec="utf-8",
    exclude_categories=("Cc", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"),
    exclude_characters='()":',
)
_words = st.text(_WORD_CHARS, min_size=1, max_size=8).filter(
    lambda w: w not in ("AND", "OR", "NOT") and not w.startswith("-") and w.strip() == w
)
_phrase_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Co", "Cn")), max_size=10
).filter(lambda t: t.strip() != "")
_key = st.from_regex(r"[A-Za-z_@][A-Za-z0-9_.\-/@]{0,8}", fullmatch=True)
_bare_value = st.text(_WORD_CHARS | st.just(":"), min_size=1, max_size=8)
_value = st.one_of(_bare_value.map(Term), _phrase_text.map(Phrase))
_fields = st.one_of(
    st.builds(Field, st.just("level"), st.sampled_from(["ERROR", "INFO", "FATAL"]).map(Term)),
    st.builds(Field, st.just("service"), _value),
    st.builds(Field, st.just("trace_id"), st.from_regex(r"[0-9a-f]{4}", fullmatch=True).map(Term)),
    st.builds(Field, st.just("body"), _value),
    st.builds(
        lambda prefix, key, value: Field(prefix + key, value),
        st.sampled_from(["attributes.", "resource."]),
        _key,
        _value,
    ),
)
_leaves = st.one_of(_words.map(Term), _phrase_text.map(Phrase), _fields)
_nodes = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        inner.map(Not),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
    ),
    max_leaves=10,
)


class TestProperties:
    @settings(max_examples=400, deadline=None)
    @given(_nodes)
    def test_render_then_parse_gives_the_same_tree(self, node: Node) -> None:
        text = render(node)
        assume(len(text) <= MAX_QUERY_LENGTH)
        assert parse(text) == node

    @settings(max_examples=600, deadline=None)
    @given(
        st.lists(
            st.sampled_from([*'ab :-()"\\', "AND", "OR", "NOT", "level:", "tenant", "x."])
            | st.characters(),
            max_size=40,
        ).map("".join)
    )
    def test_any_string_parses_or_raises_a_syntax_error(self, query: str) -> None:
        error: QuerySyntaxError | None = None
        node: Node | None = None
        try:
            node = parse(query)
        except QuerySyntaxError as exc:
            error = exc
        if error is not None:
            assert 0 <= error.position <= len(query)
        elif node is not None:
            assert parse(render(node)) == node
