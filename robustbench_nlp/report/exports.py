"""The board for tools: CSV (one row per recipe) and JSON (settings, columns, rows, verdict).

The same numbers as the Markdown board, unrounded (fractions, 6 decimals in CSV), with each
row's CIs and significance tests when the board has a verdict.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any

from robustbench_nlp.report.board import Board
from robustbench_nlp.report.verdict import WORST_CASE, Verdict, column_key


def render_csv(board: Board) -> str:
    stats = board.stats()
    columns = board.all_columns()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["rank", "recipe"]
    for cid, _ in columns:
        header += [
            f"{cid.attack}:{cid.key}:mean",
            f"{cid.attack}:{cid.key}:std",
            f"{cid.attack}:{cid.key}:n",
        ]
    verdict = board.verdict
    if verdict is not None:
        header += ["worst_case", "worst_case:ci_low", "worst_case:ci_high"]
        header += [f"{cid.attack}:{cid.key}:{end}" for cid, _ in columns for end in CI_ENDS]
    writer.writerow(header)
    for rank, (recipe, score, _) in enumerate(board.ranked(), start=1):
        row = stats.get(recipe, {})
        line: list[Any] = [rank, recipe]
        for cid, _ in columns:
            stat = row.get(cid)
            line += ["", "", 0] if stat is None else [f"{stat.mean:.6f}", f"{stat.std:.6f}", stat.n]
        if verdict is not None:
            line += [
                "" if score is None else f"{score:.6f}",
                *_ci_cells(verdict, recipe, WORST_CASE),
            ]
            for cid, _ in columns:
                line += _ci_cells(verdict, recipe, column_key(cid.attack, cid.key))
        writer.writerow(line)
    return out.getvalue()


CI_ENDS = ("ci_low", "ci_high")


def _ci_cells(verdict: Verdict, recipe: str, key: str) -> list[str]:
    interval = verdict.intervals.get((recipe, key))
    return ["", ""] if interval is None else [f"{interval.low:.6f}", f"{interval.high:.6f}"]


def _verdict_json(verdict: Verdict, recipe: str) -> dict[str, Any]:
    return {
        "worst_case": verdict.worst_case.get(recipe),
        "intervals": {
            key: {"low": ci.low, "high": ci.high, "level": ci.level, "n": ci.n, "seeds": ci.seeds}
            for (row, key), ci in sorted(verdict.intervals.items())
            if row == recipe
        },
        "significance": {
            key: {
                "b": t.b,
                "c": t.c,
                "n": t.n,
                "p": t.p_value,
                "p_holm": t.p_adjusted,
                "direction": t.direction,
            }
            for (row, key), t in sorted(verdict.tests.items())
            if row == recipe
        },
        "unreliable": verdict.flags.get(recipe, []),
    }


def render_json(board: Board) -> str:
    stats = board.stats()
    columns = board.all_columns()
    rows = []
    for rank, (recipe, score, _) in enumerate(board.ranked(), start=1):
        row = stats.get(recipe, {})
        rows.append(
            {
                "rank": rank,
                "recipe": recipe,
                **({} if board.verdict else {"mean_robust_accuracy": score}),
                "metrics": {
                    f"{cid.attack}:{cid.key}": vars(row[cid]) for cid, _ in columns if cid in row
                },
                **(_verdict_json(board.verdict, recipe) if board.verdict else {}),
            }
        )
    payload = {
        "suite": board.manifest["suite"],
        "settings": {k: v for k, v in board.manifest.items() if k not in ("cells", "owner")},
        "columns": [{"attack": cid.attack, **asdict(col)} for cid, col in columns],
        "rows": rows,
        "missing_cells": board.missing,
        "failed_cells": [r.cell_id for r in board.failed],
    }
    return json.dumps(payload, indent=2) + "\n"
