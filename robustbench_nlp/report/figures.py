"""Figures of a board, chosen from what its records declare; no plugin is named here.

The rules (``plan`` applies them; each figure is a PNG beside the board and inline in the page):

- **sweep**: the main-table metrics of one attack whose keys read ``<name>@<param>=<number>``
  (``robust_accuracy@eps=0.25``), with at least two numbers, give ``<name>`` against the number,
  one line per recipe, with the verdict's 95% CI as a band (no band without a verdict);
- **query budget**: every attack with a budget curve in the verdict (per-example query counts)
  gives accuracy under attack against the query budget, log x axis, "all" (unlimited) last;
- **trade-off**: clean accuracy (x) against the ranking score (y: the worst case with a verdict,
  else the mean robust or score column), one labelled point per recipe, CI whiskers both ways;
- **heatmap**: every detail table whose metrics all measure accuracy on a slice (in every
  record: ``percent``, reduce ``mean``, field ``correct``) gives recipes x columns with the value
  in each cell (transposed as its table is when wider than ``tables.WIDE_TABLE``).

``plan`` is pure Python (the Markdown board links the figures without drawing them); ``render``
imports matplotlib on first use and draws on the Agg canvas with fixed settings, size and dpi,
sorted inputs and no PNG ``Software`` tag, so the same board gives the same bytes. Recipes keep
one colour and marker in every figure (Okabe-Ito, colour-blind safe; heatmaps use viridis).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, replace
from typing import Any, Literal

from robustbench_nlp.report import tables
from robustbench_nlp.report.board import Board, ColumnId
from robustbench_nlp.report.verdict import BUDGETS, WORST_CASE, column_key
from robustbench_nlp.run.store import label_slug

#: A swept metric's key: ``<name>@<param>=<number>``.
SWEEP_KEY = re.compile(
    r"^(?P<name>.+)@(?P<param>[A-Za-z_]\w*)=(?P<value>-?\d+(?:\.\d+)?(?:e-?\d+)?)$"
)
#: The field an accuracy-on-a-slice metric averages (an example's 0/1 correctness).
SLICE_FIELD = "correct"
#: Okabe & Ito (2008): distinguishable with every common colour-vision deficiency.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#000000",
    "#F0E442",
)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":")
DPI = 120
#: Where "all" (no budget) sits on the log axis: this factor beyond the largest budget.
UNLIMITED_AT = 2.5
#: Fixed settings: a user's matplotlibrc changes no byte.
RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "legend.fontsize": 8.5,
    "axes.grid": True,
    "grid.alpha": 0.35,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}

Kind = Literal["trade-off", "sweep", "budget", "heatmap"]


@dataclass(frozen=True)
class Series:
    """One recipe's line: x values, y values (and CI ends, when known), in x order."""

    label: str
    style: int
    x: tuple[float, ...]
    y: tuple[float, ...]
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Point:
    """One recipe in the trade-off: (x, y) with its CI ends (None: no whisker)."""

    label: str
    style: int
    x: float
    y: float
    x_ci: tuple[float, float] | None
    y_ci: tuple[float, float] | None


@dataclass(frozen=True)
class Figure:
    """What one figure shows, computed from the board; ``render`` draws it."""

    #: The file's stem, unique within the board.
    name: str
    title: str
    kind: Kind
    xlabel: str
    ylabel: str
    #: Where the page places it: beside the main table ("main"), a detail table (its name)
    #: or a query budget table ("budget") of ``attack``.
    attack: str = ""
    table: str = "main"
    series: tuple[Series, ...] = ()
    points: tuple[Point, ...] = ()
    #: x positions and their tick labels (sweeps, budgets).
    ticks: tuple[tuple[float, str], ...] = ()
    #: Which axes (x, y) show percentages: kept within 0-100.
    percent: tuple[bool, bool] = (False, True)
    #: Heatmap rows, columns and values (None: not measured).
    rows: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    values: tuple[tuple[float | None, ...], ...] = ()

    @property
    def file(self) -> str:
        return f"{self.name}.png"


def _styles(board: Board) -> dict[str, int]:
    """Each recipe's style index, by its place in the suite (the same in every figure)."""
    return {r["label"]: i for i, r in enumerate(board.manifest["recipes"])}


def _percent(percent: bool) -> tuple[float, str]:
    return (100.0, " (%)") if percent else (1.0, "")


def _interval(board: Board, recipe: str, key: str, scale: float) -> tuple[float, float] | None:
    interval = board.verdict.intervals.get((recipe, key)) if board.verdict else None
    return None if interval is None else (interval.low * scale, interval.high * scale)


def _sweeps(board: Board) -> list[Figure]:
    groups: dict[tuple[str, str, str], list[tuple[float, ColumnId, Any]]] = {}
    for cid, col in board.columns("main"):
        match = SWEEP_KEY.match(cid.key)
        if match:
            group = (cid.attack, match["name"], match["param"])
            groups.setdefault(group, []).append((float(match["value"]), cid, col))
    stats, styles, figures = board.stats(), _styles(board), []
    for (attack, name, param), members in groups.items():
        members.sort(key=lambda m: m[0])
        if len({value for value, _, _ in members}) < 2:
            continue
        percent = all(col.percent for _, _, col in members)
        scale, unit = _percent(percent)
        series = []
        for recipe in tables.ranked_recipes(board):
            row = stats.get(recipe, {})
            shown = [(v, cid) for v, cid, _ in members if cid in row]
            if not shown:
                continue
            cis = [
                _interval(board, recipe, column_key(cid.attack, cid.key), scale) for _, cid in shown
            ]
            series.append(
                Series(
                    recipe,
                    styles.get(recipe, 0),
                    tuple(v for v, _ in shown),
                    tuple(row[cid].mean * scale for _, cid in shown),
                    *_band(cis),
                )
            )
        if not series:
            continue
        what = name.replace("_", " ")
        symbol = _symbol(members[0][2].label, param)
        figures.append(
            Figure(
                f"{label_slug(attack)}-{label_slug(name)}-vs-{label_slug(param)}",
                f"{attack}: {what} against {symbol}",
                "sweep",
                symbol,
                f"{what[:1].upper()}{what[1:]}{unit}",
                attack=attack,
                series=tuple(series),
                ticks=tuple((v, f"{v:g}") for v in sorted({v for v, _, _ in members})),
                percent=(False, percent),
            )
        )
    return figures


def _band(
    cis: list[tuple[float, float] | None],
) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """The lower and upper ends of a line's CI band; no band unless every point has a CI."""
    known = [ci for ci in cis if ci is not None]
    if not known or len(known) < len(cis):
        return None, None
    return tuple(low for low, _ in known), tuple(high for _, high in known)


def _symbol(label: str, param: str) -> str:
    """The swept parameter as the column titles write it ("PGD ε=0.1" -> "ε"), else its name."""
    worded = [word for word in label.split() if "=" in word]
    return worded[-1].partition("=")[0] if worded and worded[-1].partition("=")[0] else param


def _budgets(board: Board) -> list[Figure]:
    if board.verdict is None:
        return []
    styles, recipes = _styles(board), tables.ranked_recipes(board)
    numbers = [b for b in BUDGETS if b != "all"]
    positions = {b: float(b) for b in numbers} | {"all": max(numbers) * UNLIMITED_AT}
    ticks = tuple((positions[b], str(b)) for b in BUDGETS)
    figures = []
    for attack, by_recipe in board.verdict.budgets.items():
        series = tuple(
            Series(
                recipe,
                styles.get(recipe, 0),
                tuple(positions[b] for b in BUDGETS),
                tuple(by_recipe[recipe][b] * 100 for b in BUDGETS),
            )
            for recipe in recipes
            if recipe in by_recipe
        )
        figures.append(
            Figure(
                f"{label_slug(attack)}-query-budget",
                f"{attack}: accuracy under attack by query budget",
                "budget",
                "Query budget (queries per example; all = unlimited)",
                "Accuracy under attack (%)",
                attack=attack,
                table="budget",
                series=series,
                ticks=ticks,
            )
        )
    return figures


def _trade_off(board: Board) -> list[Figure]:
    clean_id = board.clean_column()
    if clean_id is None:
        return []
    main = dict(board.columns("main"))
    clean_key = column_key(clean_id.attack, clean_id.key)
    flagged, score_column = board.rank_columns()
    if board.verdict is not None:
        name, key, y_percent = "Worst-case robust accuracy", WORST_CASE, True
    elif score_column is not None:
        name, key = "Mean robust accuracy", ""
        y_percent = all(main[cid].percent for cid in flagged)
    elif len(flagged) == 1:
        name, key, y_percent = main[flagged[0]].label, "", main[flagged[0]].percent
    else:
        return []
    (x_scale, x_unit), (y_scale, y_unit) = _percent(main[clean_id].percent), _percent(y_percent)
    styles, points = _styles(board), []
    for recipe, score, clean in board.ranked():
        if score is None or clean is None:
            continue
        points.append(
            Point(
                recipe,
                styles.get(recipe, 0),
                clean * x_scale,
                score * y_scale,
                _interval(board, recipe, clean_key, x_scale),
                _interval(board, recipe, key, y_scale) if key else None,
            )
        )
    if not points:
        return []
    return [
        Figure(
            "trade-off",
            f"Clean accuracy against {_lower_first(name)}",
            "trade-off",
            f"Clean accuracy{x_unit}",
            f"{name}{y_unit}",
            points=tuple(points),
            percent=(main[clean_id].percent, y_percent),
        )
    ]


def _lower_first(text: str) -> str:
    """Lower the first letter inside a sentence, but not an acronym's ("STS avg" stays)."""
    return text if text[:2].isupper() else text[:1].lower() + text[1:]


def measures_slices(board: Board, columns: list[ColumnId]) -> bool:
    """Does every column of a detail table measure accuracy on a slice, in every record?"""
    declared = [m for cid in columns for m in board.declarations(cid)]
    return bool(declared) and all(
        m.percent and m.reduce == "mean" and m.source == SLICE_FIELD for m in declared
    )


def _heatmaps(board: Board) -> list[Figure]:
    stats, recipes, figures = board.stats(), tables.ranked_recipes(board), []
    for attack, table_name, detail in tables.detail_groups(board):
        if not measures_slices(board, [cid for cid, _ in detail]):
            continue
        values = [
            [stats[r][cid].mean * 100 if cid in stats.get(r, {}) else None for cid, _ in detail]
            for r in recipes
        ]
        labels = [col.label for _, col in detail]
        rows, columns = recipes, labels
        if len(detail) > tables.WIDE_TABLE:
            rows, columns = labels, recipes
            values = [list(line) for line in zip(*values, strict=True)] if values else []
        title = tables.detail_title(table_name)
        figures.append(
            Figure(
                f"{label_slug(attack)}-{label_slug(title)}-heatmap",
                f"{attack}: {title} (accuracy, %)",
                "heatmap",
                "",
                "",
                attack=attack,
                table=table_name,
                rows=tuple(rows),
                columns=tuple(columns),
                values=tuple(tuple(line) for line in values),
            )
        )
    return figures


def plan(board: Board) -> list[Figure]:
    """Every figure the rules give this board, with unique names, in page order."""
    figures = _trade_off(board) + _sweeps(board) + _heatmaps(board) + _budgets(board)
    seen: dict[str, int] = {}
    unique = []
    for figure in figures:
        count = seen[figure.name] = seen.get(figure.name, 0) + 1
        unique.append(figure if count == 1 else replace(figure, name=f"{figure.name}-{count}"))
    return unique


# -- drawing ------------------------------------------------------------------------------------


def render(figure: Figure) -> bytes:
    """The PNG of a figure (matplotlib imported here, on first use)."""
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as Canvas

    with matplotlib.style.context("default"), matplotlib.rc_context(RC):
        size = _size(figure)
        fig = Canvas(figsize=size, dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        {
            "sweep": _draw_lines,
            "budget": _draw_lines,
            "trade-off": _draw_trade_off,
            "heatmap": _draw_heatmap,
        }[figure.kind](fig, ax, figure)
        ax.set_title(figure.title, loc="left")
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


def _size(figure: Figure) -> tuple[float, float]:
    if figure.kind != "heatmap":
        return (8.0, 4.5)
    longest = max((len(r) for r in figure.rows), default=0)
    width = 2.6 + 0.07 * longest + 0.95 * len(figure.columns)
    return (round(max(width, 6.0), 2), round(1.9 + 0.34 * len(figure.rows), 2))


#: A percentage axis stays within these limits and spans at least MIN_SPAN points.
PERCENT_LIMITS = (0.0, 100.0)
MIN_SPAN = 5.0


def _clamp(ax, percent: tuple[bool, bool]) -> None:
    """Keep percentage axes within 0-100 (and never a degenerate range: all points at 0)."""
    for shown, get, put in (
        (percent[0], ax.get_xlim, ax.set_xlim),
        (percent[1], ax.get_ylim, ax.set_ylim),
    ):
        if not shown:
            continue
        low, high = get()
        if high - low < MIN_SPAN:
            centre = (low + high) / 2
            low, high = centre - MIN_SPAN / 2, centre + MIN_SPAN / 2
        shift = max(PERCENT_LIMITS[0] - low, 0.0) - max(high - PERCENT_LIMITS[1], 0.0)
        low, high = low + shift, high + shift
        put(max(low, PERCENT_LIMITS[0]), min(high, PERCENT_LIMITS[1]))


def _style(index: int) -> dict[str, Any]:
    return {
        "color": PALETTE[index % len(PALETTE)],
        "marker": MARKERS[index % len(MARKERS)],
        "linestyle": LINESTYLES[(index // len(PALETTE)) % len(LINESTYLES)],
    }


def _draw_lines(fig, ax, figure: Figure) -> None:
    for series in figure.series:
        style = _style(series.style)
        ax.plot(
            series.x,
            series.y,
            label=series.label,
            linewidth=1.8,
            markersize=5,
            clip_on=False,
            **style,
        )
        if series.low is not None and series.high is not None:
            ax.fill_between(
                series.x, series.low, series.high, color=style["color"], alpha=0.15, linewidth=0
            )
    if figure.kind == "budget":
        ax.set_xscale("log")
        ax.minorticks_off()
    ax.set_xticks([x for x, _ in figure.ticks], [label for _, label in figure.ticks])
    ax.set_xlabel(figure.xlabel)
    ax.set_ylabel(figure.ylabel)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    _clamp(ax, figure.percent)


#: Label offsets (points) tried in turn until a label overlaps no other: right, left, below...
_OFFSETS = ((9, 6), (-9, 6), (9, -15), (-9, -15), (9, 20), (-9, 20), (9, -29), (-9, -29))


def _draw_trade_off(fig, ax, figure: Figure) -> None:
    for point in figure.points:
        style = _style(point.style)
        ax.errorbar(
            [point.x],
            [point.y],
            xerr=_whisker(point.x_ci, point.x),
            yerr=_whisker(point.y_ci, point.y),
            color=style["color"],
            marker=style["marker"],
            markersize=7,
            linestyle="none",
            elinewidth=1.2,
            capsize=3,
            clip_on=False,
        )
    ax.margins(0.2)
    ax.set_xlabel(figure.xlabel)
    ax.set_ylabel(figure.ylabel)
    _clamp(ax, figure.percent)
    _label_points(fig, ax, figure.points)


def _darker(colour: str) -> str:
    """A palette colour dark enough for text on white (the light yellow and sky blue)."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    if 0.299 * red + 0.587 * green + 0.114 * blue < 140:
        return colour
    return "#{:02X}{:02X}{:02X}".format(*(int(c * 0.6) for c in (red, green, blue)))


def _whisker(ci: tuple[float, float] | None, centre: float) -> list[list[float]] | None:
    """Matplotlib's asymmetric error bar of a CI around its point (None: no whisker)."""
    return None if ci is None else [[max(centre - ci[0], 0.0)], [max(ci[1] - centre, 0.0)]]


def _label_points(fig, ax, points: tuple[Point, ...]) -> None:
    """Name each point, at the first offset where its label covers no other label or point."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    fig.canvas.draw()  # settle the layout first (labels stay out of it)
    renderer = fig.canvas.get_renderer()
    pad = 6.0 * fig.dpi / 72  # a marker's half size, in pixels
    placed = []
    for point in points:
        x, y = ax.transData.transform((point.x, point.y))
        placed.append(Bbox.from_extents(x - pad, y - pad, x + pad, y + pad))
    for point in sorted(points, key=lambda p: (-p.y, -p.x, p.label)):
        for dx, dy in _OFFSETS:
            label = ax.annotate(
                point.label,
                (point.x, point.y),
                xytext=(dx, dy),
                textcoords="offset points",
                ha="left" if dx > 0 else "right",
                fontsize=8.5,
                color=_darker(PALETTE[point.style % len(PALETTE)]),
                arrowprops={
                    "arrowstyle": "-",
                    "color": PALETTE[point.style % len(PALETTE)],
                    "linewidth": 0.9,
                    "shrinkA": 0,
                    "shrinkB": 3,
                },
            )
            label.set_in_layout(False)
            label.update_positions(renderer)
            box = Text.get_window_extent(label, renderer)  # the text alone, not its line
            inside = ax.bbox.x0 <= box.x0 and box.x1 <= ax.bbox.x1 and box.y1 <= ax.bbox.y1
            free = inside and not any(box.overlaps(other) for other in placed)
            if free or (dx, dy) == _OFFSETS[-1]:
                placed.append(box)
                break
            label.remove()


def _draw_heatmap(fig, ax, figure: Figure) -> None:
    import numpy as np
    from matplotlib import colormaps

    values = np.array(
        [[np.nan if v is None else v for v in row] for row in figure.values], dtype=float
    ).reshape(len(figure.rows), len(figure.columns))
    cmap = colormaps["viridis"].with_extremes(bad="0.85")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=100, aspect="auto")
    ax.grid(False)
    ax.set_xticks(range(len(figure.columns)), figure.columns, rotation=30, ha="right")
    ax.set_yticks(range(len(figure.rows)), figure.rows)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    for (i, j), value in np.ndenumerate(values):
        dark = not np.isnan(value) and value < 55
        ax.text(
            j,
            i,
            tables.MISSING if np.isnan(value) else f"{value:.1f}",
            ha="center",
            va="center",
            fontsize=8.5,
            color="white" if dark else "black",
        )
    fig.colorbar(image, ax=ax, label="Accuracy (%)", shrink=0.9)
