"""report.statistics: the mathematics pinned on hand-computed cases (pure numpy/scipy, fast)."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
from scipy import stats

from robustbench_nlp.measure.base import Outcomes
from robustbench_nlp.report import statistics as S

TEN = [1, 1, 0, 1, 0, 1, 1, 1, 0, 1]  # 7 of 10 correct


def ids(n: int, prefix: str = "x") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def keyed(values, prefix: str = "x") -> dict[str, bool]:
    return {k: bool(v) for k, v in zip(ids(len(values), prefix), values, strict=True)}


# -- outcome vectors ----------------------------------------------------------------------------


def test_outcome_vector_from_outcomes():
    outcomes = Outcomes(
        ["a", "b", "c", "a"],
        {"correct": [True, False, None, True], "queries": [3, 4, 5, 3]},
    )
    # None (not measured) is left out; the repeated id "a" is one example.
    assert S.outcome_vector(outcomes) == {"a": True, "b": False}
    with pytest.raises(ValueError, match="no outcome field"):
        S.outcome_vector(outcomes, "robust_accuracy@eps=0.1")
    with pytest.raises(ValueError, match="0/1"):
        S.outcome_vector(outcomes, "queries")
    clash = Outcomes(["a", "a"], {"correct": [True, False]})
    with pytest.raises(ValueError, match="twice"):
        S.outcome_vector(clash)


# -- bootstrap within one seed --------------------------------------------------------------------


def test_bootstrap_ci_pinned_numbers():
    ci = S.bootstrap_accuracy_ci(TEN)
    assert (ci.estimate, ci.low, ci.high) == (0.7, 0.4, 1.0)
    assert (ci.level, ci.n, ci.seeds, ci.n_resamples) == (0.95, 10, 1, 2000)
    assert ci.method == S.EXAMPLES_METHOD
    ci = S.bootstrap_accuracy_ci([1] * 20 + [0] * 13)
    assert (ci.low, ci.high) == (14 / 33, 26 / 33)
    ci = S.bootstrap_accuracy_ci([1] * 20 + [0] * 13, seed=1)
    assert (ci.low, ci.high) == (15 / 33, 25 / 33)


def test_bootstrap_ci_properties():
    small = S.bootstrap_accuracy_ci(TEN)
    large = S.bootstrap_accuracy_ci(TEN * 10)
    assert small.estimate in small and large.estimate in large
    assert small.low <= small.estimate <= small.high
    assert large.width < small.width  # narrows with more data
    assert S.bootstrap_accuracy_ci(TEN * 10) == large  # reproducible for the same seed
    assert S.bootstrap_accuracy_ci(TEN * 10, seed=7).estimate == large.estimate
    assert S.bootstrap_accuracy_ci(TEN * 10, level=0.5).width < large.width
    assert S.bootstrap_accuracy_ci(TEN * 10, level=0.99).width > large.width
    assert S.bootstrap_accuracy_ci(TEN, n_resamples=50).n_resamples == 50
    # A vector keyed by id, bools, or 0/1 numbers: the same interval.
    assert S.bootstrap_accuracy_ci(keyed(TEN)) == small
    assert S.bootstrap_accuracy_ci(np.array(TEN, dtype=float)) == small


def test_bootstrap_ci_matches_resampling_examples():
    """The binomial shortcut is the bootstrap of the mean: it agrees with scipy's percentile
    bootstrap, with literal index resampling, and with the exact Binomial(n, p)/n quantiles."""
    values = np.array([1] * 120 + [0] * 80)
    ci = S.bootstrap_accuracy_ci(values, n_resamples=4000)
    reference = stats.bootstrap(
        (values,), np.mean, n_resamples=4000, method="percentile", random_state=1
    ).confidence_interval
    assert ci.low == pytest.approx(reference.low, abs=0.011)
    assert ci.high == pytest.approx(reference.high, abs=0.011)
    rng = np.random.default_rng(2)
    means = values[rng.integers(0, len(values), size=(4000, len(values)))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    assert ci.low == pytest.approx(low, abs=0.011) and ci.high == pytest.approx(high, abs=0.011)
    exact = stats.binom(len(values), 0.6)
    assert ci.low == pytest.approx(exact.ppf(0.025) / 200, abs=0.011)
    assert ci.high == pytest.approx(exact.ppf(0.975) / 200, abs=0.011)


@pytest.mark.parametrize(
    ("values", "point"), [([0] * 12, 0.0), ([1] * 12, 1.0), ([1], 1.0), ([False], 0.0)]
)
def test_bootstrap_ci_degenerate_collapses(values, point):
    ci = S.bootstrap_accuracy_ci(values)
    assert (ci.estimate, ci.low, ci.high) == (point, point, point)
    assert ci.width == 0


def test_bootstrap_ci_rejects_bad_input():
    for empty in ([], {}):
        with pytest.raises(ValueError, match="no examples"):
            S.bootstrap_accuracy_ci(empty)
    with pytest.raises(ValueError, match="0/1"):
        S.bootstrap_accuracy_ci([1, 0, None])
    with pytest.raises(ValueError, match="0/1"):
        S.bootstrap_accuracy_ci([1, 0.5])
    with pytest.raises(ValueError, match="n_resamples"):
        S.bootstrap_accuracy_ci(TEN, n_resamples=0)
    with pytest.raises(ValueError, match="level"):
        S.bootstrap_accuracy_ci(TEN, level=95)


# -- two-level bootstrap over seeds and examples --------------------------------------------------


def test_hierarchical_ci_hand_computed():
    # Seeds at 0 and 1: resampling two seeds gives a mean of 0, 1/2 or 1 with probability
    # 1/4, 1/2, 1/4 (the examples add nothing: each seed is constant), so the 95% percentile
    # interval is [0, 1] around the mean of seeds 1/2.
    ci = S.hierarchical_accuracy_ci({0: [0] * 10, 1: [1] * 10})
    assert (ci.estimate, ci.low, ci.high) == (0.5, 0.0, 1.0)
    assert (ci.n, ci.seeds, ci.method) == (20, 2, S.HIERARCHICAL_METHOD)
    ci = S.hierarchical_accuracy_ci([[1] * 5, [1] * 8, [1]])
    assert (ci.estimate, ci.low, ci.high) == (1.0, 1.0, 1.0)


def test_hierarchical_ci_pinned_numbers():
    row = {0: TEN, 1: [1, 0, 1, 1, 1, 0, 1, 1], 2: [1, 1, 1, 0, 1]}
    ci = S.hierarchical_accuracy_ci(row)
    # Each seed weighs the same: (0.7 + 0.75 + 0.8) / 3, not 17/23 pooled.
    assert ci.estimate == pytest.approx(0.75, abs=1e-15)
    assert ci.low == pytest.approx(0.5666666666666667, abs=1e-12)
    assert ci.high == pytest.approx(0.9252083333333321, abs=1e-12)
    assert S.hierarchical_accuracy_ci(row) == ci  # reproducible
    assert ci.estimate in ci


def test_hierarchical_ci_includes_seed_variation():
    # Two seeds that disagree, 100 examples each: pooling the examples as one seed ignores the
    # spread between seeds, the two-level bootstrap does not.
    a, b = [1] * 90 + [0] * 10, [1] * 60 + [0] * 40
    two_level = S.hierarchical_accuracy_ci({0: a, 1: b})
    pooled = S.bootstrap_accuracy_ci(a + b)
    assert two_level.estimate == pooled.estimate == 0.75
    assert two_level.width > pooled.width
    # With the same vector for every seed, only example resampling is left: close to one seed's.
    same = S.hierarchical_accuracy_ci({0: a, 1: a, 2: a})
    assert same.width <= S.bootstrap_accuracy_ci(a).width + 1e-12


def test_row_ci_dispatches_on_seed_count():
    one = S.row_accuracy_ci({3: TEN})
    assert one == S.bootstrap_accuracy_ci(TEN) and one.method == S.EXAMPLES_METHOD
    row = {0: TEN, 1: TEN[::-1]}
    assert S.row_accuracy_ci(row) == S.hierarchical_accuracy_ci(row)
    assert S.row_accuracy_ci(row).method == S.HIERARCHICAL_METHOD
    with pytest.raises(ValueError, match="no seeds"):
        S.hierarchical_accuracy_ci({})
    with pytest.raises(ValueError, match="a row maps each seed to a vector"):
        S.row_accuracy_ci(TEN)  # one vector is not a row of seeds
    with pytest.raises(ValueError, match="seed 1: no examples"):
        S.hierarchical_accuracy_ci({0: TEN, 1: []})


# -- McNemar's exact test and Holm ----------------------------------------------------------------


def test_mcnemar_exact_p_hand_values():
    hand = 2 * sum(comb(10, k) for k in range(2)) / 2**10
    assert hand == 0.021484375
    assert S.mcnemar_exact_p(1, 9) == 0.021484375
    assert S.mcnemar_exact_p(9, 1) == 0.021484375
    assert S.mcnemar_exact_p(1, 9) == stats.binomtest(1, 10, 0.5).pvalue
    assert S.mcnemar_exact_p(0, 5) == 2 / 32
    assert S.mcnemar_exact_p(4, 4) == 1.0
    assert S.mcnemar_exact_p(0, 0) == 1.0
    for b, c in [(3, 17), (12, 20), (0, 1)]:
        assert S.mcnemar_exact_p(b, c) == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue)
    with pytest.raises(ValueError):
        S.mcnemar_exact_p(-1, 3)


def pairs(table: list[tuple[int, int]], prefix: str) -> tuple[dict, dict]:
    """Two cells over the same ids from (a correct, b correct) pairs."""
    a = {f"{prefix}{i}": bool(x) for i, (x, _) in enumerate(table)}
    b = {f"{prefix}{i}": bool(y) for i, (_, y) in enumerate(table)}
    return a, b


def test_discordant_counts_align_by_id():
    a, b = pairs([(1, 0), (0, 1), (0, 1), (1, 1), (0, 0)], "e")
    reversed_b = dict(reversed(list(b.items())))  # order does not matter, ids do
    a["only-in-a"] = True
    assert S.discordant_counts(a, reversed_b) == (1, 2, 5)


def test_mcnemar_pooled_over_matching_seeds():
    # Seed 0: b=1, c=4 (plus concordant pairs); seed 1: b=0, c=5; pooled b=1, c=9.
    a0, b0 = pairs([(1, 0)] + [(0, 1)] * 4 + [(1, 1)] * 6 + [(0, 0)] * 2, "s0-")
    a1, b1 = pairs([(0, 1)] * 5 + [(1, 1)] * 3, "s1-")
    a0["not-in-b"] = True
    row_a = {0: a0, 1: a1}
    row_b = {0: b0, 1: b1, 2: {"s2-0": True}}  # seed 2 has no partner: left out
    test = S.mcnemar_exact(row_a, row_b)
    assert (test.b, test.c, test.n, test.seeds) == (1, 9, 21, (0, 1))
    assert test.p_value == test.p_adjusted == 0.021484375
    assert test.direction == "worse"
    assert S.mcnemar_exact(row_b, row_a).direction == "better"
    assert S.mcnemar_exact(row_a, row_b, alpha=0.01).direction == "no detectable difference"
    same = S.mcnemar_exact(row_a, row_a)
    assert (same.b, same.c, same.p_value, same.direction) == (
        0,
        0,
        1.0,
        "no detectable difference",
    )
    with pytest.raises(ValueError, match="no seed in common"):
        S.mcnemar_exact({0: a0}, {1: b0})
    with pytest.raises(ValueError, match="no example in common"):
        S.mcnemar_exact({0: a0}, {0: {"elsewhere": True}})
    with pytest.raises(ValueError, match="alpha"):
        S.mcnemar_exact(row_a, row_b, alpha=5)


def test_holm_known_list():
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> max(0.06, 0.04).
    assert S.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert S.holm([0.02, 0.02]) == pytest.approx([0.04, 0.04])
    # 0.3*3 = 0.9, 0.6*2 = 1.2 -> 1 (capped), 0.9*1 = 0.9 -> 1 (monotone).
    assert S.holm([0.3, 0.9, 0.6]) == pytest.approx([0.9, 1.0, 1.0])
    assert S.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert S.holm([0.04]) == [0.04]
    assert S.holm([]) == []
    for bad in ([0.1, float("nan")], [1.5], [-0.1]):
        with pytest.raises(ValueError, match="p-values"):
            S.holm(bad)


def test_holm_correction_changes_directions():
    a0, b0 = pairs([(1, 0)] + [(0, 1)] * 9, "e")  # b=1, c=9: p = 0.0215
    big_a, big_b = pairs([(1, 0)] * 30 + [(1, 1)] * 5, "f")  # b=30, c=0: p = 2^-29
    tests = {
        "weak": S.mcnemar_exact({0: a0}, {0: b0}),
        "weak-2": S.mcnemar_exact({0: a0}, {0: b0}),
        "strong": S.mcnemar_exact({0: big_a}, {0: big_b}),
    }
    assert tests["weak"].direction == "worse"  # alone it is significant ...
    corrected = S.holm_correct(tests, alpha=0.05)
    assert corrected["weak"].p_adjusted == pytest.approx(2 * 0.021484375)
    assert corrected["strong"].p_adjusted == pytest.approx(3 * 2.0**-29)
    assert corrected["weak"].p_value == 0.021484375
    assert corrected["weak"].direction == "worse"  # 0.043 <= 0.05
    stricter = S.holm_correct(tests, alpha=0.04)
    assert stricter["weak"].direction == "no detectable difference"  # ... not in the family
    assert stricter["strong"].direction == "better"


def test_compare_rows_against_reference():
    baseline = {0: keyed([0] * 20), 1: keyed([0] * 20)}
    better = {0: keyed([1] * 20), 1: keyed([1] * 20)}
    same = {0: keyed([0] * 20), 1: keyed([0] * 20)}
    result = S.compare_rows(baseline, {"better": better, "same": same})
    assert (result["better"].b, result["better"].c, result["better"].n) == (40, 0, 40)
    assert result["better"].direction == "better"  # better than the reference
    assert result["better"].p_adjusted == pytest.approx(2 * (2 * 2.0**-40))  # Holm, m = 2
    assert (result["same"].p_adjusted, result["same"].direction) == (
        1.0,
        "no detectable difference",
    )


# -- worst case over an ensemble ------------------------------------------------------------------


def test_worst_case_on_differing_subsets():
    clean = {"a": True, "b": True, "c": True, "d": False, "e": True, "f": True}
    attacks = {
        "X": {"a": True, "b": False, "c": True, "d": True, "e": True},  # no "f"
        "Y": {"b": True, "c": True, "d": True, "e": False, "f": True, "g": True},  # no "a"
    }
    result = S.worst_case(clean, attacks)
    # Common ids b, c, d, e. b: broken by X; d: not clean-correct (attacks' True ignored);
    # e: broken by Y; c survives everything.
    assert result.robust == {"b": False, "c": True, "d": False, "e": False}
    assert (result.accuracy, result.n, result.excluded) == (0.25, 4, 3)  # a, f, g left out
    assert result.members == ("X", "Y")
    assert result.member_accuracy == {"X": 0.5, "Y": 0.5}
    assert result.accuracy <= min(result.member_accuracy.values())
    # The robust vector feeds the CIs and McNemar directly.
    assert S.bootstrap_accuracy_ci(result.robust).estimate == 0.25


def test_worst_case_single_member_and_errors():
    clean = keyed([1, 1, 0, 1])
    attack = keyed([1, 0, 1, 1])
    result = S.worst_case(clean, {"only": attack})
    assert list(result.robust.values()) == [True, False, False, True]
    assert (result.accuracy, result.excluded) == (0.5, 0)
    with pytest.raises(ValueError, match="at least one attack"):
        S.worst_case(clean, {})
    with pytest.raises(ValueError, match="share no example"):
        S.worst_case(clean, {"other": {"y0": True}})


# -- query-budget curve ---------------------------------------------------------------------------


def test_query_budget_curve_hand_built():
    results = ["successful", "successful", "successful", "failed", "skipped", "successful"]
    queries = [8, 25, 240, 900, 1, 1200]
    curve = S.query_budget_curve(results, queries)
    assert list(curve) == [10, 25, 50, 100, 250, "all"]
    # Wrong at B: the skipped one, plus the successes with queries <= B.
    assert curve == {
        10: 4 / 6,  # skipped, fooled at 8
        25: 3 / 6,  # + fooled at 25 (<= is within budget)
        50: 3 / 6,
        100: 3 / 6,
        250: 2 / 6,  # + fooled at 240
        "all": 1 / 6,  # + fooled at 1200; only the failed one survives
    }
    assert curve["all"] == np.mean([r == "failed" for r in results])  # the word attack's correct
    values = list(curve.values())
    assert values == sorted(values, reverse=True)  # never rises with the budget


def test_query_budget_curve_options_and_errors():
    results = ["successful", "maximumqueriesexhausted", "skipped", "failed"]
    curve = S.query_budget_curve(results, [30, 500, 1, 40], budgets=[100, 20, 20])
    assert curve == {20: 0.75, 100: 0.5, "all": 0.5}  # query-exhausted: not fooled
    with pytest.raises(ValueError, match="unknown attack result"):
        S.query_budget_curve(["fooled"], [3])
    with pytest.raises(ValueError, match="query count"):
        S.query_budget_curve(["successful"], [None])
    with pytest.raises(ValueError, match="budgets"):
        S.query_budget_curve(["failed"], [3], budgets=[0])
    with pytest.raises(ValueError, match="query counts"):
        S.query_budget_curve(["failed", "failed"], [3])
    with pytest.raises(ValueError, match="no examples"):
        S.query_budget_curve([], [])


# -- strength check -------------------------------------------------------------------------------


def test_strength_check_fires_on_a_large_drop():
    standard = keyed([1] * 60 + [0] * 40)
    stronger = keyed([1] * 55 + [0] * 45)
    check = S.strength_check(standard, stronger)
    assert check.unreliable and check.drop == pytest.approx(0.05) and check.n == 100
    assert (check.standard_accuracy, check.stronger_accuracy) == (0.6, 0.55)
    assert "drop" in check.reason and check.ci == S.bootstrap_accuracy_ci(list(standard.values()))


def test_strength_check_fires_outside_the_ci():
    # A drop of half a point is under the threshold, but the standard attack's CI is [1, 1].
    standard = keyed([1] * 1000)
    stronger = keyed([0] * 5 + [1] * 995)
    check = S.strength_check(standard, stronger)
    assert check.drop == pytest.approx(0.005) and check.ci.low == 1.0
    assert check.unreliable and "below the CI" in check.reason and "drop" not in check.reason
    # A threshold loose enough, and a CI wide enough: the flag needs both to stay quiet.
    assert S.strength_check(keyed(TEN), keyed([0] + TEN[1:]), threshold=0.5).unreliable is False


def test_strength_check_quiet():
    standard = keyed([1] * 50 + [0] * 50)
    assert not S.strength_check(standard, standard).unreliable
    # Exactly one point is not "more than" one point (0.5 - 0.49 > 0.01 in floating point).
    one_point = keyed([1] * 49 + [0] * 51)
    check = S.strength_check(standard, one_point)
    assert check.drop == pytest.approx(0.01) and not check.unreliable
    # A "stronger" attack that scores higher never flags the standard one.
    higher = S.strength_check(standard, keyed([1] * 70 + [0] * 30))
    assert higher.drop < 0 and not higher.unreliable
    # Aligned by id: only the examples both cover count.
    partial = S.strength_check(standard, {"x0": True, "x99": False})
    assert partial.n == 2 and partial.drop == 0
    with pytest.raises(ValueError, match="share no example"):
        S.strength_check(standard, {"other": True})
