"""Tests for catalog.expressions — the billable-metric expression language (billing-semantics §2.6)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.expressions import (
    MAX_EXPRESSION_LENGTH,
    MAX_NESTING_DEPTH,
    BinaryOp,
    EventCode,
    EventContext,
    EventProperty,
    EventTimestamp,
    Expression,
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    FunctionCall,
    Negate,
    NumberLiteral,
    StringLiteral,
    evaluate_expression,
    format_value,
    parse_expression,
    validate_expression,
)

TS = Decimal("1700000000")


def ev(text: str, **properties):
    return evaluate_expression(text, code="api_call", timestamp=TS, properties=properties)


def n(value) -> NumberLiteral:
    return NumberLiteral(Decimal(value))


def syntax_error(text: str) -> ExpressionSyntaxError:
    with pytest.raises(ExpressionSyntaxError) as info:
        parse_expression(text)
    return info.value


# ---------------------------------------------------------------------------------------------------------
# Documented example
# ---------------------------------------------------------------------------------------------------------


def test_ex_2_5_ceil_of_duration_in_seconds():
    expression = parse_expression("CEIL(event.properties.duration_ms / 1000)")
    values = [
        expression.evaluate(EventContext("call", TS, {"duration_ms": raw})) for raw in ("1543", "2000", "10")
    ]
    assert values == [Decimal(2), Decimal(2), Decimal(1)]
    assert all(str(value) in {"1", "2"} for value in values)  # normalised, no "2.000"/"2E+0"
    assert sum(values) == 5
    assert expression.referenced_properties == frozenset({"duration_ms"})


# ---------------------------------------------------------------------------------------------------------
# Literals, variables, AST shape
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", Decimal(0)),
        ("42", Decimal(42)),
        ("007", Decimal(7)),
        ("1.25", Decimal("1.25")),
        ("1.50", Decimal("1.5")),
        ("  3  ", Decimal(3)),
        ("'hello world'", "hello world"),
        ("''", ""),
        ("'it''s'", None),  # no escapes: this is two adjacent strings → syntax error
    ],
)
def test_literals(text, expected):
    if expected is None:
        assert validate_expression(text) is not None
    else:
        assert ev(text) == expected
        assert type(ev(text)) is type(expected)


def test_string_literal_keeps_everything_between_quotes():
    assert ev("'  a+b (c), \"d\" '") == '  a+b (c), "d" '


def test_event_code_and_timestamp():
    assert ev("event.code") == "api_call"
    assert ev("event.timestamp") == TS
    assert ev("event.timestamp + 60") == Decimal("1700000060")
    assert evaluate_expression(
        "event.timestamp", code="c", timestamp=Decimal("1700000000.5"), properties={}
    ) == Decimal("1700000000.5")


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1700000000, Decimal(1700000000)),
        ("1700000000", Decimal(1700000000)),
        (1.5, Decimal("1.5")),
        (datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC), Decimal(1700000000)),
        (datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC), Decimal("1700000000.25")),
    ],
)
def test_timestamp_coercion(timestamp, expected):
    assert evaluate_expression("event.timestamp", code="c", timestamp=timestamp, properties={}) == expected


def test_timestamp_not_a_number():
    with pytest.raises(ExpressionEvaluationError):
        evaluate_expression("event.timestamp", code="c", timestamp="yesterday", properties={})


def test_ast_shapes():
    assert parse_expression("event.code").root == EventCode()
    assert parse_expression("event.timestamp").root == EventTimestamp()
    assert parse_expression("event.properties.a_1").root == EventProperty("a_1")
    assert parse_expression("'x'").root == StringLiteral("x")
    assert parse_expression("-1").root == Negate(n(1))
    assert parse_expression("round(1, 2)").root == FunctionCall("ROUND", (n(1), n(2)))
    assert parse_expression("2 + 3 * 4").root == BinaryOp(n(2), (("+", BinaryOp(n(3), (("*", n(4)),))),))
    assert parse_expression("1 - 2 - 3").root == BinaryOp(n(1), (("-", n(2)), ("-", n(3))))
    assert parse_expression("-(2+3)*2").root == BinaryOp(
        Negate(BinaryOp(n(2), (("+", n(3)),))), (("*", n(2)),)
    )


def test_referenced_properties_and_caching():
    expression = parse_expression(
        "CONCAT(event.properties.a, '-', ROUND(event.properties.b * event.properties.a, event.properties.c))"
    )
    assert expression.referenced_properties == frozenset({"a", "b", "c"})
    assert parse_expression("event.code + 1").referenced_properties == frozenset()
    assert isinstance(expression, Expression)
    assert expression.source.startswith("CONCAT(")
    assert parse_expression(expression.source) is expression  # cached, immutable
    hash(expression.root)


# ---------------------------------------------------------------------------------------------------------
# Precedence and associativity
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 - 2 - 3", Decimal(-4)),
        ("2 + 3 * 4", Decimal(14)),
        ("2 * 3 + 4", Decimal(10)),
        ("(2 + 3) * 4", Decimal(20)),
        ("-(2+3)*2", Decimal(-10)),
        ("-2 * 3", Decimal(-6)),
        ("8 / 2 / 2", Decimal(2)),
        ("8 / (2 / 2)", Decimal(8)),
        ("2 * 3 / 4", Decimal("1.5")),
        ("10 - 4 + 2", Decimal(8)),
        ("10 - (4 + 2)", Decimal(4)),
        ("1 - -1", Decimal(2)),
        ("1--1", Decimal(2)),
        ("2 * -3", Decimal(-6)),
        ("-(-(3))", Decimal(3)),
        ("1+2*3-4/2", Decimal(5)),
        ("((((7))))", Decimal(7)),
        ("0.1 + 0.2", Decimal("0.3")),
        ("1 / 4", Decimal("0.25")),
        ("3 - 3", Decimal(0)),
        ("-0", Decimal(0)),
    ],
)
def test_arithmetic(text, expected):
    result = ev(text)
    assert result == expected
    assert str(result) == str(expected)


def test_division_keeps_100_significant_digits():
    assert ev("1 / 3") == Decimal("0." + "3" * 100)
    assert ev("2 / 3") == Decimal("0." + "6" * 99 + "7")


def test_results_are_normalised_without_exponent():
    assert str(ev("10 * 10")) == "100"
    assert str(ev("1.50 * 2")) == "3"
    assert str(ev("ROUND(1250, -2)")) == "1300"
    assert str(ev("0.000 * 5")) == "0"
    assert str(ev("-1 * 0")) == "0"


# ---------------------------------------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ROUND(12.5)", Decimal(13)),
        ("ROUND(12.4)", Decimal(12)),
        ("ROUND(-2.5)", Decimal(-3)),  # half-up = half away from zero
        ("ROUND(2.345, 2)", Decimal("2.35")),
        ("ROUND(2.344, 2)", Decimal("2.34")),
        ("ROUND(2.5, 2)", Decimal("2.5")),
        ("ROUND(9.999, 2)", Decimal(10)),
        ("ROUND(1250, -2)", Decimal(1300)),
        ("ROUND(1249, -2)", Decimal(1200)),
        ("ROUND(49, -2)", Decimal(0)),
        ("ROUND(2.345, 2.0)", Decimal("2.35")),
        ("CEIL(1.543)", Decimal(2)),
        ("CEIL(2)", Decimal(2)),
        ("CEIL(-1.5)", Decimal(-1)),
        ("CEIL(12.351, 1)", Decimal("12.4")),
        ("CEIL(123, -1)", Decimal(130)),
        ("CEIL(1, -3)", Decimal(1000)),
        ("FLOOR(12.3)", Decimal(12)),
        ("FLOOR(-1.5)", Decimal(-2)),
        ("FLOOR(12.351, 1)", Decimal("12.3")),
        ("FLOOR(129, -1)", Decimal(120)),
        ("LEAST(3, 1, 2)", Decimal(1)),
        ("LEAST(7)", Decimal(7)),
        ("LEAST(-1, 1)", Decimal(-1)),
        ("GREATEST(3, 1, 2)", Decimal(3)),
        ("GREATEST(0.5, 0.25)", Decimal("0.5")),
        ("CONCAT('a', 'b', 'c')", "abc"),
        ("CONCAT('x')", "x"),
        ("CONCAT('n-', 1.50, '-', 10 * 10, '-', -3)", "n-1.5-100--3"),
        ("CONCAT(1, 2)", "12"),
        ("CONCAT(event.code, '/', event.timestamp)", "api_call/1700000000"),
        ("CONCAT('', '')", ""),
        ("ROUND(LEAST(10, 2.5) * GREATEST(1, 2), 0) + 1", Decimal(6)),
        ("CONCAT('r', ROUND(1 / 3, 3))", "r0.333"),
    ],
)
def test_functions(text, expected):
    result = ev(text)
    assert result == expected
    assert type(result) is type(expected)


def test_rounding_digits_from_a_property():
    assert ev("ROUND(event.properties.x, event.properties.d)", x="3.14159", d="3") == Decimal("3.142")
    assert ev("CEIL(event.properties.x, event.properties.d)", x="3.14159", d=-1) == Decimal(10)


@pytest.mark.parametrize("name", ["concat", "round", "ceil", "floor", "least", "greatest"])
def test_function_name_casing(name):
    arguments = "('1')" if name == "concat" else "(1.5)"
    for spelling in (name, name.upper(), name.capitalize()):
        assert validate_expression(spelling + arguments) is None, spelling
    bad_spellings = {name[0] + name[1:].upper(), name[:-1].upper() + name[-1], name[:-1] + name[-1].upper()}
    for spelling in bad_spellings:
        error = validate_expression(spelling + arguments)
        assert error is not None, spelling
        assert error.position == 0
        assert "lower-case, UPPER-case or Capitalised" in error.message


def test_bad_casing_message():
    error = syntax_error("rOuNd(1)")
    assert error.position == 0
    assert "lower-case, UPPER-case or Capitalised" in error.message


def test_space_between_function_name_and_parenthesis_is_allowed():
    assert ev("round (1.5)") == Decimal(2)
    assert ev("ROUND( 2.345 , 2 )") == Decimal("2.35")


# ---------------------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1543", Decimal(1543)),
        ("-2.5", Decimal("-2.5")),
        ("+4", Decimal(4)),
        ("1e3", Decimal(1000)),
        (".5", Decimal("0.5")),
        ("5.", Decimal(5)),
        (12, Decimal(12)),
        (0.1, Decimal("0.1")),  # via repr, not the binary expansion
        (Decimal("2.50"), Decimal("2.5")),
        ("abc", "abc"),
        ("12abc", "12abc"),
        (" 12", " 12"),  # whitespace: not a decimal
        ("1_000", "1_000"),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("", ""),
        (True, "true"),
        (False, "false"),
    ],
)
def test_property_value_coercion(raw, expected):
    result = ev("event.properties.x", x=raw)
    assert result == expected
    assert type(result) is type(expected)


def test_numeric_property_strings_are_numbers_but_string_literals_are_not():
    assert ev("event.properties.x + 1", x="1543") == Decimal(1544)
    with pytest.raises(ExpressionEvaluationError):
        ev("'12' + 1")


def test_concat_of_numeric_property_uses_numeric_rendering():
    assert ev("CONCAT('id-', event.properties.x)", x="007") == "id-7"
    assert ev("CONCAT('id-', event.properties.x)", x="abc") == "id-abc"


def test_format_value():
    assert format_value("x") == "x"
    assert format_value(Decimal("1E+2")) == "100"
    assert format_value(Decimal("1E-7")) == "0.0000001"
    assert format_value(Decimal("-0.00")) == "0"
    assert format_value(Decimal("1E+500")) == "1E+500"  # too long for plain notation


# ---------------------------------------------------------------------------------------------------------
# Evaluation errors
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "properties", "fragment"),
    [
        ("1 / 0", {}, "division by zero"),
        ("1 / (2 - 2)", {}, "division by zero"),
        ("0 / 0", {}, "division by zero"),
        ("event.properties.x / event.properties.y", {"x": "1", "y": "0"}, "division by zero"),
        ("event.properties.missing", {}, "'missing' is missing"),
        ("event.properties.x", {"x": None}, "'x' is missing"),
        ("event.properties.x + 1", {"x": "abc"}, "requires a number"),
        ("event.code * 2", {}, "requires a number"),
        ("-event.code", {}, "requires a number"),
        ("'a' - 'b'", {}, "requires a number"),
        ("ROUND('a')", {}, "requires a number"),
        ("CEIL(1.5, 'x')", {}, "requires a number"),
        ("ROUND(1.5, 0.5)", {}, "whole number"),
        ("ROUND(1.5, 100000)", {}, "digits must be between"),
        ("LEAST(1, 'a')", {}, "requires a number"),
        ("GREATEST(event.code)", {}, "requires a number"),
        ("event.properties.x", {"x": [1, 2]}, "unsupported type"),
        ("event.properties.x", {"x": {"a": 1}}, "unsupported type"),
        ("event.properties.x", {"x": float("nan")}, "non-finite"),
        ("event.properties.x * event.properties.x", {"x": "9e999999999999999999"}, "numeric error"),
    ],
)
def test_evaluation_errors(text, properties, fragment):
    with pytest.raises(ExpressionEvaluationError) as info:
        ev(text, **properties)
    assert fragment in str(info.value)


def test_lazy_failure_only_on_evaluation():
    expression = parse_expression("event.properties.a / event.properties.b")  # parses fine
    assert expression.evaluate(EventContext("c", TS, {"a": 6, "b": 3})) == Decimal(2)
    with pytest.raises(ExpressionEvaluationError):
        expression.evaluate(EventContext("c", TS, {"a": 6}))


# ---------------------------------------------------------------------------------------------------------
# Syntax errors and their positions
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("", 0),
        ("   ", 0),
        ("1 +", 3),
        ("1 + * 2", 4),
        ("1 + 2)", 5),
        ("(1 + 2", 6),
        ("()", 1),
        ("1 2", 2),
        ("1 + 2 foo", 6),
        ("rOuNd(1)", 0),
        ("foo(1)", 0),
        ("1 + bar", 4),
        ("round", 5),
        ("round 1", 6),
        ("1 $ 2", 2),
        ("1\t+ 2", 1),  # only the ASCII space is whitespace (as in the pinned grammar)
        ("1\n+ 2", 1),
        ("'abc", 0),
        ("1 + 'abc", 4),
        ('"abc"', 0),
        ("1.1.1", 3),
        ("1.", 1),
        (".5", 0),
        ("1e3", 1),
        ("event", 0),
        ("event.foo", 6),
        ("event.Code", 6),
        ("event. code", 6),
        ("event.properties", 16),
        ("event.properties.", 17),
        ("event.properties.1x", 17),
        ("event.properties._x", 17),
        ("event.properties.a.b", 18),
        ("event.code.x", 10),
        ("ROUND(1, 2, 3)", 12),
        ("CEIL(1, 2, 3, 4)", 11),
        ("CONCAT()", 7),
        ("LEAST()", 6),
        ("round(1,)", 8),
        ("round(1 2)", 8),
        ("round(1", 7),
        ("--1", 1),
        ("1 + - - 1", 6),
        ("+1", 0),
        ("1 ** 2", 3),
        ("été", 0),
        ("١٢", 0),  # non-ASCII digits are not digits
    ],
)
def test_syntax_error_positions(text, position):
    error = syntax_error(text)
    assert error.position == position, error.message
    assert str(position) in str(error)
    assert validate_expression(text) is not None


def test_syntax_error_messages():
    assert "empty" in syntax_error("").message
    assert "unbalanced ')'" in syntax_error("1)").message
    assert "unbalanced '('" in syntax_error("(1").message
    assert "unknown function 'foo'" in syntax_error("foo(1)").message
    assert "ROUND() takes 1 to 2 arguments, got 3" in syntax_error("round(1, 2, 3)").message
    assert "unterminated string" in syntax_error("'x").message


def test_validate_expression_returns_none_or_error():
    assert validate_expression("1 + 1") is None
    error = validate_expression("1 +")
    assert isinstance(error, ExpressionSyntaxError)
    assert error.position == 3
    assert isinstance(validate_expression(None), ExpressionSyntaxError)  # type: ignore[arg-type]


def test_errors_are_value_errors():
    assert issubclass(ExpressionSyntaxError, ValueError)
    assert issubclass(ExpressionEvaluationError, ValueError)


# ---------------------------------------------------------------------------------------------------------
# Abuse guards
# ---------------------------------------------------------------------------------------------------------


def test_length_limit():
    longest = "1" + " + 1" * ((MAX_EXPRESSION_LENGTH - 1) // 4)
    assert len(longest) <= MAX_EXPRESSION_LENGTH
    assert ev(longest) == Decimal((MAX_EXPRESSION_LENGTH - 1) // 4 + 1)
    too_long = "1" * (MAX_EXPRESSION_LENGTH + 1)
    error = syntax_error(too_long)
    assert error.position == MAX_EXPRESSION_LENGTH
    assert "too long" in error.message


def test_long_flat_chains_do_not_recurse():
    text = "+".join(["1"] * 500)
    assert len(text) < MAX_EXPRESSION_LENGTH
    expression = parse_expression(text)
    assert expression.evaluate(EventContext("c", TS, {})) == Decimal(500)
    assert expression.root == parse_expression(text + " ").root  # structural equality stays shallow
    repr(expression.root)


def test_nesting_depth_limit_parentheses():
    ok = "(" * MAX_NESTING_DEPTH + "1" + ")" * MAX_NESTING_DEPTH
    assert ev(ok) == Decimal(1)
    too_deep = "(" * (MAX_NESTING_DEPTH + 1) + "1" + ")" * (MAX_NESTING_DEPTH + 1)
    error = syntax_error(too_deep)
    assert error.position == MAX_NESTING_DEPTH
    assert "nested too deeply" in error.message


def test_nesting_depth_limit_functions():
    ok = "ROUND(" * MAX_NESTING_DEPTH + "1" + ")" * MAX_NESTING_DEPTH
    assert ev(ok) == Decimal(1)
    too_deep = "ROUND(" * (MAX_NESTING_DEPTH + 1) + "1" + ")" * (MAX_NESTING_DEPTH + 1)
    assert syntax_error(too_deep).position == MAX_NESTING_DEPTH * len("ROUND(") + len("ROUND")


def _stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def test_worst_case_tree_is_far_from_the_recursion_limit():
    # Every level: a sum containing a product containing a negated function call.
    inner = "1"
    for _ in range(MAX_NESTING_DEPTH):
        inner = f"1+1*-least({inner})"
    assert len(inner) <= MAX_EXPRESSION_LENGTH
    depth = _stack_depth()
    old_limit = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(depth + 300)  # parse + evaluate need < 300 frames of the default 1000
        expression = parse_expression(inner)
        assert expression.evaluate(EventContext("c", TS, {})) == Decimal(1)
        other = parse_expression(inner + " ")
        sys.setrecursionlimit(depth + 650)  # repr / == of the raw tree (dataclass-generated) need more
        repr(expression.root)
        assert expression.root == other.root
    finally:
        sys.setrecursionlimit(old_limit)


def test_unbalanced_flood_is_a_syntax_error_not_recursion_error():
    assert syntax_error("(" * 900).position == MAX_NESTING_DEPTH
    assert syntax_error("-(" * 450).position == 2 * MAX_NESTING_DEPTH + 1


# ---------------------------------------------------------------------------------------------------------
# Property-based tests
# ---------------------------------------------------------------------------------------------------------


class _ZeroDivision(Exception):
    pass


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
_ATOM = 3


def _leaf(value: int) -> tuple[str, Fraction, int]:
    return str(value), Fraction(value), _ATOM  # negative leaves render as a unary minus: "-5"


def _combine(operator: str, left, right, redundant_parens: bool) -> tuple[str, Fraction, int]:
    """Render with the fewest parentheses precedence and left-associativity allow (plus, optionally,
    redundant ones around the whole), computing the exact value alongside."""
    left_text, left_value, left_precedence = left
    right_text, right_value, right_precedence = right
    precedence = _PRECEDENCE[operator]
    if left_precedence < precedence:
        left_text = f"({left_text})"
    if right_precedence <= precedence:  # a right operand of equal precedence needs them (left-assoc)
        right_text = f"({right_text})"
    if operator == "+":
        value = left_value + right_value
    elif operator == "-":
        value = left_value - right_value
    elif operator == "*":
        value = left_value * right_value
    else:
        if right_value == 0:
            raise _ZeroDivision
        value = left_value / right_value
    text = f"{left_text} {operator} {right_text}"
    if redundant_parens:
        return f"({text})", value, _ATOM
    return text, value, precedence


def _integer_trees(max_leaves: int, leaf_range: int, operators: str):
    leaves = st.integers(-leaf_range, leaf_range).map(_leaf)

    def extend(children):
        return st.tuples(st.sampled_from(operators), children, children, st.booleans()).map(
            lambda parts: ("node", *parts)
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves)


def _render(tree) -> tuple[str, Fraction, int]:
    if tree[0] != "node":
        return tree
    _, operator, left, right, wrap = tree
    return _combine(operator, _render(left), _render(right), wrap)


@settings(max_examples=300, deadline=None)
@given(_integer_trees(max_leaves=12, leaf_range=10**6, operators="+-*"))
def test_integer_arithmetic_is_exact(tree):
    text, expected, _ = _render(tree)
    assert validate_expression(text) is None, text
    result = ev(text)
    assert isinstance(result, Decimal)
    assert Fraction(result) == expected, text


@st.composite
def _division_expressions(draw):
    """Numerators may contain divisions; divisors are exact integer trees (so zero is detected exactly)."""
    numerator = draw(_integer_trees(max_leaves=6, leaf_range=50, operators="+-*/"))
    divisor = draw(_integer_trees(max_leaves=4, leaf_range=50, operators="+-*"))
    return numerator, divisor


@settings(max_examples=300, deadline=None)
@given(_division_expressions())
def test_division_matches_fractions(trees):
    numerator_tree, divisor_tree = trees
    try:
        numerator_text, numerator_value, _ = _render(numerator_tree)
        divisor_text, divisor_value, _ = _render(divisor_tree)
        if divisor_value == 0:
            raise _ZeroDivision
        expected = numerator_value / divisor_value
    except _ZeroDivision:
        expected = None
    if expected is None:
        # Some divisor is exactly zero: evaluation must fail cleanly (if the text rendered at all).
        try:
            text = f"({_render(numerator_tree)[0]}) / ({_render(divisor_tree)[0]})"
        except _ZeroDivision:
            return
        with pytest.raises(ExpressionEvaluationError):
            ev(text)
        return
    text = f"({numerator_text}) / ({divisor_text})"
    result = ev(text)
    assert isinstance(result, Decimal)
    tolerance = Fraction(1, 10**60) * max(1, abs(expected))
    assert abs(Fraction(result) - expected) <= tolerance, text


_GRAMMAR_ALPHABET = [
    *"0123456789.+-*/(), '$\t_xe",
    "event.code",
    "event.timestamp",
    "event.properties.x",
    "event.properties.",
    "event.",
    "ROUND",
    "round",
    "rOuNd",
    "CEIL",
    "Floor",
    "least",
    "GREATEST",
    "concat",
    "foo",
]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(st.text(max_size=60), st.lists(st.sampled_from(_GRAMMAR_ALPHABET), max_size=30).map("".join))
)
def test_garbage_only_raises_syntax_errors(text):
    try:
        expression = parse_expression(text)
    except ExpressionSyntaxError as error:
        assert 0 <= error.position <= len(text)
        return
    # Whatever parses must evaluate to a value or fail with ExpressionEvaluationError only.
    for properties in ({"x": "12.5"}, {"x": "abc"}, {}):
        try:
            result = expression.evaluate(EventContext("code", TS, properties))
        except ExpressionEvaluationError:
            continue
        assert isinstance(result, (Decimal, str))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_arbitrary_string_literals_round_trip(content):
    content = content.replace("'", "")
    text = f"CONCAT('{content}')"
    if len(text) > MAX_EXPRESSION_LENGTH:
        return
    assert ev(text) == content
