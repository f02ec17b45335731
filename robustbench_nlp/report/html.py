"""The board as one self-contained HTML page: opens from disk, loads nothing from anywhere.

The page holds what the Markdown board holds, cell for cell (both render ``report.tables``),
plus the figures inline as PNG data URIs (the bytes of the PNG files) and the date of the newest
record. CSS and a small script that sorts any table by a clicked header are inline; a Content
Security Policy forbids every fetch but data: images, so a page that renders complete is
self-contained. The layout lives in ``templates/board.html.j2`` (Jinja2, autoescaped).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from robustbench_nlp.report import tables
from robustbench_nlp.report.board import Board
from robustbench_nlp.report.figures import Figure

_CODE = re.compile(r"`([^`]+)`")
_MARKS = {
    "▲": ("better", "significantly better than the reference row"),
    "▼": ("worse", "significantly worse than the reference row"),
}


def inline(text: str) -> Markup:
    """Escaped text with Markdown's `code` spans as <code> (legend, settings, notes)."""
    return Markup(_CODE.sub(r"<code>\1</code>", str(escape(text))))


def cell(value: object) -> Markup:
    """A table cell; a significance mark gets its own element (colour, tooltip)."""
    if isinstance(value, tables.Cell) and value.mark in _MARKS:
        kind, meaning = _MARKS[value.mark]
        return Markup('{} <span class="mark {}" title="{}">{}</span>').format(
            value.text, kind, meaning, value.mark
        )
    return escape(str(value))


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("robustbench_nlp.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["inline"] = inline
    env.filters["cell"] = cell
    return env


def _when(created_at: str | None) -> tuple[str, str] | None:
    """(ISO timestamp, readable UTC minute) of a record's ``created_at``."""
    if created_at is None:
        return None
    moment = datetime.fromisoformat(created_at)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return created_at, moment.strftime("%Y-%m-%d %H:%M UTC")


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(board: Board, figures: Sequence[tuple[Figure, bytes]] = ()) -> str:
    """The page of ``board`` with ``figures`` (each figure and its PNG bytes) inline."""
    shown = [
        {"figure": figure, "src": _data_uri(png), "id": f"figure-{figure.name}"}
        for figure, png in figures
    ]

    def beside(attack: str, table: str) -> list[dict]:
        return [f for f in shown if (f["figure"].attack, f["figure"].table) == (attack, table)]

    main = [f for f in shown if f["figure"].table == "main"]
    sections = [
        {"table": table, "figures": beside(table.attack, table.name), "id": f"table-{i}"}
        for i, table in enumerate(tables.detail_tables(board) + tables.budget_tables(board))
    ]
    m = board.manifest
    template = _environment().get_template("board.html.j2")
    return template.render(
        suite=m["suite"],
        description=(m.get("description") or "").strip(),
        intro=tables.intro(board),
        main=tables.main_table(board),
        legend=tables.legend(board),
        main_figures=main,
        sections=sections,
        settings=tables.settings(board),
        notes=tables.notes(board),
        incomplete=tables.incomplete(board),
        newest=_when(board.newest_record),
        cells={
            "listed": len(m["cells"]),
            "ok": len(board.ok),
            "failed": len(board.failed),
            "missing": len(board.missing),
        },
        has_verdict=board.verdict is not None,
    )
