"""The board: a results folder read into rows, columns and statistics (no rendering here).

It reads ``suite.json`` and the records of the cells it lists and nothing else (no plugin code,
no models); both are checked as they are read (a malformed manifest, a record of another suite
or task is refused in one line). Rows are recipes (each sweep setting its own row); main columns
are clean accuracy and the robust accuracy of every attack, as mean ± std over seeds; rows are
ranked by the worst case of the verdict when there is one, else by the mean of the robust
columns (RobustBench's "robust accuracy" ranking), ties broken by clean accuracy. An attack's
``detail`` columns form its own table; ``detail:<name>`` columns a further table titled <name>.
Every renderer (Markdown, CSV, JSON, HTML, figures) starts from a ``Board``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_nlp.core.metrics import Metric
from robustbench_nlp.report.verdict import Verdict, build_verdict, load_outcomes
from robustbench_nlp.run.store import Record, ResultsStore


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


@dataclass
class Board:
    manifest: dict[str, Any]
    records: list[Record]
    missing: list[str]
    #: Statistics from per-example outcomes (None for records written before schema 3).
    verdict: Verdict | None = None

    def columns(self, table: str) -> list[tuple[ColumnId, Column]]:
        seen: dict[ColumnId, Column] = {}
        for record in self._in_attack_order():
            for metric in record.columns:
                if metric.table == table:
                    seen.setdefault(
                        ColumnId(record.attack.label, metric.key), shown(record, metric)
                    )
        return list(seen.items())

    def declarations(self, cid: ColumnId) -> list[Metric]:
        """Every record's declaration of a column (figures pick their kind from these)."""
        return [
            metric
            for record in self._in_attack_order()
            if record.attack.label == cid.attack
            for metric in record.columns
            if metric.key == cid.key
        ]

    def _in_attack_order(self) -> list[Record]:
        order = {a["label"]: i for i, a in enumerate(self.manifest["attacks"])}
        return sorted(self.ok, key=lambda r: order.get(r.attack.label, 99))

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

    @property
    def newest_record(self) -> str | None:
        """When the newest record was written (ISO 8601, UTC), None for a board without any."""
        return max((r.created_at for r in self.records), default=None)

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
