"""The board as text: every table's cells, the legend and the settings, formatted once.

Markdown and HTML render exactly these strings (tabulate rows, or a Jinja2 template), so a
number reads the same in both: ``83.4 ± 0.3 [81.9, 84.8] ▼`` is the mean ± std over seeds in %,
its 95% CI, and its significance mark against the reference row. A detail table wider than
``WIDE_TABLE`` columns is transposed (one row per column).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from robustbench_nlp.report.board import Board, Column, ColumnId, Stat
from robustbench_nlp.report.verdict import BUDGETS, WORST_CASE, column_key

#: Detail tables with more columns than this are shown transposed: recipes become the columns.
WIDE_TABLE = 8
MISSING = "—"


@dataclass(frozen=True)
class Cell:
    """A shown value and its significance mark ("▲", "▼" or ""), kept apart for styling."""

    text: str
    mark: str = ""

    def __str__(self) -> str:
        return f"{self.text} {self.mark}" if self.mark else self.text


@dataclass
class Table:
    """One table: headers, rows of ints, strings or cells, and its column alignment."""

    headers: list[str]
    rows: list[list[Any]]
    align: tuple[str, ...]
    #: The section heading ("PGD-L2: details"); empty for the main table.
    title: str = ""
    #: The attack and table name a detail table shows (figures of it are placed beside it).
    attack: str = ""
    name: str = "main"
    #: Paragraphs below the table.
    notes: list[str] = field(default_factory=list)


def fmt(stat: Stat | None, column: Column) -> str:
    if stat is None:
        return MISSING
    scale, digits = (100.0, 1) if column.percent else (1.0, 2)
    if not column.percent and stat.n == 1 and float(stat.mean).is_integer():
        digits = 0  # a count (skipped, failed) from one seed
    text = f"{stat.mean * scale:.{digits}f}"
    return f"{text} ± {stat.std * scale:.{digits}f}" if stat.n > 1 else text


def _mark(board: Board, recipe: str, key: str) -> str:
    verdict = board.verdict
    test = verdict.tests.get((recipe, key)) if verdict else None
    if test is None or test.direction == "no detectable difference":
        return ""
    return "▲" if test.direction == "better" else "▼"


def with_ci(board: Board, text: str, recipe: str, key: str) -> Cell:
    """A value with its CI and mark, when the verdict has them."""
    interval = board.verdict.intervals.get((recipe, key)) if board.verdict else None
    if interval is None or text == MISSING:
        return Cell(text)
    return Cell(
        f"{text} [{interval.low * 100:.1f}, {interval.high * 100:.1f}]",
        _mark(board, recipe, key),
    )


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in params.items()) or "(defaults)"


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


def intro(board: Board) -> str:
    """The sentence under the title: task, backbone, seeds, scale and ranking."""
    m, verdict = board.manifest, board.verdict
    head = f"Task `{m['task']['name']}`, backbone `{m['backbone']}`, seeds {m['seeds']}. "
    if verdict is not None:
        members = ", ".join(f"{e['label']} ({e['field']})" for e in verdict.members) or "none"
        return (
            f"{head}Scores in % (x100): mean ± std over seeds [95% CI]. Ranked by worst-case "
            "robust accuracy: an example counts only if it is classified right clean and under "
            f"every attack of the ensemble ({members}), on the {verdict.worst_case_n} examples "
            "they all measured (per seed)."
        )
    rank_by, score_column = board.rank_columns()
    labels = {cid: col.label for cid, col in board.columns("main")}
    order = (
        f"ranked by {score_column.lower()} ({_mean_robust_note(board, rank_by)})"
        if score_column
        else f"ranked by {', '.join(labels[c] for c in rank_by)}"
        if rank_by
        else "ranked by clean accuracy"
    )
    return f"{head}Scores in % (x100), mean ± std over seeds; {order}."


def main_table(board: Board) -> Table:
    """Ranked rows: with a verdict, the clean column, the worst case, then every other main
    column with its CI and mark; without, the main columns and the mean robust score."""
    if board.verdict is not None:
        return _verdict_table(board)
    stats = board.stats()
    main = board.columns("main")
    _, score_column = board.rank_columns()
    headers = ["Rank", "Recipe", "Seeds"] + [c.label for _, c in main]
    if score_column is not None:
        headers.append(score_column)
    rows = []
    for rank, (recipe, score, _) in enumerate(board.ranked(), start=1):
        row = stats.get(recipe, {})
        seeds = max((s.n for s in row.values()), default=0)
        line = [rank, recipe, seeds, *(fmt(row.get(cid), col) for cid, col in main)]
        if score_column is not None:
            line.append(MISSING if score is None else f"{score * 100:.1f}")
        rows.append(line)
    return Table(headers, rows, ("right", "left") + ("right",) * (len(headers) - 2))


def _split_main(board: Board) -> tuple[list, list]:
    """The clean column, and the other main columns (shown after the worst case)."""
    clean_id = board.clean_column()
    main = board.columns("main")
    return (
        [(cid, col) for cid, col in main if cid == clean_id],
        [(cid, col) for cid, col in main if cid != clean_id],
    )


def _verdict_table(board: Board) -> Table:
    verdict = board.verdict
    assert verdict is not None
    stats = board.stats()
    first, rest = _split_main(board)
    headers = ["Rank", "Recipe", "Seeds", *(c.label for _, c in first), "Worst case"]
    headers += [c.label for _, c in rest]
    rows = []
    for rank, (recipe, score, _) in enumerate(board.ranked(), start=1):
        row = stats.get(recipe, {})
        seeds = max((s.n for s in row.values()), default=0)
        name = recipe + (" (reference)" if recipe == verdict.reference else "")
        name += " ⚠" if recipe in verdict.flags else ""

        def shown(cid: ColumnId, col: Column, row=row, recipe=recipe) -> Cell:
            key = column_key(cid.attack, cid.key)
            return with_ci(board, fmt(row.get(cid), col), recipe, key)

        worst = (
            Cell(MISSING)
            if score is None
            else with_ci(board, f"{score * 100:.1f}", recipe, WORST_CASE)
        )
        cells = [shown(cid, col) for cid, col in first] + [worst]
        cells += [shown(cid, col) for cid, col in rest]
        rows.append([rank, name, seeds, *cells])
    return Table(headers, rows, ("right", "left") + ("right",) * (len(headers) - 2))


def legend(board: Board) -> list[str]:
    """What the CIs, marks, chance levels and ⚠ flags of the main table mean (one item each);
    empty without a verdict."""
    verdict = board.verdict
    if verdict is None:
        return []
    any_interval = next(iter(verdict.intervals.values()), None)
    method = (
        "a percentile bootstrap over examples (one seed), or over seeds and then examples "
        f"within each seed (several seeds), {any_interval.n_resamples} resamples, fixed seed"
        if any_interval
        else "none"
    )
    lines = [
        f"95% CI: {method}.",
        f"▲ / ▼: significantly better / worse than `{verdict.reference}` on the same examples "
        "(McNemar's exact test, pooled over matching seeds, Holm-corrected over the row's "
        "columns, α = 0.05); no mark: no detectable difference.",
    ]
    chance = [
        f"{col.label} {verdict.chance[column_key(cid.attack, cid.key)] * 100:.1f}"
        for cid, col in _split_main(board)[1]
        if column_key(cid.attack, cid.key) in verdict.chance
    ]
    if chance:
        lines.append(
            "Fixed evaluation sets, shown but never part of the ranking; chance level (the "
            f"share of the most frequent gold label): {', '.join(chance)}."
        )
    if verdict.checked:
        flagged = [f"`{r}`: {'; '.join(f)}" for r, f in verdict.flags.items()]
        lines.append(
            f"Strength check ({', '.join(verdict.checked)}: twice the steps, two more "
            "restarts): "
            + (
                "⚠ possibly unreliable evaluation (the stronger attack lowers robust accuracy by "
                "more than 1 point or below the CI): " + "; ".join(flagged)
                if flagged
                else "no row is flagged (the stronger attack lowers no robust accuracy by more "
                "than 1 point or below its CI)."
            )
        )
    return lines


def ranked_recipes(board: Board) -> list[str]:
    return [recipe for recipe, _, _ in board.ranked()]


def detail_groups(board: Board) -> list[tuple[str, str, list[tuple[ColumnId, Column]]]]:
    """(attack label, table name, its columns) of every detail table, in board order."""
    groups = []
    for attack in board.manifest["attacks"]:
        for table_name in board.detail_tables():
            detail = [
                (cid, col)
                for cid, col in board.columns(table_name)
                if cid.attack == attack["label"]
            ]
            if detail:
                groups.append((attack["label"], table_name, detail))
    return groups


def detail_title(table_name: str) -> str:
    """``detail`` is an attack's "details"; ``detail:<name>`` is titled <name>."""
    return "details" if table_name == "detail" else table_name.partition(":")[2]


def detail_tables(board: Board) -> list[Table]:
    stats = board.stats()
    recipes = ranked_recipes(board)
    tables = []
    for attack, table_name, detail in detail_groups(board):
        title = detail_title(table_name)
        cells = [[fmt(stats.get(r, {}).get(cid), col) for cid, col in detail] for r in recipes]
        if len(detail) > WIDE_TABLE:
            headers = ["", *recipes]
            by_column = zip(*cells, strict=True) if cells else [[] for _ in detail]
            rows = [[c.label, *v] for (_, c), v in zip(detail, by_column, strict=True)]
        else:
            headers = ["Recipe", *[c.label for _, c in detail]]
            rows = [[recipe, *line] for recipe, line in zip(recipes, cells, strict=True)]
        align = ("left",) + ("right",) * (len(headers) - 1)
        tables.append(Table(headers, rows, align, f"{attack}: {title}", attack, table_name))
    return tables


BUDGET_NOTE = (
    "From the per-example query counts of one unlimited run: an example is fooled within "
    "budget B if the attack succeeded in at most B queries."
)


def budget_label(budget: int | str) -> str:
    return f"≤ {budget}" if budget != "all" else "all"


def budget_tables(board: Board) -> list[Table]:
    verdict = board.verdict
    if verdict is None:
        return []
    recipes = ranked_recipes(board)
    tables = []
    for attack, by_recipe in verdict.budgets.items():
        headers = ["Recipe", *(budget_label(b) for b in BUDGETS)]
        rows = [
            [r, *(f"{by_recipe[r][b] * 100:.1f}" for b in BUDGETS)]
            for r in recipes
            if r in by_recipe
        ]
        title = f"{attack}: accuracy under attack by query budget"
        align = ("left",) + ("right",) * len(BUDGETS)
        tables.append(Table(headers, rows, align, title, attack, "budget", [BUDGET_NOTE]))
    return tables


def settings(board: Board) -> list[str]:
    """The suite's settings, the examples, data, compute and library versions (one item each)."""
    m = board.manifest
    lines = [
        f"suite file: `{m['source']}`",
        f"task: `{m['task']['name']}` ({_params(m['task']['params'])})",
    ]
    lines += [
        f"recipe `{r['label']}` = `{r['name']}` ({_params(r['params'])})" for r in m["recipes"]
    ]
    lines += [
        f"attack `{a['label']}` = `{a['name']}` ({_params(a['params'])})" for a in m["attacks"]
    ]
    examples = sorted({(r.attack.label, r.n_examples) for r in board.ok})
    if examples:
        lines.append("examples evaluated: " + ", ".join(f"{a} {n}" for a, n in examples))
    sources = sorted({r.task_source for r in board.records})
    lines.append(f"data: {', '.join(sources) or MISSING}")
    trained = {r.checkpoint: r.timings.get("train_seconds", 0.0) for r in board.ok}
    attack = [r.timings.get("attack_seconds", 0.0) for r in board.ok]
    lines.append(
        f"compute: {sum(trained.values()):.0f} s training ({len(trained)} models), "
        f"{sum(attack):.0f} s evaluation ({len(board.ok)} cells)"
    )
    versions = sorted(
        {f"{k} {v}" for r in board.ok for k, v in r.versions.items() if k != "platform"}
    )
    if versions:
        lines.append(f"versions: {', '.join(versions)}")
    return lines


def notes(board: Board) -> list[str]:
    return [f"`{r.cell_id}`: {note}" for r in board.ok for note in r.notes]


def incomplete(board: Board) -> list[str]:
    """Cells not run yet and failed cells (with the last line of their error)."""
    lines = [f"missing (not run yet): `{c}`" for c in board.missing]
    lines += [
        f"failed: `{r.cell_id}`: {((r.error or '').splitlines() or [''])[-1]}" for r in board.failed
    ]
    return lines
