"""Metric declarations: what an attack or evaluation reports, and how it is computed and shown.

A plugin declares its metrics on its class; the measurement base computes each one from the
cell's per-example outcomes (``field`` reduced by ``reduce`` over the examples that ``where``
selects), the record keeps the declarations, and the leaderboard turns them into titled columns.
No plugin titles its own columns and no renderer names a plugin.

``role`` says what a main-table metric means for the board:

- ``clean``: the board's clean-accuracy column (ties in the ranking are broken by it);
- ``robust``: accuracy under an attack, part of the robustness score;
- ``other``: shown but never scored (PGD at eps 0, accuracy on another clean test set);
- ``score``: a summary the board ranks by instead (e.g. the STS average).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic.dataclasses import dataclass

Role = Literal["clean", "robust", "other", "score"]
Reduce = Literal["mean", "sum", "count"]


@dataclass(frozen=True)
class Metric:
    """One metric of a cell (attacks and evaluations declare these; records keep them)."""

    key: str
    #: The column title's own part: "" means the attack's label alone; in the main table a
    #: non-empty label is appended to the attack's label ("PGD ε=0.1"), in detail tables it is
    #: the title.
    label: str = ""
    #: "main": a column of the main table; "detail" or "detail:<name>": a detail table.
    table: str = "main"
    #: True for fractions shown x100 (accuracies, Spearman); False for counts and ratios.
    percent: bool = True
    higher_is_better: bool = True
    role: Role = "robust"
    #: The per-example outcome field it is computed from (default: ``key``); None for a metric
    #: the plugin computes itself (e.g. a Spearman correlation).
    field: str | None = ""
    reduce: Reduce = "mean"
    #: Keep only examples whose outcome field is truthy ("name"), falsy ("!name") or equal to a
    #: value ("name=value"); empty keeps all.
    where: str = ""
    #: A full column title, only for records written before titles were composed (schema 2).
    title: str | None = None

    @property
    def source(self) -> str | None:
        return self.key if self.field == "" else self.field


def selected(fields: Mapping[str, Sequence[Any]], where: str, n: int) -> list[bool]:
    """Per example: does it pass the ``where`` filter of a metric (see ``Metric.where``)?"""
    if not where:
        return [True] * n
    if where.startswith("!"):
        return [not v for v in fields[where[1:]]]
    name, eq, value = where.partition("=")
    if eq:
        return [str(v) == value for v in fields[name]]
    return [bool(v) for v in fields[name]]


def reduce_metric(metric: Metric, fields: Mapping[str, Sequence[Any]], n: int) -> float | None:
    """The value of ``metric`` over per-example ``fields``; None when no example qualifies."""
    keep = selected(fields, metric.where, n)
    if metric.reduce == "count":
        return float(sum(keep))
    values = [
        float(v)
        for v, k in zip(fields[metric.source], keep, strict=True)
        if k and v is not None and not (isinstance(v, float) and math.isnan(v))
    ]
    if metric.reduce == "sum":
        return float(sum(values))
    return sum(values) / len(values) if values else None
