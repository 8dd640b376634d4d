"""Aggregation expressions, as Open Loyalty writes an aggregation's ``rule``: ``event.body.minutes``,
``event.body.price * event.body.quantity``, ``(event.body.distance + 0.5) / 1000``.

The language is what Open Loyalty's examples use: attribute paths of the event (``event.body.<field>``,
dotted, a numeric segment indexing a list) or of the transaction (``transaction.grossValue``;
``transaction.items.quantity`` is the sum over its items), numbers, ``+ - * /``, unary minus and parentheses. Anything
else is refused when the achievement is saved (``parse_expression`` raises ``ExpressionError``), never
stored to count nothing.

Values are exact (``numbers.Number``: int or Decimal), so a sum does not depend on the order events
arrive in. Multiplication is exact; a quotient is rounded half-even to ``QUOTIENT_PLACES`` decimal places,
so quotients add up exactly too. An attribute that is missing or not a number, or a division by zero,
makes the value None: the event is not counted (``aggregation_value_invalid``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Final

from .conditions import Facts, UnknownAttribute, attribute_path, number_at
from .errors import LoyaltyError
from .numbers import Number, normalise

QUOTIENT_PLACES: Final = 10
_QUANTUM: Final = Decimal(1).scaleb(-QUOTIENT_PLACES)
_CONTEXT: Final = Context(prec=80)  # wide enough that products of safe numbers stay exact
MAX_LENGTH: Final = 255
_TOKEN: Final = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|((?:event|transaction)(?:\.[A-Za-z0-9_]+)+)|([-+*/()]))")


class ExpressionError(LoyaltyError, ValueError):
    """The text is not an expression of this language."""


# A program in postfix order: a number, an attribute path, or an operator ("+", "-", "*", "/", "neg").
Step = Number | tuple[str, ...] | str


class Expression:
    """A parsed expression: ``value(facts)`` is its exact value for an event, or None."""

    __slots__ = ("path", "program", "source")

    def __init__(self, source: str, program: tuple[Step, ...]) -> None:
        self.source = source
        self.program = program
        # A bare attribute (the common case) is looked up directly.
        only = program[0] if len(program) == 1 else None
        self.path: tuple[str, ...] = only if isinstance(only, tuple) else ()

    def value(self, facts: Facts) -> Number | None:
        stack: list[Decimal] = []
        for step in self.program:
            if isinstance(step, tuple):
                number = number_at(facts, step)
                if number is None:
                    return None
                stack.append(Decimal(number))
            elif isinstance(step, str):
                if step == "neg":
                    stack.append(-stack.pop())
                    continue
                right, left = stack.pop(), stack.pop()
                if step == "+":
                    stack.append(_CONTEXT.add(left, right))
                elif step == "-":
                    stack.append(_CONTEXT.subtract(left, right))
                elif step == "*":
                    stack.append(_CONTEXT.multiply(left, right))
                elif right == 0:
                    return None
                else:
                    stack.append(_CONTEXT.divide(left, right).quantize(_QUANTUM, rounding=ROUND_HALF_EVEN))
            else:
                stack.append(Decimal(step))
        result = stack[0]
        return normalise(result) if result.is_finite() else None


def _tokens(text: str, trigger: str) -> list[str | tuple[str, ...] | Number]:
    tokens: list[str | tuple[str, ...] | Number] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            raise ExpressionError(f"unexpected {text[position:].strip()[:20]!r}")
        number, attribute, operator = match.groups()
        if number is not None:
            tokens.append(normalise(Decimal(number)))
        elif attribute is not None:
            hint = "transaction.<field>" if trigger == "transaction" else "event.body.<field>"
            try:
                path = attribute_path(attribute, trigger)
            except UnknownAttribute:
                raise ExpressionError(f"{attribute} is not an attribute: use {hint}") from None
            if path[:1] != ("body",):
                raise ExpressionError(f"{attribute} is not a number: use {hint}")
            tokens.append(path)
        else:
            tokens.append(operator)
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent: expr = term (("+"|"-") term)*; term = factor (("*"|"/") factor)*;
    factor = number | attribute | "-" factor | "(" expr ")"."""

    def __init__(self, tokens: list[str | tuple[str, ...] | Number]) -> None:
        self.tokens = tokens
        self.at = 0
        self.program: list[Step] = []

    def peek(self) -> str | tuple[str, ...] | Number | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _binary(self, operators: tuple[str, str], operand: Callable[[], None]) -> None:
        """operand ((one of operators) operand)*, each operator after its operands (postfix)."""
        operand()
        while self.peek() in operators:
            operator = self.tokens[self.at]
            self.at += 1
            operand()
            self.program.append(operator)

    def expr(self) -> None:
        self._binary(("+", "-"), self.term)

    def term(self) -> None:
        self._binary(("*", "/"), self.factor)

    def factor(self) -> None:
        token = self.peek()
        self.at += 1
        if token == "-":
            self.factor()
            self.program.append("neg")
        elif token == "(":
            self.expr()
            if self.peek() != ")":
                raise ExpressionError("a parenthesis is not closed")
            self.at += 1
        elif token is None or token in ("+", "*", "/", ")"):
            raise ExpressionError("an operand is missing" if token is None else f"unexpected {token!r}")
        else:
            self.program.append(token)


def parse_expression(text: str, trigger: str = "custom_event") -> Expression:
    """``text`` as an Expression over a ``trigger``'s attributes; ExpressionError saying what is wrong."""
    if not text.strip():
        raise ExpressionError("is empty")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"is longer than {MAX_LENGTH} characters")
    parser = _Parser(_tokens(text, trigger))
    parser.expr()
    if parser.peek() is not None:
        raise ExpressionError(f"unexpected {parser.peek()!r}")
    return Expression(text, tuple(parser.program))
