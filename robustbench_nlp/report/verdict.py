"""The board's verdict from per-example outcomes: CIs, worst case, paired tests, strength flags.

Computed from the records and their outcomes files alone (``report.statistics`` does the
mathematics); nothing here names a plugin. A board whose cells all carry outcomes gets:

- a 95% confidence interval on every accuracy column (``statistics.row_accuracy_ci``: a
  bootstrap over examples for one seed, over seeds and examples together for several);
- the worst-case robust accuracy over the suite's ensemble (the manifest's ``ensemble``: each
  member attack and the outcome field it contributes): per seed, an example is robust only if
  it is right clean and under every member, on the examples all of them measured;
- McNemar's exact test of every row against the reference row, per column, on the same
  examples pooled over matching seeds, Holm-corrected over the columns of that row;
- a strength-check flag: a row whose robust accuracy drops by more than 1 point (or below the
  standard attack's CI) under the stronger attack recorded beside an attack (``strong:``
  fields) is a possibly unreliable evaluation, as RobustBench's ``unreliable`` flag;
- accuracy under each word attack against its query budget, read from the per-example query
  counts (no rerun);
- the chance level of each fixed set: the share of its most frequent gold label (among the
  examples of the column: a subset's column counts that subset).
"""

from __future__ import annotations

import json
import statistics as stats_lib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robustbench_nlp.core.errors import UserError
from robustbench_nlp.core.metrics import Metric, selected
from robustbench_nlp.report.statistics import (
    DEFAULT_BUDGETS,
    Interval,
    McNemar,
    holm_correct,
    mcnemar_exact,
    query_budget_curve,
    row_accuracy_ci,
    strength_check,
    worst_case,
)
from robustbench_nlp.run.store import Record

#: Outcome fields of a stronger run of the same attack start with this (strength check).
STRONG = "strong:"
WORST_CASE = "worst case"
ALPHA = 0.05


@dataclass(frozen=True)
class CellOutcomes:
    ids: list[str]
    fields: dict[str, list[Any]]

    def vector(self, metric: Metric) -> dict[str, bool] | None:
        """Example id -> 0/1 of a mean-of-booleans metric over its selected examples."""
        source = metric.source
        if source is None or source not in self.fields or metric.reduce != "mean":
            return None
        values = self.fields[source]
        if not all(v is None or isinstance(v, bool) for v in values):
            return None
        keep = selected(self.fields, metric.where, len(self.ids))
        return {i: v for i, v, k in zip(self.ids, values, keep, strict=True) if k and v is not None}


def load_outcomes(records_dir: Path, record: Record) -> CellOutcomes | None:
    if record.outcomes is None:
        return None
    path = records_dir / record.outcomes
    try:
        data = json.loads(path.read_text())
        return CellOutcomes(list(data["ids"]), {k: list(v) for k, v in data["fields"].items()})
    except FileNotFoundError:
        raise UserError(
            f"{path}: the outcomes file of record {record.cell_id} is missing; delete the record "
            "to recompute that cell."
        ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise UserError(
            f"{path}: not a valid outcomes file ({error}); delete it and its record to "
            "recompute that cell."
        ) from None


@dataclass
class Verdict:
    #: (recipe, column key) -> CI; column key is "attack|metric" or WORST_CASE.
    intervals: dict[tuple[str, str], Interval] = field(default_factory=dict)
    tests: dict[tuple[str, str], McNemar] = field(default_factory=dict)
    worst_case: dict[str, float] = field(default_factory=dict)
    #: Examples the worst case is computed on, per seed (the same for every row).
    worst_case_n: int = 0
    members: list[dict[str, str]] = field(default_factory=list)
    reference: str = ""
    flags: dict[str, list[str]] = field(default_factory=dict)
    checked: list[str] = field(default_factory=list)
    #: attack label -> recipe -> {budget: accuracy (mean over seeds)}
    budgets: dict[str, dict[str, dict]] = field(default_factory=dict)
    #: column key -> chance level of the fixed set
    chance: dict[str, float] = field(default_factory=dict)


def column_key(attack: str, metric: str) -> str:
    return f"{attack}|{metric}"


def build_verdict(
    manifest: dict, records: list[Record], outcomes: dict[str, CellOutcomes]
) -> Verdict | None:
    """The verdict of a board, or None when a finished cell has no outcomes (old records) or
    the suite has no ensemble whose worst case could rank it."""
    ok = [r for r in records if r.status == "ok"]
    if not ok or any(r.cell_id not in outcomes for r in ok) or "ensemble" not in manifest:
        return None
    verdict = Verdict(members=list(manifest["ensemble"]), reference=manifest.get("reference", ""))
    vectors: dict[tuple[str, str], dict[int, dict[str, bool]]] = {}
    fixed_sets = {a["label"] for a in manifest["attacks"] if a.get("perturbs") is False}
    for record in ok:
        cell = outcomes[record.cell_id]
        for metric in record.columns:
            if metric.table != "main":
                continue
            vector = cell.vector(metric)
            if vector is not None:
                key = (record.recipe.label, column_key(record.attack.label, metric.key))
                vectors.setdefault(key, {})[record.seed] = vector
            if record.attack.label in fixed_sets and "label" in cell.fields:
                # Over the column's own examples (a subset's column: that subset's labels).
                keep = selected(cell.fields, metric.where, len(cell.ids))
                counts = Counter(v for v, k in zip(cell.fields["label"], keep, strict=True) if k)
                chance = max(counts.values()) / sum(counts.values()) if counts else 0.0
                verdict.chance[column_key(record.attack.label, metric.key)] = chance
    _worst_case(verdict, ok, outcomes, vectors)
    if not verdict.worst_case:
        return None  # no ensemble to rank by: the board keeps its mean-robust form
    for key, row in vectors.items():
        verdict.intervals[key] = row_accuracy_ci(row)
    _significance(verdict, vectors)
    _strength(verdict, ok, outcomes)
    _budgets(verdict, ok, outcomes)
    return verdict


def _worst_case(verdict, ok, outcomes, vectors) -> None:
    if not verdict.members:
        return
    clean = [r for r in ok if any(m.role == "clean" and m.table == "main" for m in r.columns)]
    by_cell = {(r.recipe.label, r.seed, r.attack.label): r for r in ok}
    sizes = []
    for record in clean:
        metric = next(m for m in record.columns if m.role == "clean" and m.table == "main")
        clean_vector = outcomes[record.cell_id].vector(metric) or {}
        attacks = {}
        for member in verdict.members:
            cell = by_cell.get((record.recipe.label, record.seed, member["label"]))
            if cell is None:
                break  # a member not run yet for this seed: the seed has no worst case yet
            if member["field"] not in outcomes[cell.cell_id].fields:
                return  # a member without that outcome: no worst case at all
            values = outcomes[cell.cell_id]
            attacks[member["label"]] = dict(
                zip(values.ids, values.fields[member["field"]], strict=True)
            )
        else:
            result = worst_case(clean_vector, attacks)
            vectors.setdefault((record.recipe.label, WORST_CASE), {})[record.seed] = result.robust
            sizes.append(result.n)
    verdict.worst_case_n = min(sizes) if sizes else 0
    for (recipe, key), row in vectors.items():
        if key == WORST_CASE:
            verdict.worst_case[recipe] = stats_lib.fmean(
                sum(v.values()) / len(v) for v in row.values()
            )


def _significance(verdict: Verdict, vectors) -> None:
    reference = verdict.reference
    for recipe in sorted({r for r, _ in vectors} - {reference}):
        tests = {}
        for (row, key), by_seed in vectors.items():
            if row != recipe or (reference, key) not in vectors:
                continue
            try:
                tests[key] = mcnemar_exact(by_seed, vectors[(reference, key)], alpha=ALPHA)
            except ValueError:  # no shared seed or example
                continue
        for key, test in holm_correct(tests, ALPHA).items():
            verdict.tests[(recipe, key)] = test


def _strength(verdict: Verdict, ok, outcomes) -> None:
    pooled: dict[tuple[str, str, str], tuple[dict, dict]] = {}
    for record in ok:
        cell = outcomes[record.cell_id]
        for metric in record.columns:
            strong = f"{STRONG}{metric.source}"
            if metric.table != "main" or metric.role != "robust" or strong not in cell.fields:
                continue
            standard, stronger = pooled.setdefault(
                (record.recipe.label, record.attack.label, metric.label or metric.key), ({}, {})
            )
            for i, a, b in zip(
                cell.ids, cell.fields[metric.source], cell.fields[strong], strict=True
            ):
                standard[f"{record.seed}/{i}"] = a
                stronger[f"{record.seed}/{i}"] = b
    for (recipe, attack, label), (standard, stronger) in sorted(pooled.items()):
        check = strength_check(standard, stronger)
        name = f"{attack} {label}".strip()
        if name not in verdict.checked:
            verdict.checked.append(name)
        if check.unreliable:
            verdict.flags.setdefault(recipe, []).append(
                f"{name}: {check.standard_accuracy * 100:.1f} -> "
                f"{check.stronger_accuracy * 100:.1f} under the stronger attack"
            )


def _budgets(verdict: Verdict, ok, outcomes) -> None:
    curves: dict[tuple[str, str], list[dict]] = {}
    for record in ok:
        cell = outcomes[record.cell_id]
        if "result" in cell.fields and "queries" in cell.fields:
            curve = query_budget_curve(cell.fields["result"], cell.fields["queries"])
            curves.setdefault((record.attack.label, record.recipe.label), []).append(curve)
    for (attack, recipe), seeds in curves.items():
        verdict.budgets.setdefault(attack, {})[recipe] = {
            budget: stats_lib.fmean(curve[budget] for curve in seeds) for budget in seeds[0]
        }


BUDGETS = (*DEFAULT_BUDGETS, "all")
