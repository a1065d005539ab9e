"""The scoring method decides how much of a year's O&M fee is paid: properties it must always keep."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.scoring.method import (
    DEFAULT_GRADES,
    IndicatorDef,
    PaymentBand,
    apply_rule,
    check_rule,
    grade_for,
    manual_score,
    payment_ratio_for,
    rank,
    round_total,
    score_object,
)

D = Decimal


def tree() -> list[IndicatorDef]:
    return [
        IndicatorDef("A", D(60), D(100), children=(
            IndicatorDef("A1", D(40), D(100), "auto"),
            IndicatorDef("A2", D(60), D(10), "manual"),
        )),
        IndicatorDef("B", D(40), D(5), "manual"),
    ]


GROUPS = {"experts": D(70), "office": D(30)}

scores_0_10 = st.decimals(min_value=0, max_value=10, places=1)
scores_0_5 = st.decimals(min_value=0, max_value=5, places=2)
scores_0_100 = st.decimals(min_value=0, max_value=100, places=1)
members = st.lists(scores_0_10, min_size=1, max_size=5)


def test_a_worked_example_matches_the_documented_method():
    manual = {"A2": {"experts": [D(8), D(9)], "office": [D(10)]}, "B": {"experts": [D(4)], "office": [D(5)]}}
    result = score_object("GAT", tree(), manual, {"A1": D(70)}, GROUPS)
    # A2: experts mean 85, office 100 → 0.7×85 + 0.3×100 = 89.5; A = 0.4×70 + 0.6×89.5 = 81.7
    # B: experts 80, office 100 → 86;  total = 0.6×81.7 + 0.4×86 = 83.42 → 83.4
    assert result.indicators[0].children[1].score == D("89.5")
    assert result.indicators[0].score == D("81.7")
    assert result.exact_total == D("83.42") and result.total == D("83.4")
    assert result.grade == "良好"


@given(experts=members, office=members)
def test_a_manual_score_is_the_group_weighted_mean_of_member_means(experts, office):
    indicator = IndicatorDef("A2", D(100), D(10))
    result = manual_score(indicator, {"experts": experts, "office": office}, GROUPS)
    mean = lambda xs: sum(xs, D(0)) / len(xs) * 10  # noqa: E731  (normalised to 0–100)
    assert result.score == (D(70) * mean(experts) + D(30) * mean(office)) / D(100)
    assert D(0) <= result.score <= D(100)


@given(experts=members)
def test_a_group_without_submissions_is_left_out_and_the_others_renormalised(experts):
    indicator = IndicatorDef("A2", D(100), D(10))
    result = manual_score(indicator, {"experts": experts, "office": []}, GROUPS)
    alone = manual_score(indicator, {"experts": experts}, {"experts": D(1)})
    assert result.score == alone.score and result.renormalised


def test_no_submissions_at_all_leaves_the_indicator_and_the_total_incomplete():
    result = score_object("GAT", tree(), {"A2": {"experts": [D(8)]}}, {"A1": D(70)}, GROUPS)
    assert result.indicators[1].incomplete and result.incomplete
    assert result.total is None and result.grade is None


def test_an_automatic_indicator_without_a_value_is_incomplete():
    manual = {"A2": {"experts": [D(8)]}, "B": {"experts": [D(4)]}}
    result = score_object("GAT", tree(), manual, {}, GROUPS)
    assert result.indicators[0].children[0].incomplete and result.indicators[0].incomplete and result.incomplete


@given(a1=scores_0_100, a2=members, b=st.lists(scores_0_5, min_size=1, max_size=5),
       order=st.randoms())
def test_totals_stay_within_0_and_100_and_ignore_member_order(a1, a2, b, order):
    result = score_object("X", tree(), {"A2": {"experts": a2}, "B": {"office": b}}, {"A1": a1}, GROUPS)
    shuffled_a2, shuffled_b = list(a2), list(b)
    order.shuffle(shuffled_a2)
    order.shuffle(shuffled_b)
    again = score_object("X", tree(), {"A2": {"experts": shuffled_a2}, "B": {"office": shuffled_b}}, {"A1": a1},
                         GROUPS)
    assert result.exact_total is not None and D(0) <= result.exact_total <= D(100)
    assert again.total == result.total


def test_all_full_marks_give_100_and_all_zeros_give_0():
    full = score_object("X", tree(), {"A2": {"experts": [D(10)]}, "B": {"office": [D(5)]}}, {"A1": D(100)}, GROUPS)
    zero = score_object("X", tree(), {"A2": {"experts": [D(0)]}, "B": {"office": [D(0)]}}, {"A1": D(0)}, GROUPS)
    assert (full.total, full.grade) == (D("100.0"), "优秀")
    assert (zero.total, zero.grade) == (D("0.0"), "不合格")


@given(st.decimals(min_value=0, max_value=100, places=6))
def test_the_total_is_rounded_once_half_up_to_a_tenth(exact):
    assert round_total(exact) == exact.quantize(D("0.1"), rounding=ROUND_HALF_UP)
    assert abs(round_total(exact) - exact) <= D("0.05")


@pytest.mark.parametrize(("exact", "total", "grade"), [
    ("89.95", "90.0", "优秀"), ("89.949", "89.9", "良好"), ("90", "90.0", "优秀"),
    ("74.95", "75.0", "良好"), ("74.94", "74.9", "合格"), ("59.95", "60.0", "合格"), ("59.94", "59.9", "不合格"),
])
def test_grades_use_the_rounded_total_at_their_edges(exact, total, grade):
    rounded = round_total(D(exact))
    assert rounded == D(total) and grade_for(rounded, DEFAULT_GRADES) == grade


BANDS = [PaymentBand(D(90), D(1)), PaymentBand(D(80), D("0.9")), PaymentBand(D(60), D("0.7"))]


@pytest.mark.parametrize(("total", "ratio"), [
    ("100.0", "1"), ("90.0", "1"), ("89.9", "0.9"), ("80.0", "0.9"), ("79.9", "0.7"), ("60.0", "0.7"),
    ("59.9", "0"), ("0.0", "0"),
])
def test_the_payment_band_with_the_highest_min_below_the_total_wins(total, ratio):
    assert payment_ratio_for(D(total), BANDS) == D(ratio)


@given(st.decimals(min_value=0, max_value=100, places=1), st.decimals(min_value=0, max_value=100, places=1))
def test_a_higher_total_never_pays_less(x, y):
    low, high = sorted((x, y))
    assert payment_ratio_for(low, BANDS) <= payment_ratio_for(high, BANDS)


def test_ranks_are_competition_ranks_over_rounded_totals_and_skip_incomplete_objects():
    def result(code, a1, incomplete=False):
        manual = {"A2": {"experts": [D(10)]}} if incomplete else {"A2": {"experts": [D(10)]}, "B": {"office": [D(5)]}}
        return score_object(code, tree(), manual, {"A1": D(a1)}, GROUPS)
    results = [result("a", 50), result("b", 90), result("c", "90.01"), result("d", 10), result("e", 99, True)]
    rank(results)
    assert [(r.object, r.rank) for r in results] == [("a", 3), ("b", 1), ("c", 1), ("d", 4), ("e", None)]


def test_a_raw_score_outside_the_scale_is_refused():
    with pytest.raises(ValueError, match="outside"):
        manual_score(IndicatorDef("B", D(100), D(5)), {"experts": [D(6)]}, GROUPS)


# ----------------------------------------------------------------------------- rules

@given(st.decimals(min_value=-1000, max_value=1000, places=2))
def test_linear_rules_are_clamped_to_the_scale(value):
    score = apply_rule({"kind": "linear", "worst": 60, "best": 5}, value, D(100))  # minutes: lower is better
    assert D(0) <= score <= D(100)


def test_linear_rules_map_worst_to_zero_and_best_to_full_marks():
    rule = {"kind": "linear", "worst": "80", "best": "100"}
    assert apply_rule(rule, D(80), D(10)) == 0 and apply_rule(rule, D(100), D(10)) == 10
    assert apply_rule(rule, D(90), D(10)) == 5
    assert apply_rule({"kind": "linear", "worst": 60, "best": 30}, D(45), D(100)) == 50


def test_threshold_rules_take_the_highest_band_reached():
    rule = {"kind": "thresholds", "bands": [{"min": 0.95, "score": 100}, {"min": 0.9, "score": 80},
                                            {"min": 0.8, "score": 60}]}
    assert [apply_rule(rule, D(v), D(100)) for v in ("0.99", "0.95", "0.94", "0.8", "0.79")] == [100, 100, 80, 60, 0]


def test_ratio_rules_scale_by_the_target():
    assert apply_rule({"kind": "ratio"}, D("0.875"), D(100)) == D("87.500")
    assert apply_rule({"kind": "ratio", "target": 200}, D(300), D(10)) == 10


@settings(max_examples=25)
@given(st.sampled_from([{"kind": "quadratic"}, {"kind": "linear", "worst": 1, "best": 1},
                        {"kind": "linear", "worst": "x", "best": 1}, {"kind": "thresholds", "bands": []},
                        {"kind": "thresholds", "bands": [{"min": "NaN", "score": 1}]},
                        {"kind": "ratio", "target": 0}]))
def test_unusable_rules_are_refused_with_a_message(rule):
    with pytest.raises(ValueError, match="rule"):
        check_rule(rule)
