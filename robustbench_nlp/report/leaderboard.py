"""The leaderboard: a pure render of a results folder into Markdown, CSV and JSON.

It reads ``suite.json`` and the records of the cells it lists and nothing else (no plugin code,
no models), so ``robustbench-nlp leaderboard RESULTS`` re-renders a committed board byte for byte.
Both are checked as they are read (a malformed manifest, a record of another suite or task is
refused in one line), all three files are rendered before any is written, and they are written
beside the results folder (never inside it, wherever the command runs from).
Rows are recipes (each sweep setting its own row); main columns are clean accuracy and the robust
accuracy of every attack, as mean ± std over seeds; rows are ranked by the mean of the robust
columns (RobustBench's "robust accuracy" ranking), ties broken by clean accuracy. An attack's
``detail`` columns form its own table; ``detail:<name>`` columns a further table titled <name>
(HANS per subcase). A table wider than ``WIDE_TABLE`` columns is transposed (one row per column).
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tabulate import tabulate

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.files import atomic_write_text, writable_folder_problem
from robustbench_nlp.core.metrics import Metric
from robustbench_nlp.report.verdict import (
    BUDGETS,
    WORST_CASE,
    Verdict,
    build_verdict,
    column_key,
    load_outcomes,
)
from robustbench_nlp.run.store import Record, ResultsStore

#: Detail tables with more columns than this are shown transposed: recipes become the columns.
WIDE_TABLE = 8


@dataclass(frozen=True)
class ColumnId:
    attack: str
    key: str


@dataclass(frozen=True)
class Column:
    """A metric as the board shows it: its record's declaration under a composed title."""

    key: str
    label: str
    table: str
    percent: bool
    higher_is_better: bool
    role: str


def column_title(record: Record, metric: Metric) -> str:
    """The title of a metric's column: the attack's label, followed in the main table by the
    metric's own label ("PGD ε=0.1"); the metric's label alone in a detail table, or when the
    suite left the attack under its plugin name ("STS12" for ``sts``)."""
    if metric.title is not None:
        return metric.title
    label, own = record.attack.label, metric.label
    if metric.table != "main":
        return own or label
    if not own:
        return label
    return own if label == record.attack.name else f"{label} {own}"


def shown(record: Record, metric: Metric) -> Column:
    return Column(
        metric.key,
        column_title(record, metric),
        metric.table,
        metric.percent,
        metric.higher_is_better,
        metric.role,
    )


@dataclass
class Stat:
    mean: float
    std: float
    n: int


def _stat(values: list[float]) -> Stat:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return Stat(statistics.fmean(values), std, len(values))


def _mean_robust_note(board: Board, averaged: list[ColumnId]) -> str:
    """Say which main columns the "Mean robust" score leaves out, so a reader can recompute it."""
    left_out = [
        col.label
        for cid, col in board.columns("main")
        if col.role != "clean" and cid not in averaged
    ]
    note = "mean of the columns after clean"
    verb = "measures" if len(left_out) == 1 else "measure"
    return f"{note}, except {', '.join(left_out)}, which {verb} no attack" if left_out else note


def _fmt(stat: Stat | None, column: Column) -> str:
    if stat is None:
        return "—"
    scale, digits = (100.0, 1) if column.percent else (1.0, 2)
    if not column.percent and stat.n == 1 and float(stat.mean).is_integer():
        digits = 0  # a count (skipped, failed) from one seed
    text = f"{stat.mean * scale:.{digits}f}"
    return f"{text} ± {stat.std * scale:.{digits}f}" if stat.n > 1 else text


@dataclass
class Board:
    manifest: dict[str, Any]
    records: list[Record]
    missing: list[str]
    #: Statistics from per-example outcomes (None for records written before schema 3).
    verdict: Verdict | None = None

    def columns(self, table: str) -> list[tuple[ColumnId, Column]]:
        seen: dict[ColumnId, Column] = {}
        order = {a["label"]: i for i, a in enumerate(self.manifest["attacks"])}
        for record in sorted(self.ok, key=lambda r: order.get(r.attack.label, 99)):
            for metric in record.columns:
                if metric.table == table:
                    seen.setdefault(
                        ColumnId(record.attack.label, metric.key), shown(record, metric)
                    )
        return list(seen.items())

    def clean_column(self) -> ColumnId | None:
        """The main column declared as the board's clean accuracy (the first, if several)."""
        return next((cid for cid, col in self.columns("main") if col.role == "clean"), None)

    def detail_tables(self) -> list[str]:
        """``detail`` first, then every ``detail:<name>`` table in order of appearance."""
        tables = dict.fromkeys(c.table for r in self.ok for c in r.columns)
        named = [t for t in tables if t == "detail" or t.startswith("detail:")]
        return sorted(named, key=lambda t: t != "detail")

    def all_columns(self) -> list[tuple[ColumnId, Column]]:
        """Main columns, then every detail table's (for CSV and JSON)."""
        return self.columns("main") + [c for t in self.detail_tables() for c in self.columns(t)]

    @property
    def ok(self) -> list[Record]:
        return [r for r in self.records if r.status == "ok"]

    @property
    def failed(self) -> list[Record]:
        return [r for r in self.records if r.status == "failed"]

    def stats(self) -> dict[str, dict[ColumnId, Stat]]:
        values: dict[str, dict[ColumnId, list[float]]] = {}
        for record in self.ok:
            row = values.setdefault(record.recipe.label, {})
            for column in record.columns:
                if column.key in record.metrics:
                    cid = ColumnId(record.attack.label, column.key)
                    row.setdefault(cid, []).append(record.metrics[column.key])
        return {recipe: {c: _stat(v) for c, v in row.items()} for recipe, row in values.items()}

    def rank_columns(self) -> tuple[list[ColumnId], str | None]:
        """The columns whose mean ranks the rows, and the name of an extra score column (None
        when a column of role ``score`` is itself the score, e.g. the STS average)."""
        main = self.columns("main")
        flagged = [cid for cid, col in main if col.role == "score"]
        if flagged:
            return flagged, None
        robust = [cid for cid, col in main if col.role == "robust"]
        return robust, ("Mean robust" if robust else None)

    def ranked(self) -> list[tuple[str, float | None, float | None]]:
        """(recipe label, ranking score, clean) in rank order."""
        stats = self.stats()
        robust, _ = self.rank_columns()
        clean_id = self.clean_column()
        worst = self.verdict.worst_case if self.verdict else {}
        rows = []
        for recipe in (r["label"] for r in self.manifest["recipes"]):
            row = stats.get(recipe, {})
            clean = row.get(clean_id) if clean_id else None
            scores = [row[c].mean for c in robust if c in row]
            score = statistics.fmean(scores) if scores and len(scores) == len(robust) else None
            if worst:
                score = worst.get(recipe)
            rows.append((recipe, score, clean.mean if clean else None))
        return sorted(rows, key=lambda r: (r[1] is None, -(r[1] or 0), -(r[2] or 0)))


def load_board(results: Path) -> Board:
    store = ResultsStore(results)
    manifest = store.manifest()
    records, missing = [], []
    for cell_id in manifest["cells"]:
        record = store.load_checked(cell_id, manifest)
        if record is None:
            missing.append(cell_id)
        else:
            records.append(record)
    outcomes = {}
    for record in records:
        if record.status == "ok":
            loaded = load_outcomes(store.records_dir, record)
            if loaded is not None:
                outcomes[record.cell_id] = loaded
    return Board(manifest, records, missing, build_verdict(manifest, records, outcomes))


def _table(rows: list[list[Any]], headers: list[str], align: tuple[str, ...]) -> str:
    """A GitHub table of pre-formatted strings (no number re-parsing), numbers right-aligned."""
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True, colalign=align)


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in params.items()) or "(defaults)"


def _mark(board: Board, recipe: str, key: str) -> str:
    verdict = board.verdict
    test = verdict.tests.get((recipe, key)) if verdict else None
    if test is None or test.direction == "no detectable difference":
        return ""
    return " ▲" if test.direction == "better" else " ▼"


def _with_ci(board: Board, text: str, recipe: str, key: str) -> str:
    interval = board.verdict.intervals.get((recipe, key)) if board.verdict else None
    if interval is None or text == "—":
        return text
    return (
        f"{text} [{interval.low * 100:.1f}, {interval.high * 100:.1f}]{_mark(board, recipe, key)}"
    )


def _verdict_table(board: Board) -> list[str]:
    """The main table of a board with per-example outcomes: ranked by worst case, every
    accuracy with its CI and its significance against the reference row."""
    m, verdict = board.manifest, board.verdict
    assert verdict is not None
    stats = board.stats()
    main = board.columns("main")
    clean_id = board.clean_column()
    first = [(cid, col) for cid, col in main if cid == clean_id]
    rest = [(cid, col) for cid, col in main if cid != clean_id]
    members = ", ".join(f"{e['label']} ({e['field']})" for e in verdict.members) or "none"
    lines = [
        f"Task `{m['task']['name']}`, backbone `{m['backbone']}`, seeds {m['seeds']}. Scores in "
        f"% (x100): mean ± std over seeds [95% CI]. Ranked by worst-case robust accuracy: an "
        f"example counts only if it is classified right clean and under every attack of the "
        f"ensemble ({members}), on the {verdict.worst_case_n} examples they all measured "
        "(per seed).",
        "",
    ]
    headers = ["Rank", "Recipe", "Seeds", *(c.label for _, c in first), "Worst case"]
    headers += [c.label for _, c in rest]
    table = []
    for rank, (recipe, score, _) in enumerate(board.ranked(), start=1):
        row = stats.get(recipe, {})
        seeds = max((s.n for s in row.values()), default=0)
        name = recipe + (" (reference)" if recipe == verdict.reference else "")
        name += " ⚠" if recipe in verdict.flags else ""

        def shown(cid, col, row=row, recipe=recipe):
            key = column_key(cid.attack, cid.key)
            return _with_ci(board, _fmt(row.get(cid), col), recipe, key)

        worst = _worst_text(board, recipe, score)
        cells = [shown(cid, col) for cid, col in first] + [worst]
        cells += [shown(cid, col) for cid, col in rest]
        table.append([rank, name, seeds, *cells])
    align = ("right", "left") + ("right",) * (len(headers) - 2)
    lines += [_table(table, headers, align), ""]
    lines += _legend(board, rest)
    return lines


def _worst_text(board: Board, recipe: str, score: float | None) -> str:
    if score is None:
        return "—"
    return _with_ci(board, f"{score * 100:.1f}", recipe, WORST_CASE)


def _legend(board: Board, columns) -> list[str]:
    verdict = board.verdict
    assert verdict is not None
    any_interval = next(iter(verdict.intervals.values()), None)
    method = (
        "a percentile bootstrap over examples (one seed), or over seeds and then examples "
        f"within each seed (several seeds), {any_interval.n_resamples} resamples, fixed seed"
        if any_interval
        else "none"
    )
    lines = [
        f"- 95% CI: {method}.",
        f"- ▲ / ▼: significantly better / worse than `{verdict.reference}` on the same examples "
        "(McNemar's exact test, pooled over matching seeds, Holm-corrected over the row's "
        "columns, α = 0.05); no mark: no detectable difference.",
    ]
    chance = [
        f"{col.label} {verdict.chance[column_key(cid.attack, cid.key)] * 100:.1f}"
        for cid, col in columns
        if column_key(cid.attack, cid.key) in verdict.chance
    ]
    if chance:
        lines.append(
            "- Fixed evaluation sets, shown but never part of the ranking; chance level (the "
            f"share of the most frequent gold label): {', '.join(chance)}."
        )
    if verdict.checked:
        flagged = [f"`{r}`: {'; '.join(f)}" for r, f in verdict.flags.items()]
        lines.append(
            f"- Strength check ({', '.join(verdict.checked)}: twice the steps, two more "
            "restarts): "
            + (
                "⚠ possibly unreliable evaluation (the stronger attack lowers robust accuracy by "
                "more than 1 point or below the CI): " + "; ".join(flagged)
                if flagged
                else "no row is flagged (the stronger attack lowers no robust accuracy by more "
                "than 1 point or below its CI)."
            )
        )
    return [*lines, ""]


def _budget_tables(board: Board, recipes: list[str]) -> list[str]:
    verdict = board.verdict
    if verdict is None:
        return []
    lines = []
    for attack, by_recipe in verdict.budgets.items():
        lines += [f"## {attack}: accuracy under attack by query budget", ""]
        headers = ["Recipe", *(f"≤ {b}" if b != "all" else "all" for b in BUDGETS)]
        rows = [
            [r, *(f"{by_recipe[r][b] * 100:.1f}" for b in BUDGETS)]
            for r in recipes
            if r in by_recipe
        ]
        lines += [_table(rows, headers, ("left",) + ("right",) * len(BUDGETS)), ""]
        lines += [
            "From the per-example query counts of one unlimited run: an example is fooled "
            "within budget B if the attack succeeded in at most B queries.",
            "",
        ]
    return lines


def render_markdown(board: Board) -> str:
    m = board.manifest
    stats = board.stats()
    main = board.columns("main")
    lines = [f"# Leaderboard: {m['suite']}", ""]
    if m.get("description"):
        lines += [m["description"].strip(), ""]
    if board.verdict is not None:
        return _render_verdict(board, lines)
    rank_by, score_column = board.rank_columns()
    labels = {cid: col.label for cid, col in main}
    order = (
        f"ranked by {score_column.lower()} ({_mean_robust_note(board, rank_by)})"
        if score_column
        else f"ranked by {', '.join(labels[c] for c in rank_by)}"
        if rank_by
        else "ranked by clean accuracy"
    )
    lines += [
        f"Task `{m['task']['name']}`, backbone `{m['backbone']}`, seeds {m['seeds']}. "
        f"Scores in % (x100), mean ± std over seeds; {order}.",
        "",
    ]
    has_robust = score_column is not None
    headers = ["Rank", "Recipe", "Seeds"] + [c.label for _, c in main]
    if has_robust:
        headers.append(score_column)
    table = []
    for rank, (recipe, score, _) in enumerate(board.ranked(), start=1):
        row = stats.get(recipe, {})
        seeds = max((s.n for s in row.values()), default=0)
        cells = [_fmt(row.get(cid), col) for cid, col in main]
        line = [rank, recipe, seeds, *cells]
        if has_robust:
            line.append("—" if score is None else f"{score * 100:.1f}")
        table.append(line)
    align = ("right", "left") + ("right",) * (len(headers) - 2)
    lines += [_table(table, headers, align), ""]

    return "\n".join(lines + _rest(board)) + "\n"


def _render_verdict(board: Board, lines: list[str]) -> str:
    lines = lines + _verdict_table(board)
    return "\n".join(lines + _rest(board)) + "\n"


def _rest(board: Board) -> list[str]:
    """Detail tables, query budgets, settings, notes and what is incomplete."""
    m = board.manifest
    stats = board.stats()
    lines: list[str] = []
    recipes = [recipe for recipe, _, _ in board.ranked()]
    for attack in m["attacks"]:
        for table_name in board.detail_tables():
            detail = [
                (cid, col)
                for cid, col in board.columns(table_name)
                if cid.attack == attack["label"]
            ]
            if not detail:
                continue
            title = "details" if table_name == "detail" else table_name.partition(":")[2]
            lines += [f"## {attack['label']}: {title}", ""]
            cells = [[_fmt(stats.get(r, {}).get(cid), col) for cid, col in detail] for r in recipes]
            if len(detail) > WIDE_TABLE:
                headers = ["", *recipes]
                by_column = zip(*cells, strict=True) if cells else [[] for _ in detail]
                rows = [[c.label, *v] for (_, c), v in zip(detail, by_column, strict=True)]
            else:
                headers = ["Recipe", *[c.label for _, c in detail]]
                rows = [[recipe, *line] for recipe, line in zip(recipes, cells, strict=True)]
            lines += [_table(rows, headers, ("left",) + ("right",) * (len(headers) - 1)), ""]

    lines += _budget_tables(board, recipes)
    lines += [
        "## Settings",
        "",
        f"- suite file: `{m['source']}`",
        f"- task: `{m['task']['name']}` ({_params(m['task']['params'])})",
    ]
    lines += [
        f"- recipe `{r['label']}` = `{r['name']}` ({_params(r['params'])})" for r in m["recipes"]
    ]
    lines += [
        f"- attack `{a['label']}` = `{a['name']}` ({_params(a['params'])})" for a in m["attacks"]
    ]
    examples = sorted({(r.attack.label, r.n_examples) for r in board.ok})
    if examples:
        lines.append("- examples evaluated: " + ", ".join(f"{a} {n}" for a, n in examples))
    sources = sorted({r.task_source for r in board.records})
    lines.append(f"- data: {', '.join(sources) or '—'}")
    trained = {r.checkpoint: r.timings.get("train_seconds", 0.0) for r in board.ok}
    attack = [r.timings.get("attack_seconds", 0.0) for r in board.ok]
    lines.append(
        f"- compute: {sum(trained.values()):.0f} s training ({len(trained)} models), "
        f"{sum(attack):.0f} s evaluation ({len(board.ok)} cells)"
    )
    versions = sorted(
        {f"{k} {v}" for r in board.ok for k, v in r.versions.items() if k != "platform"}
    )
    if versions:
        lines.append(f"- versions: {', '.join(versions)}")
    notes = [(r.cell_id, note) for r in board.ok for note in r.notes]
    if notes:
        lines += ["", "## Notes", ""]
        lines += [f"- `{cell}`: {note}" for cell, note in notes]
    if board.missing or board.failed:
        lines += ["", "## Incomplete", ""]
        lines += [f"- missing (not run yet): `{c}`" for c in board.missing]
        lines += [
            f"- failed: `{r.cell_id}`: {(r.error or '').splitlines()[-1]}" for r in board.failed
        ]
    return lines


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


def write_leaderboard(results: Path, out: Path | None = None) -> list[Path]:
    """Render ``results`` into ``<out>.md/.csv/.json`` (default: beside the results folder)."""
    board = load_board(Path(results))
    base = board_base(results, out)
    rendered = [
        (base.parent / (base.name + suffix), render(board))
        for suffix, render in (
            (".md", render_markdown),
            (".csv", render_csv),
            (".json", render_json),
        )
    ]
    problem = writable_folder_problem(base.parent)
    if problem:
        raise UserError(
            f"{'--out ' if out else ''}{base.parent}: cannot write the board: {problem}."
        )
    written = []
    for path, _ in rendered:
        if path.is_dir():
            raise UserError(f"{path}: a folder is in the way of the board; move it.")
    for path, text in rendered:
        try:
            atomic_write_text(path, text)
        except OSError as error:
            raise UserError(
                f"{path}: cannot write the board ({error.strerror or error})."
            ) from None
        written.append(path)
    return written
