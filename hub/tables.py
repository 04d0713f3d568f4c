"""Plain-text tables for the command line."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

Details = Callable[[dict[str, Any]], list[str]]
"""The lines to print under a row (a run item's changes, say), already indented."""


def render(rows: Iterable[dict[str, Any]], columns: Sequence[str], *, empty: str = "(none)",
           details: Details | None = None) -> str:
    """Rows as an aligned table with a header line, every cell in full; ``details`` adds lines under each row."""
    rows = list(rows)
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    if not cells:
        return empty
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    lines = [_line([column.upper() for column in columns], widths)]
    for row, line in zip(rows, cells, strict=True):
        lines.append(_line(line, widths))
        lines += details(row) if details else []
    return "\n".join(lines)


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()


def _cell(value: Any) -> str:
    # Never cut: the text an operator needs most (a reason, a run's counts, a contract's path) is often the longest.
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = ", ".join(map(str, value))
    if isinstance(value, dict):
        value = ", ".join(f"{k}={v}" for k, v in value.items() if v)
    return str(value).replace("\n", " ")
