"""A small, safe expression language for billable-metric ``expression``s (Lago ``lago-expression``).

A billable metric may carry an ``expression`` that is evaluated once per event at ingestion; its result is
stored in ``event.properties[field_name]`` (billing-semantics §2.6).  This module implements that language
from scratch: a hand-written tokenizer, a recursive-descent parser producing an immutable AST (frozen
dataclasses) and a tree-walking evaluator.  User text is never handed to ``eval``/``exec``/``ast`` and
nothing here touches SQL.

Grammar (mirrors lago-expression's ``expression-core/src/grammar.pest``)::

    expression := term (("+" | "-") term)*                 lowest precedence, left-associative
    term       := unary (("*" | "/") unary)*               binds tighter, left-associative
    unary      := "-"? primary                             at most ONE unary minus per operand
    primary    := NUMBER | STRING | VARIABLE | call | "(" expression ")"
    call       := FUNCTION "(" expression ("," expression)* ")"
    NUMBER     := [0-9]+ ("." [0-9]+)?                     no exponent, no leading/trailing dot
    STRING     := "'" <any character except '> * "'"       no escapes; may be empty
    VARIABLE   := "event.code" | "event.timestamp" | "event.properties." [A-Za-z][A-Za-z0-9_]*
    FUNCTION   := one of the names below, spelt lower-case, UPPER-case or Capitalised only

Only the ASCII space separates tokens (as in the pinned grammar: tabs and newlines are syntax errors).
Variables are single tokens: no space is allowed around their dots.  Unary minus binds tightest, so
``-2 * 3`` is ``(-2) * 3`` and ``-(2 + 3) * 2`` is ``-10``; ``--1`` is rejected (write ``-(-1)``), but
``1 - -1`` is fine because the right operand is its own ``unary``.

Functions (name — arity — result):

* ``CONCAT(a, b, …)`` — 1+ arguments — string; numbers are rendered with :func:`format_value`.
* ``ROUND(x[, digits])`` — 1–2 — round half-up (half away from zero) to ``digits`` decimal places.
* ``CEIL(x[, digits])`` — 1–2 — round toward +∞ at ``digits`` decimal places.
* ``FLOOR(x[, digits])`` — 1–2 — round toward −∞ at ``digits`` decimal places.
* ``LEAST(a, b, …)`` / ``GREATEST(a, b, …)`` — 1+ — numeric minimum / maximum.

``digits`` defaults to 0, must evaluate to an integral number and may be negative (rounds to tens,
hundreds, …): ``ROUND(2.345, 2)`` = 2.35, ``ROUND(-2.5)`` = −3, ``CEIL(1.543)`` = 2, ``CEIL(12.351, 1)`` =
12.4, ``FLOOR(-1.5)`` = −2, ``ROUND(1250, -2)`` = 1300, ``CEIL(123, -1)`` = 130.  An argument-count error is
detected at parse time (→ :class:`ExpressionSyntaxError`), like lago-expression's ``WrongNumberOfArguments``.

Values are either :class:`~decimal.Decimal` (never ``float``) or ``str``:

* number literals, ``event.timestamp`` (Unix seconds) and numeric properties are numbers;
* a property whose value is a string that reads as a decimal (``"1543"``, ``"-2.5"``, ``"1e3"``) is a
  number, any other string stays a string; string *literals* are always strings (``'12' + 1`` fails);
* ``+ - * /``, unary minus, ROUND/CEIL/FLOOR and LEAST/GREATEST require numbers.

Arithmetic runs in a private decimal context with 100 significant digits (the default precision of the
Rust ``bigdecimal`` crate behind lago-expression); ``+ - *`` are exact below that size, ``/`` rounds
half-even at the 100th digit.  Numeric results are normalised: trailing zeros stripped, no positive
exponent (``CEIL(1.543)`` → ``Decimal("2")``, ``10 * 10`` → ``Decimal("100")``, ``2.50`` →
``Decimal("2.5")``).

Evaluation errors (:class:`ExpressionEvaluationError`): missing (or ``None``) property, arithmetic or
rounding on a string, division by zero, non-integral ``digits``, unsupported property type, numeric
overflow.  Abuse guards (:class:`ExpressionSyntaxError`): text longer than :data:`MAX_EXPRESSION_LENGTH`
characters, parentheses/function calls nested deeper than :data:`MAX_NESTING_DEPTH`.
"""

from __future__ import annotations

import decimal
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

__all__ = [
    "ARITHMETIC_PRECISION",
    "MAX_EXPRESSION_LENGTH",
    "MAX_NESTING_DEPTH",
    "MAX_ROUNDING_DIGITS",
    "BinaryOp",
    "EventCode",
    "EventContext",
    "EventProperty",
    "EventTimestamp",
    "Expression",
    "ExpressionError",
    "ExpressionEvaluationError",
    "ExpressionSyntaxError",
    "FunctionCall",
    "Negate",
    "Node",
    "NumberLiteral",
    "StringLiteral",
    "Value",
    "evaluate_expression",
    "format_value",
    "parse_expression",
    "validate_expression",
]

MAX_EXPRESSION_LENGTH = 1000
"""Longest accepted expression text, in characters."""

MAX_NESTING_DEPTH = 32
"""Deepest accepted nesting of parentheses and function calls (``((1))`` has depth 2).

Real metric expressions nest a handful of levels; 32 keeps the worst-case tree (a sum of a product of a
negated call at every level) shallow enough that parsing, evaluating, ``repr`` and ``==`` all stay far
below Python's default recursion limit even when called from a deep (web/worker) stack."""

MAX_ROUNDING_DIGITS = 10_000
"""Largest absolute ``digits`` accepted by ROUND/CEIL/FLOOR."""

ARITHMETIC_PRECISION = 100
"""Significant digits kept by arithmetic (matches bigdecimal's default division precision)."""

Value = Decimal | str

_ARITHMETIC_CONTEXT = decimal.Context(
    prec=ARITHMETIC_PRECISION,
    rounding=decimal.ROUND_HALF_EVEN,
    Emin=decimal.MIN_EMIN,
    Emax=decimal.MAX_EMAX,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)

# A property string "reads as a decimal" when it matches this (ASCII digits only; no NaN/Infinity, no
# underscores or surrounding whitespace, which Python's Decimal() would otherwise accept).
_NUMERIC_STRING = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)

_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_WORD_CHARS = _LETTERS | _DIGITS | {"_"}
_PROPERTY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*", re.ASCII)


# --------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------


class ExpressionError(ValueError):
    """Base class of every error raised by this module."""


class ExpressionSyntaxError(ExpressionError):
    """The expression text is invalid.  ``position`` is the 0-based character offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message, position)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return f"{self.message} (at position {self.position})"


class ExpressionEvaluationError(ExpressionError):
    """The expression could not be evaluated against a given event."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------------------------------------
# Event context and value helpers
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventContext:
    """What an expression can see of an event.

    ``timestamp`` is Unix seconds; a ``Decimal`` is expected but ``int``, ``float``, a numeric ``str`` or an
    aware ``datetime`` (naive ones are taken as UTC) are accepted too.  ``properties`` values may be
    ``str``, ``int``, ``float``, ``Decimal`` or ``bool`` (booleans become the strings ``"true"``/``"false"``).
    """

    code: str
    timestamp: Any
    properties: Mapping[str, Any] = field(default_factory=dict)


def format_value(value: Value) -> str:
    """Render an expression value as text: strings unchanged, numbers in plain (non-scientific) notation.

    Used by CONCAT and suitable for storing a result in an event's properties.  Numbers whose plain form
    would be absurdly long (exponent beyond ±100 outside the digits) fall back to scientific notation.
    """
    if isinstance(value, str):
        return value
    number = _normalize(value)
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    if -100 - len(digits) <= exponent <= 100:
        return format(number, "f")
    return str(number)


def _normalize(number: Decimal) -> Decimal:
    """Strip fractional trailing zeros and small positive exponents, exactly (``1.50`` → ``1.5``,
    ``1E+2`` → ``100``).  Never rounds, whatever the number of digits."""
    if not number.is_finite():
        return number
    if number.is_zero():
        return Decimal(0)
    sign, coefficient, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    digits = list(coefficient)
    while exponent < 0 and len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exponent += 1
    if 0 < exponent <= 100:
        digits.extend([0] * exponent)
        exponent = 0
    return Decimal((sign, tuple(digits), exponent))


def _short(value: Value) -> str:
    text = format_value(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text) if isinstance(value, str) else text


def _coerce_property(name: str, raw: Any) -> Value:
    if raw is None:
        raise ExpressionEvaluationError(f"event property {name!r} is missing")
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str):
        if _NUMERIC_STRING.fullmatch(raw):
            return Decimal(raw)
        return raw
    number = _coerce_number(raw)
    if number is None:
        raise ExpressionEvaluationError(
            f"event property {name!r} has an unsupported type ({type(raw).__name__})"
        )
    return number


def _coerce_number(raw: Any) -> Decimal | None:
    """int/float/Decimal → finite Decimal; anything else → None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        number = Decimal(repr(raw))  # shortest repr: 0.1 → Decimal("0.1"), not the binary expansion
    elif isinstance(raw, Decimal):
        number = raw
    else:
        return None
    if not number.is_finite():
        raise ExpressionEvaluationError(f"non-finite number {raw!r} cannot be used in an expression")
    return number


def _coerce_timestamp(raw: Any) -> Decimal:
    if isinstance(raw, datetime):
        aware = raw if raw.tzinfo is not None else raw.replace(tzinfo=UTC)
        delta = aware - datetime(1970, 1, 1, tzinfo=UTC)
        return Decimal(delta.days * 86_400 + delta.seconds) + Decimal(delta.microseconds).scaleb(-6)
    if isinstance(raw, str) and _NUMERIC_STRING.fullmatch(raw):
        return Decimal(raw)
    number = _coerce_number(raw)
    if number is None:
        raise ExpressionEvaluationError(f"event timestamp {raw!r} is not a number of Unix seconds")
    return number


def _require_number(value: Value, what: str) -> Decimal:
    if isinstance(value, str):
        raise ExpressionEvaluationError(f"{what} requires a number, got the string {_short(value)}")
    return value


# --------------------------------------------------------------------------------------------------------
# AST
# --------------------------------------------------------------------------------------------------------


class Node:
    """Base class of AST nodes.  Nodes are immutable and hashable."""

    __slots__ = ()

    def evaluate(self, event: EventContext) -> Value:  # pragma: no cover - abstract
        raise NotImplementedError

    def children(self) -> tuple[Node, ...]:
        return ()


@dataclass(frozen=True, slots=True)
class NumberLiteral(Node):
    value: Decimal

    def evaluate(self, event: EventContext) -> Value:
        return self.value


@dataclass(frozen=True, slots=True)
class StringLiteral(Node):
    value: str

    def evaluate(self, event: EventContext) -> Value:
        return self.value


@dataclass(frozen=True, slots=True)
class EventCode(Node):
    def evaluate(self, event: EventContext) -> Value:
        return str(event.code)


@dataclass(frozen=True, slots=True)
class EventTimestamp(Node):
    def evaluate(self, event: EventContext) -> Value:
        return _coerce_timestamp(event.timestamp)


@dataclass(frozen=True, slots=True)
class EventProperty(Node):
    name: str

    def evaluate(self, event: EventContext) -> Value:
        try:
            raw = event.properties[self.name]
        except KeyError:
            raise ExpressionEvaluationError(f"event property {self.name!r} is missing") from None
        return _coerce_property(self.name, raw)


@dataclass(frozen=True, slots=True)
class Negate(Node):
    operand: Node

    def evaluate(self, event: EventContext) -> Value:
        return -_require_number(self.operand.evaluate(event), "unary '-'")

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


def _divide(left: Decimal, right: Decimal) -> Decimal:
    if right.is_zero():
        raise ExpressionEvaluationError("division by zero")
    return left / right


_OPERATORS: dict[str, Callable[[Decimal, Decimal], Decimal]] = {
    "+": lambda left, right: left + right,
    "-": lambda left, right: left - right,
    "*": lambda left, right: left * right,
    "/": _divide,
}


@dataclass(frozen=True, slots=True)
class BinaryOp(Node):
    """A left-associative run of same-precedence binary operators: ``first op₁ x₁ op₂ x₂ …``.

    It means ``((first op₁ x₁) op₂ x₂) …``.  Keeping a run flat (instead of a left-leaning binary tree)
    bounds the tree height by the nesting depth, so long sums never approach the recursion limit.
    All operators of one node share a precedence level (``+``/``-`` or ``*``/``/``).
    """

    first: Node
    rest: tuple[tuple[str, Node], ...]

    def evaluate(self, event: EventContext) -> Value:
        accumulator = _require_number(self.first.evaluate(event), f"operator {self.rest[0][0]!r}")
        for operator, operand in self.rest:
            right = _require_number(operand.evaluate(event), f"operator {operator!r}")
            accumulator = _OPERATORS[operator](accumulator, right)
        return accumulator

    def children(self) -> tuple[Node, ...]:
        return (self.first, *(operand for _, operand in self.rest))


def _concat(args: list[Value]) -> Value:
    return "".join(format_value(arg) for arg in args)


def _extremum(name: str, pick: Callable[..., Decimal]) -> Callable[[list[Value]], Value]:
    def compute(args: list[Value]) -> Value:
        return pick(_require_number(arg, name) for arg in args)

    return compute


def _rounding(name: str, mode: str) -> Callable[[list[Value]], Value]:
    def compute(args: list[Value]) -> Value:
        number = _require_number(args[0], name)
        digits = 0
        if len(args) > 1:
            raw_digits = _require_number(args[1], f"{name} digits")
            if raw_digits != raw_digits.to_integral_value():
                raise ExpressionEvaluationError(
                    f"{name} digits must be a whole number, got {format_value(raw_digits)}"
                )
            if abs(raw_digits) > MAX_ROUNDING_DIGITS:
                raise ExpressionEvaluationError(f"{name} digits must be between ±{MAX_ROUNDING_DIGITS}")
            digits = int(raw_digits)
        return _round(number, digits, mode)

    return compute


def _round(number: Decimal, digits: int, mode: str) -> Decimal:
    """Round ``number`` to ``digits`` decimal places (negative: to tens, hundreds, …) with ``mode``."""
    _, coefficient, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    if exponent >= -digits:  # already no finer than the requested place: nothing to round
        return number
    # Rounding only removes digits (plus at most one carry), so this precision is always enough.
    context = decimal.Context(
        prec=len(coefficient) + 2,
        rounding=mode,
        Emin=decimal.MIN_EMIN,
        Emax=decimal.MAX_EMAX,
        traps=[decimal.InvalidOperation, decimal.Overflow],
    )
    return number.quantize(Decimal((0, (1,), -digits)), context=context)


@dataclass(frozen=True)
class _FunctionSpec:
    name: str
    min_args: int
    max_args: int | None
    compute: Callable[[list[Value]], Value]

    def arity_text(self) -> str:
        if self.max_args is None:
            return f"at least {self.min_args} argument" + ("s" if self.min_args != 1 else "")
        return f"{self.min_args} to {self.max_args} arguments"


_FUNCTIONS: dict[str, _FunctionSpec] = {
    spec.name: spec
    for spec in (
        _FunctionSpec("CONCAT", 1, None, _concat),
        _FunctionSpec("ROUND", 1, 2, _rounding("ROUND", decimal.ROUND_HALF_UP)),
        _FunctionSpec("CEIL", 1, 2, _rounding("CEIL", decimal.ROUND_CEILING)),
        _FunctionSpec("FLOOR", 1, 2, _rounding("FLOOR", decimal.ROUND_FLOOR)),
        _FunctionSpec("LEAST", 1, None, _extremum("LEAST", min)),
        _FunctionSpec("GREATEST", 1, None, _extremum("GREATEST", max)),
    )
}


@dataclass(frozen=True, slots=True)
class FunctionCall(Node):
    """A call of one of the built-in functions; ``name`` is the canonical UPPER-case name."""

    name: str
    args: tuple[Node, ...]

    def evaluate(self, event: EventContext) -> Value:
        return _FUNCTIONS[self.name].compute([arg.evaluate(event) for arg in self.args])

    def children(self) -> tuple[Node, ...]:
        return self.args


# --------------------------------------------------------------------------------------------------------
# Parsed expression
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed, validated expression.  Immutable; safe to cache and share between threads."""

    source: str
    root: Node = field(repr=False, compare=False)
    referenced_properties: frozenset[str] = field(repr=False, compare=False)
    """Names of the ``event.properties.<name>`` the expression reads."""

    def evaluate(self, event: EventContext) -> Value:
        """Evaluate against ``event``; numbers come back normalised.  Raises ExpressionEvaluationError."""
        try:
            with decimal.localcontext(_ARITHMETIC_CONTEXT):
                result = self.root.evaluate(event)
                return _normalize(result) if isinstance(result, Decimal) else result
        except ExpressionEvaluationError:
            raise
        except RecursionError:  # belt and braces: the nesting limit keeps trees far shallower
            raise ExpressionEvaluationError("expression is nested too deeply to evaluate") from None
        except decimal.DivisionByZero:
            raise ExpressionEvaluationError("division by zero") from None
        except (ArithmeticError, ValueError) as exc:  # Overflow / InvalidOperation on absurd magnitudes
            raise ExpressionEvaluationError(f"numeric error while evaluating: {exc!r}") from None


# --------------------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # NUMBER STRING VARIABLE IDENT ( ) , + - * / EOF
    text: str
    position: int
    node: Node | None = None  # literal / variable node for NUMBER, STRING, VARIABLE

    def describe(self) -> str:
        if self.kind == "EOF":
            return "end of expression"
        if self.kind == "IDENT":
            return f"identifier {self.text!r}"
        if self.kind in {"NUMBER", "STRING", "VARIABLE"}:
            return f"{self.kind.lower()} {self.text}"
        return f"{self.text!r}"


_PUNCTUATION = frozenset("(),+-*/")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    length = len(text)
    i = 0
    while i < length:
        char = text[i]
        if char == " ":
            i += 1
        elif char in _PUNCTUATION:
            tokens.append(_Token(char, char, i))
            i += 1
        elif char in _DIGITS:
            start = i
            while i < length and text[i] in _DIGITS:
                i += 1
            if i < length and text[i] == ".":
                if i + 1 < length and text[i + 1] in _DIGITS:
                    i += 1
                    while i < length and text[i] in _DIGITS:
                        i += 1
                else:
                    raise ExpressionSyntaxError("invalid number: expected a digit after '.'", i)
            tokens.append(_Token("NUMBER", text[start:i], start, NumberLiteral(Decimal(text[start:i]))))
        elif char == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ExpressionSyntaxError("unterminated string literal", i)
            raw = text[i : end + 1]
            tokens.append(_Token("STRING", raw, i, StringLiteral(text[i + 1 : end])))
            i = end + 1
        elif char in _LETTERS:
            start = i
            while i < length and text[i] in _WORD_CHARS:
                i += 1
            word = text[start:i]
            if word == "event" and i < length and text[i] == ".":
                node, i = _read_variable(text, i + 1)
                tokens.append(_Token("VARIABLE", text[start:i], start, node))
            else:
                tokens.append(_Token("IDENT", word, start))
        else:
            shown = repr(char)
            raise ExpressionSyntaxError(f"unexpected character {shown}", i)
    tokens.append(_Token("EOF", "", length))
    return tokens


def _read_word(text: str, i: int) -> tuple[str, int]:
    start = i
    while i < len(text) and text[i] in _WORD_CHARS:
        i += 1
    return text[start:i], i


def _read_variable(text: str, i: int) -> tuple[Node, int]:
    """Read what follows ``event.`` (``i`` points just after the dot)."""
    start = i
    attribute, i = _read_word(text, i)
    if attribute == "code":
        return EventCode(), i
    if attribute == "timestamp":
        return EventTimestamp(), i
    if attribute == "properties":
        if i >= len(text) or text[i] != ".":
            raise ExpressionSyntaxError("expected '.<property name>' after 'event.properties'", i)
        name_start = i + 1
        name, end = _read_word(text, name_start)
        if not _PROPERTY_NAME.fullmatch(name):
            raise ExpressionSyntaxError(
                "invalid property name: it must start with a letter followed by letters, digits or '_'",
                name_start,
            )
        return EventProperty(name), end
    raise ExpressionSyntaxError(
        "unknown event attribute: expected event.code, event.timestamp or event.properties.<name>", start
    )


# --------------------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------------------


def _canonical_function(name: str) -> str | None:
    upper = name.upper()
    if upper in _FUNCTIONS and name in {upper, upper.lower(), upper.capitalize()}:
        return upper
    return None


class _Parser:
    _ADDITIVE: ClassVar[frozenset[str]] = frozenset("+-")
    _MULTIPLICATIVE: ClassVar[frozenset[str]] = frozenset("*/")

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.properties: set[str] = set()

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "EOF":
            self.index += 1
        return token

    def parse(self) -> Node:
        if self.current.kind == "EOF":
            raise ExpressionSyntaxError("expression is empty", 0)
        node = self.expression(0)
        token = self.current
        if token.kind != "EOF":
            if token.kind == ")":
                raise ExpressionSyntaxError("unbalanced ')': no matching '('", token.position)
            raise ExpressionSyntaxError(
                f"unexpected {token.describe()}: expected an operator or the end", token.position
            )
        return node

    def expression(self, depth: int) -> Node:
        return self._chain(depth, self._ADDITIVE, self.term)

    def term(self, depth: int) -> Node:
        return self._chain(depth, self._MULTIPLICATIVE, self.unary)

    def _chain(self, depth: int, operators: frozenset[str], operand: Callable[[int], Node]) -> Node:
        first = operand(depth)
        rest: list[tuple[str, Node]] = []
        while self.current.kind in operators:
            operator = self.advance().kind
            rest.append((operator, operand(depth)))
        return BinaryOp(first, tuple(rest)) if rest else first

    def unary(self, depth: int) -> Node:
        if self.current.kind == "-":
            self.advance()
            if self.current.kind == "-":
                raise ExpressionSyntaxError(
                    "only one unary '-' is allowed per operand; use parentheses", self.current.position
                )
            return Negate(self.primary(depth))
        return self.primary(depth)

    def primary(self, depth: int) -> Node:
        token = self.current
        if token.kind in {"NUMBER", "STRING", "VARIABLE"}:
            self.advance()
            assert token.node is not None
            if isinstance(token.node, EventProperty):
                self.properties.add(token.node.name)
            return token.node
        if token.kind == "(":
            self._enter(depth, token)
            self.advance()
            node = self.expression(depth + 1)
            self._close(token)
            return node
        if token.kind == "IDENT":
            return self.call(depth, token)
        if token.kind == "EOF":
            raise ExpressionSyntaxError("unexpected end of expression: expected a value", token.position)
        if token.kind == ")":
            raise ExpressionSyntaxError("expected a value before ')'", token.position)
        raise ExpressionSyntaxError(f"expected a value, got {token.describe()}", token.position)

    def call(self, depth: int, name_token: _Token) -> Node:
        name = name_token.text
        canonical = _canonical_function(name)
        if canonical is None:
            if name.upper() in _FUNCTIONS:
                raise ExpressionSyntaxError(
                    f"function {name!r} must be written lower-case, UPPER-case or Capitalised "
                    f"({name.upper().lower()}, {name.upper()} or {name.upper().capitalize()})",
                    name_token.position,
                )
            if self.tokens[self.index + 1].kind == "(":
                known = ", ".join(_FUNCTIONS)
                raise ExpressionSyntaxError(
                    f"unknown function {name!r} (known: {known})", name_token.position
                )
            raise ExpressionSyntaxError(
                f"unknown identifier {name!r}: expected a number, a 'string', event.code, "
                "event.timestamp, event.properties.<name> or a function call",
                name_token.position,
            )
        self.advance()
        open_token = self.current
        if open_token.kind != "(":
            raise ExpressionSyntaxError(f"expected '(' after function {name}", open_token.position)
        self._enter(depth, open_token)
        self.advance()
        spec = _FUNCTIONS[canonical]
        if self.current.kind == ")":
            raise ExpressionSyntaxError(
                f"{canonical}() takes {spec.arity_text()}, got 0", self.current.position
            )
        args: list[Node] = []
        surplus_position: int | None = None
        while True:
            if spec.max_args is not None and len(args) == spec.max_args:
                surplus_position = self.current.position
            args.append(self.expression(depth + 1))
            if self.current.kind != ",":
                break
            self.advance()
        if surplus_position is not None:
            raise ExpressionSyntaxError(
                f"{canonical}() takes {spec.arity_text()}, got {len(args)}", surplus_position
            )
        self._close(open_token)
        return FunctionCall(canonical, tuple(args))

    def _enter(self, depth: int, token: _Token) -> None:
        if depth >= MAX_NESTING_DEPTH:
            raise ExpressionSyntaxError(
                f"expression is nested too deeply (maximum {MAX_NESTING_DEPTH} levels of parentheses "
                "and function calls)",
                token.position,
            )

    def _close(self, open_token: _Token) -> None:
        token = self.current
        if token.kind == ")":
            self.advance()
            return
        if token.kind == "EOF":
            raise ExpressionSyntaxError(
                f"unbalanced '(' at position {open_token.position}: expected ')'", token.position
            )
        raise ExpressionSyntaxError(f"expected ',' or ')', got {token.describe()}", token.position)


# --------------------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------------------


def parse_expression(text: str) -> Expression:
    """Parse ``text`` into an :class:`Expression`; raise :class:`ExpressionSyntaxError` if it is invalid."""
    if not isinstance(text, str):
        raise ExpressionSyntaxError(f"expression must be a string, got {type(text).__name__}", 0)
    return _parse_cached(text)


@functools.lru_cache(maxsize=512)
def _parse_cached(text: str) -> Expression:
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionSyntaxError(
            f"expression is too long ({len(text)} characters, maximum {MAX_EXPRESSION_LENGTH})",
            MAX_EXPRESSION_LENGTH,
        )
    parser = _Parser(_tokenize(text))
    try:
        root = parser.parse()
    except RecursionError:  # belt and braces: MAX_NESTING_DEPTH stops recursion long before this
        raise ExpressionSyntaxError("expression is nested too deeply", 0) from None
    return Expression(source=text, root=root, referenced_properties=frozenset(parser.properties))


def validate_expression(text: str) -> ExpressionSyntaxError | None:
    """Return ``None`` when ``text`` is a valid expression, else the :class:`ExpressionSyntaxError`."""
    try:
        parse_expression(text)
    except ExpressionSyntaxError as error:
        return error
    return None


def evaluate_expression(
    text: str, *, code: str, timestamp: Any, properties: Mapping[str, Any] | None = None
) -> Value:
    """Parse ``text`` and evaluate it against one event (both error types may be raised)."""
    event = EventContext(code=code, timestamp=timestamp, properties=properties or {})
    return parse_expression(text).evaluate(event)
