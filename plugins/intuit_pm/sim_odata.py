"""The Karbon simulator's error answers and its OData `$filter` subset."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plugins.intuit_pm.simulator import Kind


class KarbonError(Exception):
    """An error answer, with Karbon's status and body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        super().__init__(f"{status} {json.dumps(body)}")


def karbon_error(status: int, code: str, message: str) -> KarbonError:
    """Karbon's error answer: ``{"error": {"code", "message"}}`` with the HTTP status."""
    return KarbonError(status, {"error": {"code": code, "message": message}})


class FilterParser:
    """Karbon's `$filter` subset: `Field eq 'text'`, `contains(Field, 'text')`, `and`, parentheses."""

    _TOKEN = re.compile(r"\s*(?:(?P<text>'(?:[^']|'')*')|(?P<punct>[(),])|(?P<word>[A-Za-z_][\w/]*))")

    def __init__(self, expression: str, kind: Kind) -> None:
        self.kind = kind
        self.tokens = self._tokenize(expression)
        self.position = 0

    def _tokenize(self, expression: str) -> list[tuple[str, str]]:
        tokens, position = [], 0
        while position < len(expression.rstrip()):
            match = self._TOKEN.match(expression, position)
            if match is None or match.end() == position:
                raise karbon_error(400, "4002", f"Syntax error at position {position} in '{expression}'.")
            assert match.lastgroup is not None
            tokens.append((match.lastgroup, match.group(match.lastgroup)))
            position = match.end()
        return tokens

    def parse(self) -> Callable[[dict[str, Any]], bool]:
        """Return a predicate over summary rows, or raise a 400 naming what Karbon refuses."""
        predicate = self._conjunction()
        if self.position != len(self.tokens):
            self._refuse_operator(self.tokens[self.position][1])
        return predicate

    def _next(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise karbon_error(400, "4002", "Syntax error: the $filter expression ends too early.")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def _expect(self, kind: str, value: str | None = None) -> str:
        token_kind, token = self._next()
        if token_kind != kind or (value is not None and token != value):
            raise karbon_error(400, "4002", f"Syntax error: expected {value or kind} but found '{token}'.")
        return token

    def _refuse_operator(self, operator: str) -> None:
        raise karbon_error(
            400,
            "4002",
            f"Logical operator '{operator.title()}' is not allowed. To allow it, set the "
            "'AllowedLogicalOperators' property on EnableQueryAttribute or QueryValidationSettings.",
        )

    def _conjunction(self) -> Callable[[dict[str, Any]], bool]:
        terms = [self._term()]
        while self.position < len(self.tokens) and self.tokens[self.position] == ("word", "and"):
            self.position += 1
            terms.append(self._term())
        return lambda row: all(term(row) for term in terms)

    def _field(self) -> str:
        name = self._expect("word")
        if name not in self.kind.filterable:
            raise karbon_error(
                400,
                "4002",
                f"Could not find a property named '{name}' on type 'KarbonService.{self.kind.name}SummaryDTO'.",
            )
        return name

    def _text(self) -> str:
        return self._expect("text")[1:-1].replace("''", "'").casefold()

    def _term(self) -> Callable[[dict[str, Any]], bool]:
        token_kind, token = self.tokens[self.position] if self.position < len(self.tokens) else ("", "")
        if (token_kind, token) == ("punct", "("):
            self.position += 1
            inner = self._conjunction()
            self._expect("punct", ")")
            return inner
        if (token_kind, token) == ("word", "contains"):
            self.position += 1
            self._expect("punct", "(")
            name = self._field()
            self._expect("punct", ",")
            part = self._text()
            self._expect("punct", ")")
            return lambda row: part in str(row.get(name) or "").casefold()
        name = self._field()
        operator = self._expect("word")
        if operator != "eq":
            self._refuse_operator(operator)
        wanted = self._text()
        # [G] eq ignores case, as SQL Server's default collation does.
        return lambda row: str(row.get(name) or "").casefold() == wanted
