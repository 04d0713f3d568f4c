"""Plain-text tables for the command line."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def render(rows: Iterable[dict[str, Any]], columns: Sequence[str], *, empty: str = "(none)") -> str:
    """Rows as an aligned table with a header line; long cells are cut at 60 characters."""
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    if not cells:
        return empty
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    lines = ["  ".join(column.upper().ljust(width) for column, width in zip(columns, widths, strict=True))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = ", ".join(map(str, value))
    if isinstance(value, dict):
        value = ", ".join(f"{k}={v}" for k, v in value.items() if v)
    text = str(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."
