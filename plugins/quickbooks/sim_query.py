"""The simulator's subset of Intuit's query language: parse a SELECT, then filter and order records.

    SELECT * | COUNT(*) FROM Entity
      [WHERE prop op value [AND ...]]         op: = < > <= >= IN (...) LIKE ('%' only)
      [ORDERBY | ORDER BY prop [ASC|DESC][, ...]]
      [STARTPOSITION n] [MAXRESULTS n]

Keywords are case-insensitive, the entity name is not. OR, GROUP BY, JOIN and projections are
QueryParserErrors, as in QuickBooks.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, Protocol

from plugins.quickbooks.sim_wire import QboFault, parse_time, query_invalid, query_parse_error

MAX_RESULTS = 1000
DEFAULT_RESULTS = 100

Path = tuple[str, ...]
Value = str | int | float | bool

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<number>-?\d+(?:\.\d+)?)(?![\w.])
  | (?P<name>[A-Za-z_][\w.]*)
  | (?P<op><=|>=|<>|!=|=|<|>)
  | (?P<punct>[(),*])
    """,
    re.VERBOSE | re.ASCII,
)
_LABELS = {"string": "<STRING>", "number": "<INTEGER>", "name": "<ID>", "eof": "<EOF>"}
_COMPARISONS: dict[str, Callable[[int], bool]] = {
    "=": lambda c: c == 0,
    "<": lambda c: c < 0,
    ">": lambda c: c > 0,
    "<=": lambda c: c <= 0,
    ">=": lambda c: c >= 0,
}
_TIME_FIELDS = {("metadata", "createtime"): "created", ("metadata", "lastupdatedtime"): "updated"}


class Row(Protocol):
    """What the query engine reads from a stored record."""

    data: dict[str, Any]
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``prop op value`` test of a WHERE clause; ``IN`` carries several values."""

    path: Path
    op: str
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed SELECT statement."""

    entity: str
    count: bool
    where: tuple[Condition, ...]
    order: tuple[tuple[Path, bool], ...]
    start: int
    max_results: int

    def mentions_active(self) -> bool:
        """Whether the WHERE clause tests ``Active`` (otherwise QuickBooks hides inactive list records)."""
        return any(condition.path[0].lower() == "active" for condition in self.where)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    column: int

    def keyword(self) -> str:
        return self.text.upper() if self.kind == "name" else ""


def parse_query(text: str) -> Query:
    """Parse one statement, raising the QueryParserError fault QuickBooks would."""
    return _Parser(_tokenize(text)).statement()


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise query_parse_error(
                f'Invalid content. Lexical error at line 1, column {position + 1}. Encountered: "{text[position]}"'
            )
        kind = match.lastgroup or "space"
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position + 1))
        position = match.end()
    tokens.append(_Token("eof", "", len(text) + 1))
    return tokens


class _Parser:
    """A recursive-descent parser over the token list."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def fail(self, token: _Token) -> QboFault:
        label = _LABELS.get(token.kind, f'"{token.text}"')
        return query_parse_error(f'Encountered " {label} "{token.text} "" at line 1, column {token.column}.')

    def expect_keyword(self, *words: str) -> str:
        token = self.take()
        if token.keyword() not in words:
            raise self.fail(token)
        return token.keyword()

    def expect_punct(self, text: str) -> None:
        token = self.take()
        if token.text != text or token.kind != "punct":
            raise self.fail(token)

    def statement(self) -> Query:
        self.expect_keyword("SELECT")
        count = self.selection()
        self.expect_keyword("FROM")
        entity = self.take()
        if entity.kind != "name" or "." in entity.text:
            raise self.fail(entity)
        where: list[Condition] = []
        order: list[tuple[Path, bool]] = []
        paging: dict[str, int] = {}
        if self.peek().keyword() == "WHERE":
            self.take()
            where.append(self.condition())
            while self.peek().keyword() == "AND":
                self.take()
                where.append(self.condition())
        if self.peek().keyword() in ("ORDER", "ORDERBY"):
            if self.take().keyword() == "ORDER":
                self.expect_keyword("BY")
            order.append(self.ordering())
            while self.peek().text == ",":
                self.take()
                order.append(self.ordering())
        while self.peek().keyword() in ("STARTPOSITION", "MAXRESULTS") and self.peek().keyword() not in paging:
            word = self.take().keyword()
            number = self.take()
            if number.kind != "number" or not number.text.lstrip("-").isdigit():
                raise self.fail(number)
            paging[word] = int(number.text)
        if self.peek().kind != "eof":
            raise self.fail(self.peek())
        return Query(
            entity=entity.text,
            count=count,
            where=tuple(where),
            order=tuple(order),
            start=max(1, paging.get("STARTPOSITION", 1)),
            max_results=max(1, min(MAX_RESULTS, paging.get("MAXRESULTS", DEFAULT_RESULTS))),
        )

    def selection(self) -> bool:
        """``*`` (with extra columns, as python-quickbooks sends for Item) or ``COUNT(*)``."""
        token = self.take()
        if token.text == "*":
            while self.peek().text == ",":
                self.take()
                if self.take().kind != "name":
                    raise self.fail(self.tokens[self.at - 1])
            return False
        if token.keyword() == "COUNT":
            self.expect_punct("(")
            self.expect_punct("*")
            self.expect_punct(")")
            return True
        raise self.fail(token)

    def condition(self) -> Condition:
        name = self.take()
        if name.kind != "name":
            raise self.fail(name)
        path = tuple(name.text.split("."))
        token = self.take()
        if token.kind == "op" and token.text in _COMPARISONS:
            return Condition(path, token.text, (self.literal(),))
        if token.keyword() == "IN":
            self.expect_punct("(")
            values = [self.literal()]
            while self.peek().text == ",":
                self.take()
                values.append(self.literal())
            self.expect_punct(")")
            return Condition(path, "in", tuple(values))
        if token.keyword() == "LIKE":
            pattern = self.take()
            if pattern.kind != "string":
                raise self.fail(pattern)
            return Condition(path, "like", (_unquote(pattern.text),))
        raise self.fail(token)

    def literal(self) -> Value:
        token = self.take()
        if token.kind == "string":
            return _unquote(token.text)
        if token.kind == "number":
            return float(token.text) if "." in token.text else int(token.text)
        if token.keyword() in ("TRUE", "FALSE"):
            return token.keyword() == "TRUE"
        raise self.fail(token)

    def ordering(self) -> tuple[Path, bool]:
        name = self.take()
        if name.kind != "name":
            raise self.fail(name)
        descending = False
        if self.peek().keyword() in ("ASC", "DESC"):
            descending = self.take().keyword() == "DESC"
        return tuple(name.text.split(".")), descending


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


# --- Evaluation -------------------------------------------------------------------------------------


def resolve(data: dict[str, Any], path: Path) -> Any:
    """The value at a dotted property path; property names match regardless of case."""
    value: Any = data
    for step in path:
        if not isinstance(value, dict):
            return None
        if step in value:
            value = value[step]
            continue
        folded = step.lower()
        value = next((item for key, item in value.items() if key.lower() == folded), None)
    return _plain(value)


def _plain(value: Any) -> Any:
    """A reference, e-mail, phone or web address compares by its one meaningful member."""
    if isinstance(value, dict):
        for key in ("value", "Address", "FreeFormNumber", "URI"):
            if key in value:
                return value[key]
        return None
    return value


def _compare(value: Any, literal: Value) -> int | None:
    """-1, 0 or 1 comparing a record's value with a literal, or None when they cannot be compared."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool) or isinstance(literal, bool):
        flag = literal if isinstance(literal, bool) else str(literal).lower() == "true"
        current = value if isinstance(value, bool) else str(value).lower() == "true"
        return (current > flag) - (current < flag)
    if isinstance(value, int | float) or isinstance(literal, int | float):
        try:
            left, right = float(value), float(literal)
        except ValueError:
            return None
        return (left > right) - (left < right)
    text, other = str(value), str(literal)
    if text.isascii() and text.isdigit() and other.isascii() and other.isdigit():
        return (int(text) > int(other)) - (int(text) < int(other))
    text, other = text.casefold(), other.casefold()
    return (text > other) - (text < other)


def named_ids(conditions: tuple[Condition, ...]) -> list[str] | None:
    """The Ids the first ``Id =`` or ``Id IN (...)`` condition names, as QuickBooks writes them; None without one.

    QuickBooks Ids are digit strings without leading zeros, and ``Id`` compares as a number (``'007'`` finds
    ``7``), so each literal is written the way the record's Id is: a lookup by key then costs one step per Id.
    """
    for condition in conditions:
        if condition.op in ("=", "in") and tuple(step.lower() for step in condition.path) == ("id",):
            return list(dict.fromkeys(_as_id(literal) for literal in condition.values))
    return None


def _as_id(literal: Value) -> str:
    if isinstance(literal, bool):
        return str(literal)
    if isinstance(literal, int | float):
        return str(int(literal)) if float(literal).is_integer() else str(literal)
    return str(int(literal)) if literal.isascii() and literal.isdigit() else literal


def compile_where(conditions: tuple[Condition, ...], tz: tzinfo) -> Callable[[Row], bool]:
    """One predicate testing every condition (they are ANDed)."""
    tests = [_compile(condition, tz) for condition in conditions]
    return lambda row: all(test(row) for test in tests)


def _compile(condition: Condition, tz: tzinfo) -> Callable[[Row], bool]:
    time_field = _TIME_FIELDS.get(tuple(step.lower() for step in condition.path))
    if time_field is not None:
        return _compile_time(condition, time_field, tz)
    path = condition.path
    if condition.op == "like":
        pattern = re.compile(
            ".*".join(re.escape(part) for part in str(condition.values[0]).split("%")), re.IGNORECASE | re.DOTALL
        )
        return lambda row: (value := resolve(row.data, path)) is not None and bool(pattern.fullmatch(str(value)))
    if condition.op == "in":
        values = condition.values
        return lambda row: any(_compare(resolve(row.data, path), literal) == 0 for literal in values)
    accept = _COMPARISONS[condition.op]
    literal = condition.values[0]

    def test(row: Row) -> bool:
        compared = _compare(resolve(row.data, path), literal)
        return compared is not None and accept(compared)

    return test


def _compile_time(condition: Condition, field: str, tz: tzinfo) -> Callable[[Row], bool]:
    """MetaData times compare as instants, whatever offset the literal was written in."""
    instants: list[float] = []
    for literal in condition.values:
        instant = parse_time(literal, tz) if isinstance(literal, str) else None
        if instant is None:
            raise query_invalid(f"Invalid date/time value {literal!r} for property {'.'.join(condition.path)}")
        instants.append(instant)
    read = operator.attrgetter(field)
    if condition.op == "in":
        return lambda row: read(row) in instants
    if condition.op == "like":
        raise query_invalid(f"LIKE is not supported for property {'.'.join(condition.path)}")
    accept = _COMPARISONS[condition.op]
    moment = instants[0]
    return lambda row: accept((read(row) > moment) - (read(row) < moment))


def order_rows(rows: list[Any], order: tuple[tuple[Path, bool], ...]) -> list[Any]:
    """Rows sorted by each ORDER BY key in turn; absent values sort first, ties keep Id order."""
    ordered = list(rows)
    for path, descending in reversed(order):
        time_field = _TIME_FIELDS.get(tuple(step.lower() for step in path))
        key: Callable[[Row], Any] = (
            operator.attrgetter(time_field)
            if time_field
            else (lambda row, path=path: _sort_value(resolve(row.data, path)))
        )
        ordered.sort(key=key, reverse=descending)
    return ordered


def _sort_value(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, float(value))
    text = str(value)
    if text.isascii() and text.isdigit():
        # Ids are digit strings: they sort as numbers, as `_compare` compares them ("9" before "10").
        return (1, int(text))
    return (2, text.casefold())
