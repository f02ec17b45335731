"""The report of a results folder: the board in Markdown, CSV, JSON and HTML, and its figures.

A pure render of the records (``report.board`` reads them; no plugin code, no models), so
``robustbench-nlp report RESULTS`` (alias ``leaderboard``; ``run`` ends with it too) re-renders a
committed board byte for byte. Everything is rendered in memory before anything is written, and
written beside the results folder (never inside it, wherever the command runs from):
``<base>.md``, ``.csv``, ``.json``, ``.html`` and the PNGs in ``<base>-figures/`` (replaced as a
whole), where ``<base>`` is ``board_base``. Each file is written atomically.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.files import atomic_folder, atomic_write_bytes, writable_folder_problem
from robustbench_nlp.report import figures as figure_rules
from robustbench_nlp.report.board import Board, column_title, load_board
from robustbench_nlp.report.exports import render_csv, render_json
from robustbench_nlp.report.html import render_html
from robustbench_nlp.report.markdown import render_markdown

__all__ = ["Board", "board_base", "column_title", "load_board", "render_report", "write_report"]

FIGURES_SUFFIX = "-figures"


def board_base(results: Path, out: Path | None = None) -> Path:
    """The path, without suffix, that the board of ``results`` is written to: ``out`` (inside
    it when it is a folder), else beside the results folder, however ``results`` is spelled
    (``.`` inside the folder included)."""
    results = Path(results)
    if results.name in ("", ".."):  # "." or "..": name the folder itself
        results = results.resolve()
    if out is None:
        return results.parent / results.name
    out = Path(out)
    if out.is_dir():
        return out / results.name
    if not out.name or out.name.startswith("."):
        raise UserError(f"--out {out}: give a file name without suffix, e.g. --out boards/x.")
    return out


@dataclass
class Report:
    """Every file of a report, rendered: board files by path, and the figures' folder."""

    files: list[tuple[Path, bytes]]
    figures_dir: Path
    figures: list[tuple[str, bytes]]


def render_report(board: Board, base: Path) -> Report:
    """All files of the report of ``board`` at ``base``, in memory."""
    planned = figure_rules.plan(board)
    pngs = [(figure, figure_rules.render(figure)) for figure in planned]
    folder = base.parent / f"{base.name}{FIGURES_SUFFIX}"
    links = [(figure.title, quote(f"{folder.name}/{figure.file}")) for figure in planned]
    texts = [
        (".md", render_markdown(board, links)),
        (".csv", render_csv(board)),
        (".json", render_json(board)),
        (".html", render_html(board, pngs)),
    ]
    return Report(
        [(base.parent / (base.name + suffix), text.encode("utf-8")) for suffix, text in texts],
        folder,
        [(figure.file, png) for figure, png in pngs],
    )


def write_report(results: Path, out: Path | None = None) -> list[Path]:
    """Render ``results`` and write its report (default: beside the results folder); returns
    the paths written: ``.md``, ``.csv``, ``.json``, ``.html``, then the figures."""
    board = load_board(Path(results))
    base = board_base(results, out)
    report = render_report(board, base)
    problem = writable_folder_problem(base.parent)
    if problem:
        raise UserError(
            f"{'--out ' if out else ''}{base.parent}: cannot write the board: {problem}."
        )
    for path, _ in report.files:
        if path.is_dir():
            raise UserError(f"{path}: a folder is in the way of the board; move it.")
    folder = report.figures_dir
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder}: a file is in the way of the board's figures; move it.")
    target = folder
    try:
        written = _write_figures(folder, report.figures)
        for target, data in report.files:
            atomic_write_bytes(target, data)
    except OSError as error:
        raise UserError(f"{target}: cannot write the board ({error.strerror or error}).") from None
    return [path for path, _ in report.files] + written


def _write_figures(folder: Path, pngs: list[tuple[str, bytes]]) -> list[Path]:
    """Replace the figures' folder whole (no stale figure of an earlier render stays)."""
    if not pngs:
        if folder.is_dir() and all(p.suffix == ".png" for p in folder.iterdir()):
            shutil.rmtree(folder)  # only figures of an earlier render: none are current
        return []
    with atomic_folder(folder) as staging:
        for name, data in pngs:
            atomic_write_bytes(staging / name, data)
    return [folder / name for name, _ in pngs]


#: ``robustbench-nlp leaderboard`` is ``report``: one code path.
write_leaderboard = write_report
