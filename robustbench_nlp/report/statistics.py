"""Statistics on per-example outcomes: confidence intervals, paired tests, worst-case ensembles.

Everything here works on plain per-example vectors (no plugin names, no torch), so the
leaderboard can call it on what records already store:

- a *vector* is one cell's 0/1 outcome per example: a sequence of bools, or a mapping from
  example id to bool where examples must be aligned across cells (``outcome_vector`` builds one
  from an ``Outcomes``);
- a *row* is one recipe under one attack over its seeds: a mapping ``seed -> vector``.

Conventions (each function says which it uses):

- accuracies are fractions in [0, 1], never percentages;
- confidence intervals are percentile bootstrap intervals with a fixed seed (the same inputs and
  arguments give the same numbers, for a given NumPy version);
- a McNemar test of row A against row B counts ``b`` = examples A gets right and B wrong and
  ``c`` = examples A gets wrong and B right; "better" means A beats B;
- a test is significant when its (Holm-adjusted) p-value is at most ``alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

import numpy as np
from scipy import stats

#: One cell's 0/1 outcomes: in example order, or keyed by example id.
Vector = Sequence[bool] | Mapping[str, bool]
#: A query budget: a number of model queries, or "all" (no budget).
Budget = int | Literal["all"]
Direction = Literal["better", "worse", "no detectable difference"]

DEFAULT_RESAMPLES = 2000
DEFAULT_LEVEL = 0.95
DEFAULT_BOOTSTRAP_SEED = 0
DEFAULT_BUDGETS: tuple[int, ...] = (10, 25, 50, 100, 250)
#: Slack for comparisons of accuracies (differences of fractions carry rounding error:
#: 0.5 - 0.49 > 0.01 in floating point).
_EPS = 1e-12

EXAMPLES_METHOD = "percentile bootstrap over examples"
HIERARCHICAL_METHOD = "two-level percentile bootstrap: seeds, then examples within each seed"


class OutcomesLike(Protocol):
    """What ``outcome_vector`` reads: ``measure.base.Outcomes`` (not imported, to stay pure)."""

    ids: list[str]
    fields: dict[str, list[Any]]


# -- vectors ----------------------------------------------------------------------------------


def _as_bool(value: Any, where: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{where}: expected a 0/1 outcome, got {value!r}")


def outcome_vector(outcomes: OutcomesLike, field: str = "correct") -> dict[str, bool]:
    """Example id -> 0/1 outcome of ``field`` in one cell's outcomes.

    Examples whose value is None (not measured for this field) are left out, so alignment by id
    sees them as not covered. Ids are hashes of text, pair and label, so a repeated id is the
    same example listed twice: it is kept once, and conflicting values raise ValueError.
    """
    if field not in outcomes.fields:
        raise ValueError(f"no outcome field {field!r} (have {sorted(outcomes.fields)})")
    vector: dict[str, bool] = {}
    for key, value in zip(outcomes.ids, outcomes.fields[field], strict=True):
        if value is None:
            continue
        flag = _as_bool(value, f"field {field!r}, example {key}")
        if vector.setdefault(key, flag) != flag:
            raise ValueError(f"field {field!r}: example {key} listed twice with different values")
    return vector


def _binary(vector: Vector, what: str = "outcomes") -> np.ndarray:
    """A 0/1 float array of a vector (mapping values in their order); empty raises."""
    values = list(vector.values()) if isinstance(vector, Mapping) else list(vector)
    if not values:
        raise ValueError(f"{what}: no examples")
    return np.array([_as_bool(v, what) for v in values], dtype=float)


def _by_seed(row: Mapping[Hashable, Vector] | Sequence[Vector]) -> list[np.ndarray]:
    items = list(row.items()) if isinstance(row, Mapping) else list(enumerate(row))
    if not items:
        raise ValueError("no seeds")
    for seed, vector in items:
        if not isinstance(vector, (Sequence, Mapping, np.ndarray)) or isinstance(vector, str):
            raise ValueError(f"seed {seed}: a row maps each seed to a vector, got {vector!r}")
    return [_binary(vector, f"seed {seed}") for seed, vector in items]


# -- bootstrap confidence intervals -------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap confidence interval (fractions in [0, 1])."""

    estimate: float
    low: float
    high: float
    level: float
    #: Examples behind the estimate (summed over seeds).
    n: int
    seeds: int
    method: str
    n_resamples: int

    def __contains__(self, value: float) -> bool:
        return self.low - _EPS <= value <= self.high + _EPS

    @property
    def width(self) -> float:
        return self.high - self.low


def _check_bootstrap_args(n_resamples: int, level: float) -> None:
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")


def _percentile(
    statistic: np.ndarray, level: float, estimate: float, n: int, seeds: int, method: str
) -> Interval:
    alpha = 1 - level
    low, high = np.quantile(statistic, [alpha / 2, 1 - alpha / 2])
    # Clamp rounding noise so that a degenerate distribution collapses onto the point exactly.
    low, high = min(float(low), estimate), max(float(high), estimate)
    return Interval(estimate, low, high, level, n, seeds, method, len(statistic))


def bootstrap_accuracy_ci(
    correct: Vector,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = DEFAULT_BOOTSTRAP_SEED,
) -> Interval:
    """Percentile bootstrap CI of an accuracy within one seed (examples resampled).

    Resampling n examples with replacement from a 0/1 vector with k ones yields a number of
    ones distributed Binomial(n, k/n); the resampled accuracies are drawn as exactly that
    (``numpy.random.default_rng(seed).binomial``), which is the bootstrap distribution of the
    mean without materialising n_resamples x n indices. All-0 / all-1 vectors (and a single
    example) collapse the interval onto the point; an empty vector raises ValueError.
    """
    _check_bootstrap_args(n_resamples, level)
    values = _binary(correct)
    n = len(values)
    estimate = float(values.mean())
    rng = np.random.default_rng(seed)
    statistic = rng.binomial(n, estimate, size=n_resamples) / n
    return _percentile(statistic, level, estimate, n, 1, EXAMPLES_METHOD)


def hierarchical_accuracy_ci(
    row: Mapping[Hashable, Vector] | Sequence[Vector],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = DEFAULT_BOOTSTRAP_SEED,
) -> Interval:
    """Two-level percentile bootstrap CI of a row's accuracy over seeds and examples.

    Each resample draws S seeds with replacement from the row's S seeds, then resamples each
    chosen seed's examples with replacement (as in ``bootstrap_accuracy_ci``: a binomial count
    of correct examples); the statistic is the mean of the chosen seeds' accuracies, every seed
    weighted equally as in the board's mean over seeds, and the point estimate is that mean.
    Both sources of variation (training seed and test sample) are in the interval. With few
    seeds the seed level takes few distinct values, so the interval is coarse.
    """
    _check_bootstrap_args(n_resamples, level)
    seeds = _by_seed(row)
    sizes = np.array([len(v) for v in seeds])
    accuracies = np.array([v.mean() for v in seeds])
    estimate = float(accuracies.mean())
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, len(seeds), size=(n_resamples, len(seeds)))
    counts = rng.binomial(sizes[chosen], accuracies[chosen])
    statistic = (counts / sizes[chosen]).mean(axis=1)
    return _percentile(
        statistic, level, estimate, int(sizes.sum()), len(seeds), HIERARCHICAL_METHOD
    )


def row_accuracy_ci(
    row: Mapping[Hashable, Vector] | Sequence[Vector],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = DEFAULT_BOOTSTRAP_SEED,
) -> Interval:
    """The CI a leaderboard cell shows: over examples for one seed, two-level for several.

    ``Interval.method`` says which was used.
    """
    seeds = list(row.values()) if isinstance(row, Mapping) else list(row)
    if len(seeds) == 1:
        return bootstrap_accuracy_ci(seeds[0], n_resamples=n_resamples, level=level, seed=seed)
    return hierarchical_accuracy_ci(row, n_resamples=n_resamples, level=level, seed=seed)


# -- paired significance ------------------------------------------------------------------------


@dataclass(frozen=True)
class McNemar:
    """McNemar's exact test of row A against row B on the same examples, pooled over seeds.

    ``b``: A right, B wrong; ``c``: A wrong, B right; ``n``: aligned (seed, example) pairs.
    ``p_adjusted`` equals ``p_value`` until a family correction (``holm_correct``) sets it;
    ``direction`` is read from ``p_adjusted`` at ``alpha``.
    """

    b: int
    c: int
    n: int
    seeds: tuple[Hashable, ...]
    p_value: float
    p_adjusted: float
    alpha: float
    direction: Direction


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: the binomial test of b successes in b + c at p = 0.5.

    No discordant pairs (b = c = 0) carry no evidence either way: p = 1.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got b={b}, c={c}")
    if b + c == 0:
        return 1.0
    return float(stats.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)


def discordant_counts(a: Mapping[str, bool], b: Mapping[str, bool]) -> tuple[int, int, int]:
    """(b, c, n) for two cells aligned by example id over the ids both cover.

    b: right in ``a`` and wrong in ``b``; c: the reverse; n: examples in common.
    """
    common = [key for key in a if key in b]
    right_a = np.array([_as_bool(a[k], f"example {k}") for k in common], dtype=bool)
    right_b = np.array([_as_bool(b[k], f"example {k}") for k in common], dtype=bool)
    return int((right_a & ~right_b).sum()), int((~right_a & right_b).sum()), len(common)


def _direction(b: int, c: int, p: float, alpha: float) -> Direction:
    if p <= alpha and b != c:
        return "better" if b > c else "worse"
    return "no detectable difference"


def mcnemar_exact(
    a: Mapping[Hashable, Mapping[str, bool]],
    b: Mapping[Hashable, Mapping[str, bool]],
    *,
    alpha: float = 0.05,
) -> McNemar:
    """McNemar's exact test of row ``a`` against row ``b`` (each ``seed -> id -> correct``).

    Only seeds both rows have are paired (seed s of A with seed s of B, the same training seed),
    and within a seed only the example ids both cover; the discordant counts of all seed pairs
    are summed and tested once. Raises ValueError when no seed or no example is shared.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    seeds = tuple(s for s in a if s in b)
    if not seeds:
        raise ValueError(f"no seed in common (A: {list(a)}, B: {list(b)})")
    total_b = total_c = total_n = 0
    for s in seeds:
        db, dc, dn = discordant_counts(a[s], b[s])
        total_b, total_c, total_n = total_b + db, total_c + dc, total_n + dn
    if total_n == 0:
        raise ValueError("no example in common between the two rows")
    p = mcnemar_exact_p(total_b, total_c)
    return McNemar(
        total_b, total_c, total_n, seeds, p, p, alpha, _direction(total_b, total_c, p, alpha)
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input's order.

    Sorted ascending, p_(i) becomes max over j <= i of min(1, (m - j + 1) p_(j)); rejecting
    where the adjusted value is at most alpha controls the family-wise error rate at alpha.
    Ties keep their input order (the adjusted values are the same either way).
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError("p-values must be a flat list")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"p-values must lie in [0, 1], got {list(p_values)}")
    m = len(p)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted.tolist()


def holm_correct(tests: Mapping[Hashable, McNemar], alpha: float = 0.05) -> dict[Hashable, McNemar]:
    """The same tests with Holm-adjusted p-values over the family and directions re-read."""
    keys = list(tests)
    adjusted = holm([tests[k].p_value for k in keys])
    corrected: dict[Hashable, McNemar] = {}
    for key, q in zip(keys, adjusted, strict=True):
        t = tests[key]
        corrected[key] = replace(
            t, p_adjusted=q, alpha=alpha, direction=_direction(t.b, t.c, q, alpha)
        )
    return corrected


def compare_rows(
    reference: Mapping[Hashable, Mapping[str, bool]],
    others: Mapping[Hashable, Mapping[Hashable, Mapping[str, bool]]],
    *,
    alpha: float = 0.05,
) -> dict[Hashable, McNemar]:
    """Each of ``others`` tested against ``reference`` (A = the other row, B = the reference:
    "better" means better than the reference), Holm-corrected over the family."""
    tests = {name: mcnemar_exact(row, reference, alpha=alpha) for name, row in others.items()}
    return holm_correct(tests, alpha)


# -- worst case over an attack ensemble ---------------------------------------------------------


@dataclass(frozen=True)
class WorstCase:
    """Worst-case robustness of one row and seed over an ensemble of attacks."""

    #: Example id -> robust (clean-correct and correct under every member), in clean order.
    robust: dict[str, bool]
    accuracy: float
    #: Examples every member (and the clean vector) covers: the denominator of ``accuracy``.
    n: int
    #: Examples some member or the clean vector covers but not all: left out of ``n``.
    excluded: int
    members: tuple[str, ...]
    #: Each member's own accuracy (clean-correct and still correct) on the same ``n`` examples.
    member_accuracy: dict[str, float]


def worst_case(clean: Mapping[str, bool], attacks: Mapping[str, Mapping[str, bool]]) -> WorstCase:
    """Worst-case (ensemble) robust accuracy of one row and seed.

    An example is robust only if it is clean-correct and still correct under every attack of
    the ensemble. Attacks measured on different example subsets (another ``max_examples``) are
    compared on the ids that the clean vector and every member cover, since an example missing
    from one member has no verdict from it; ``n`` and ``excluded`` say how many were kept and
    left out. Raises ValueError for an empty ensemble or an empty intersection.
    """
    if not attacks:
        raise ValueError("an ensemble needs at least one attack")
    members = tuple(attacks)
    common = [k for k in clean if all(k in attacks[m] for m in members)]
    if not common:
        raise ValueError(f"the clean vector and attacks {list(members)} share no example")
    union = set(clean).union(*(attacks[m] for m in members))
    base = np.array([_as_bool(clean[k], f"clean, example {k}") for k in common], dtype=bool)
    still = {
        m: base & np.array([_as_bool(attacks[m][k], f"{m}, example {k}") for k in common])
        for m in members
    }
    robust = np.logical_and.reduce([base, *still.values()])
    return WorstCase(
        robust=dict(zip(common, robust.tolist(), strict=True)),
        accuracy=float(robust.mean()),
        n=len(common),
        excluded=len(union) - len(common),
        members=members,
        member_accuracy={m: float(v.mean()) for m, v in still.items()},
    )


# -- word attacks: accuracy under a query budget ------------------------------------------------

#: TextAttack result kinds (``type(result).__name__`` less "AttackResult", lowercased).
_NOT_FOOLED = frozenset({"failed", "maximumqueriesexhausted"})


def query_budget_curve(
    results: Sequence[str],
    queries: Sequence[int | None],
    budgets: Sequence[int] = DEFAULT_BUDGETS,
) -> dict[Budget, float]:
    """Accuracy under a word attack as a function of its query budget: {budget: accuracy}.

    Within budget B an example is fooled only if the attack succeeded with at most B queries,
    and wrong only if fooled or skipped (misclassified before the attack: wrong at every
    budget); failed and query-exhausted examples stay correct. This reads one unlimited run, so
    it assumes the search would take the same path under a budget (it does for TextAttack's
    deterministic searches up to the B-th query). The "all" entry is the accuracy of the run.
    """
    if len(results) != len(queries):
        raise ValueError(f"{len(results)} results for {len(queries)} query counts")
    if not results:
        raise ValueError("no examples")
    steps = sorted(set(budgets))
    if any(not isinstance(b, (int, np.integer)) or isinstance(b, bool) or b < 1 for b in steps):
        raise ValueError(f"budgets must be positive integers, got {list(budgets)}")
    known = _NOT_FOOLED | {"successful", "skipped"}
    skipped = np.zeros(len(results), dtype=bool)
    fooled = np.zeros(len(results), dtype=bool)
    fooled_at = np.zeros(len(results))  # queries it took to fool (successful examples)
    for i, (result, count) in enumerate(zip(results, queries, strict=True)):
        if result not in known:
            raise ValueError(f"example {i}: unknown attack result {result!r}")
        if result == "skipped":
            skipped[i] = True
        elif result == "successful":
            if count is None or count < 0:
                raise ValueError(f"example {i}: a successful attack needs its query count")
            fooled[i], fooled_at[i] = True, count
    curve: dict[Budget, float] = {}
    for budget in [*steps, math.inf]:
        wrong = skipped | (fooled & (fooled_at <= budget))
        curve["all" if budget == math.inf else int(budget)] = float((~wrong).mean())
    return curve


# -- strength check -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StrengthCheck:
    """A standard attack against its stronger version on the same examples."""

    standard_accuracy: float
    stronger_accuracy: float
    #: standard_accuracy - stronger_accuracy (positive: the stronger attack finds more).
    drop: float
    #: Bootstrap CI of the standard attack's accuracy on these examples.
    ci: Interval
    n: int
    unreliable: bool
    reason: str


def strength_check(
    standard: Mapping[str, bool],
    stronger: Mapping[str, bool],
    *,
    threshold: float = 0.01,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = DEFAULT_BOOTSTRAP_SEED,
) -> StrengthCheck:
    """Flag a standard attack "unreliable" when a stronger version of it finds much more.

    Robust vectors are aligned by example id (the ids both cover). The flag fires when the
    stronger attack lowers robust accuracy by more than ``threshold`` (absolute, on the fraction
    scale: 0.01 is one point) or when its accuracy falls below the lower end of the bootstrap CI
    of the standard attack's accuracy (the drop lies outside that CI); a stronger attack that
    scores higher never fires it.
    """
    common = [k for k in standard if k in stronger]
    if not common:
        raise ValueError("the two attacks share no example")
    std = _binary([standard[k] for k in common], "standard attack")
    strong = _binary([stronger[k] for k in common], "stronger attack")
    ci = bootstrap_accuracy_ci(std, n_resamples=n_resamples, level=level, seed=seed)
    std_acc, strong_acc = float(std.mean()), float(strong.mean())
    drop = std_acc - strong_acc
    reasons = []
    if drop > threshold + _EPS:
        reasons.append(f"drop {drop:.4f} > {threshold:g}")
    if strong_acc < ci.low - _EPS:
        reasons.append(
            f"stronger accuracy {strong_acc:.4f} below the CI [{ci.low:.4f}, {ci.high:.4f}]"
        )
    return StrengthCheck(
        standard_accuracy=std_acc,
        stronger_accuracy=strong_acc,
        drop=drop,
        ci=ci,
        n=len(common),
        unreliable=bool(reasons),
        reason="; ".join(reasons) if reasons else "within threshold and CI",
    )
