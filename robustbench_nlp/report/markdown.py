"""The Markdown board: the tables of ``report.tables`` as GitHub tables, in reading order.

Title and description, the ranked main table and its legend, every detail table, the query
budget tables, links to the figures (``## Figures``, relative to the board's folder), the
settings, notes and what is incomplete.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tabulate import tabulate

from robustbench_nlp.report import tables
from robustbench_nlp.report.board import Board


def _table(table: tables.Table) -> str:
    """A GitHub table of pre-formatted strings (no number re-parsing), numbers right-aligned."""
    rows: list[list[Any]] = [
        [str(c) if isinstance(c, tables.Cell) else c for c in row] for row in table.rows
    ]
    return tabulate(
        rows,
        headers=table.headers,
        tablefmt="github",
        disable_numparse=True,
        colalign=table.align,
    )


def _items(lines: list[str]) -> list[str]:
    return [f"- {line}" for line in lines]


def render_markdown(board: Board, figures: Sequence[tuple[str, str]] = ()) -> str:
    """The board as Markdown; ``figures`` are (title, relative link) pairs."""
    m = board.manifest
    lines = [f"# Leaderboard: {m['suite']}", ""]
    if m.get("description"):
        lines += [m["description"].strip(), ""]
    lines += [tables.intro(board), "", _table(tables.main_table(board)), ""]
    legend = tables.legend(board)
    if legend:
        lines += [*_items(legend), ""]
    for table in tables.detail_tables(board) + tables.budget_tables(board):
        lines += [f"## {table.title}", "", _table(table), ""]
        for note in table.notes:
            lines += [note, ""]
    if figures:
        lines += ["## Figures", ""]
        for title, link in figures:
            lines += [f"![{title}]({link})", ""]
    lines += ["## Settings", "", *_items(tables.settings(board))]
    notes = tables.notes(board)
    if notes:
        lines += ["", "## Notes", "", *_items(notes)]
    incomplete = tables.incomplete(board)
    if incomplete:
        lines += ["", "## Incomplete", "", *_items(incomplete)]
    return "\n".join(lines) + "\n"
