"""The scoring method, exactly as documented (README "Scoring method"), over ``Decimal`` only.

1. A raw score is on 0–max_score; it is normalised to 0–100 before any weighting.
2. An evaluator group's score for an object × manual indicator is the mean of its members'
   submitted scores.
3. A manual indicator's score is the group-weight-weighted mean of the groups' scores. A group
   with no submissions for that object × indicator is left out and the other groups' weights are
   renormalised; with no submissions at all the indicator is *incomplete*.
4. An automatic indicator's score comes from its rule (``apply_rule``); without a value it is
   incomplete.
5. A parent's score is the weight-weighted mean of its children; it is incomplete when any child is.
6. The object's total is the weighted sum of the top-level indicators (weights sum to 100).
7. Nothing is rounded until the total, which is rounded once to 0.1 with ROUND_HALF_UP; grade,
   rank and payment band use the rounded total.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

HUNDRED = Decimal(100)
TENTH = Decimal("0.1")
ZERO = Decimal(0)


@dataclass(frozen=True)
class IndicatorDef:
    code: str
    weight: Decimal           # among its siblings, which sum to 100
    max_score: Decimal
    method: str = "manual"    # manual | auto (ignored for a parent: its score comes from its children)
    children: tuple[IndicatorDef, ...] = ()


@dataclass(frozen=True)
class Grade:
    min: Decimal
    label: str


# 优秀 ≥ 90, 良好 75–89.9, 合格 60–74.9, 不合格 < 60 (a plan may configure its own).
DEFAULT_GRADES = (Grade(Decimal(90), "优秀"), Grade(Decimal(75), "良好"), Grade(Decimal(60), "合格"),
                  Grade(ZERO, "不合格"))


@dataclass(frozen=True)
class PaymentBand:
    min: Decimal
    ratio: Decimal


@dataclass
class IndicatorScore:
    code: str
    score: Decimal | None                      # normalised 0–100, exact; None when incomplete
    group_scores: dict[str, Decimal] = field(default_factory=dict)   # group → normalised mean
    renormalised: bool = False                 # a group had no submissions and was left out
    children: list[IndicatorScore] = field(default_factory=list)

    @property
    def incomplete(self) -> bool:
        return self.score is None


@dataclass
class ObjectResult:
    object: str
    indicators: list[IndicatorScore]
    exact_total: Decimal | None
    total: Decimal | None = None
    grade: str | None = None
    payment_ratio: Decimal | None = None
    rank: int | None = None

    @property
    def incomplete(self) -> bool:
        return self.exact_total is None


@dataclass(slots=True)   # not frozen: compute() makes tens of thousands, and frozen costs twice as much
class Tally:
    """One group's submissions for an object × indicator, summed. Raw scores have at most three
    decimals, so the sum is exact; the database can produce it (``compute`` does) without rounding."""
    total: Decimal
    count: int

    @classmethod
    def of(cls, scores: Sequence[Decimal]) -> Tally:
        return cls(sum(scores, ZERO), len(scores))


def normalise(raw: Decimal, max_score: Decimal) -> Decimal:
    if max_score <= 0:
        raise ValueError("max_score must be positive")
    if not ZERO <= raw <= max_score:
        raise ValueError(f"score {raw} is outside 0–{max_score}")
    return raw * HUNDRED / max_score


def group_mean(tally: Tally, max_score: Decimal) -> Decimal:
    """The mean of the members' normalised scores. Normalising is linear, so this is
    Σraw × 100 ÷ (max × n): one division, and the same digits whether the members' scores arrive
    one by one or already summed."""
    if max_score <= 0:
        raise ValueError("max_score must be positive")
    if tally.count <= 0 or not ZERO <= tally.total <= max_score * tally.count:
        raise ValueError(f"scores summing to {tally.total} over {tally.count} are outside 0–{max_score}")
    return tally.total * HUNDRED / (max_score * tally.count)


def _weighted_mean(pairs: Sequence[tuple[Decimal, Decimal]]) -> Decimal:
    total_weight = weighted = ZERO
    for weight, score in pairs:   # one pass: this runs for every indicator of every object
        total_weight += weight
        weighted += weight * score
    return weighted / total_weight


Submissions = Sequence[Decimal] | Tally   # a group's raw member scores, one by one or summed


def _tally(scores: Submissions, max_score: Decimal) -> Tally | None:
    if isinstance(scores, Tally):
        return scores if scores.count else None
    for raw in scores:
        normalise(raw, max_score)   # refuses a score outside the scale, naming it
    return Tally.of(scores) if scores else None


def manual_score(indicator: IndicatorDef, submissions: Mapping[str, Submissions],
                 group_weights: Mapping[str, Decimal]) -> IndicatorScore:
    """``submissions``: group → the raw scores its members submitted for this object × indicator
    (or their ``Tally``)."""
    group_scores: dict[str, Decimal] = {}
    for group, scores in submissions.items():
        tally = _tally(scores, indicator.max_score)
        if tally is not None:
            group_scores[group] = group_mean(tally, indicator.max_score)
    if not group_scores.keys() <= group_weights.keys():
        raise ValueError(f"submissions from groups without a weight: {sorted(group_scores.keys() - group_weights)}")
    if not group_scores:
        return IndicatorScore(indicator.code, None)
    pairs = [(group_weights[g], s) for g, s in group_scores.items() if group_weights[g] > 0]
    if not pairs:
        return IndicatorScore(indicator.code, None, group_scores)
    weighted_groups = len([w for w in group_weights.values() if w > 0])
    return IndicatorScore(indicator.code, _weighted_mean(pairs), group_scores,
                          renormalised=len(group_scores) < weighted_groups)


def score_indicator(indicator: IndicatorDef, manual: Mapping[str, Mapping[str, Submissions]],
                    auto: Mapping[str, Decimal], group_weights: Mapping[str, Decimal]) -> IndicatorScore:
    """Score one indicator (and its subtree) for one object.

    ``manual``: indicator code → group → raw member scores; ``auto``: indicator code → raw score
    already produced by the indicator's rule.
    """
    if indicator.children:
        children = [score_indicator(c, manual, auto, group_weights) for c in indicator.children]
        if any(c.incomplete for c in children):
            return IndicatorScore(indicator.code, None, children=children)
        score = _weighted_mean([(d.weight, c.score) for d, c in zip(indicator.children, children, strict=True)
                                if c.score is not None])
        return IndicatorScore(indicator.code, score, children=children)
    if indicator.method == "auto":
        raw = auto.get(indicator.code)
        return IndicatorScore(indicator.code, None if raw is None else normalise(raw, indicator.max_score))
    return manual_score(indicator, manual.get(indicator.code, {}), group_weights)


def round_total(exact: Decimal) -> Decimal:
    return exact.quantize(TENTH, rounding=ROUND_HALF_UP)


def grade_for(total: Decimal, grades: Sequence[Grade] = DEFAULT_GRADES) -> str:
    for grade in sorted(grades, key=lambda g: g.min, reverse=True):
        if total >= grade.min:
            return grade.label
    return sorted(grades, key=lambda g: g.min)[0].label


def payment_ratio_for(total: Decimal, bands: Sequence[PaymentBand]) -> Decimal:
    """The ratio of the band with the highest ``min`` ≤ total; below every band, 0."""
    eligible = [b for b in bands if b.min <= total]
    return max(eligible, key=lambda b: b.min).ratio if eligible else ZERO


def score_object(object_code: str, tree: Sequence[IndicatorDef],
                 manual: Mapping[str, Mapping[str, Submissions]], auto: Mapping[str, Decimal],
                 group_weights: Mapping[str, Decimal], grades: Sequence[Grade] = DEFAULT_GRADES,
                 bands: Sequence[PaymentBand] = ()) -> ObjectResult:
    scores = [score_indicator(i, manual, auto, group_weights) for i in tree]
    if any(s.incomplete for s in scores):
        return ObjectResult(object_code, scores, None)
    exact = _weighted_mean([(d.weight, s.score) for d, s in zip(tree, scores, strict=True) if s.score is not None])
    total = round_total(exact)
    return ObjectResult(object_code, scores, exact, total, grade_for(total, grades),
                        payment_ratio_for(total, bands))


def rank(results: Sequence[ObjectResult]) -> None:
    """Competition ranking (1, 2, 2, 4) by rounded total; incomplete objects get no rank."""
    ordered = sorted((r for r in results if r.total is not None), key=lambda r: r.total or ZERO, reverse=True)
    for position, result in enumerate(ordered, 1):
        previous = ordered[position - 2] if position > 1 else None
        result.rank = previous.rank if previous is not None and previous.total == result.total else position


# ----------------------------------------------------------------------------- automatic rules

RULE_KINDS = ("linear", "thresholds", "ratio")


def _number(rule: Mapping[str, Any], key: str, default: Decimal | None = None) -> Decimal:
    value = rule.get(key, default)
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"rule.{key} must be a number") from None
    if not number.is_finite():
        raise ValueError(f"rule.{key} must be a finite number")
    return number


def check_rule(rule: Mapping[str, Any]) -> None:
    """Raise ValueError with a precise message when a rule cannot be applied."""
    kind = rule.get("kind")
    if kind not in RULE_KINDS:
        raise ValueError(f"rule.kind must be one of {', '.join(RULE_KINDS)}")
    if kind == "linear":
        if _number(rule, "worst") == _number(rule, "best"):
            raise ValueError("rule.worst and rule.best must differ")
    elif kind == "thresholds":
        bands = rule.get("bands")
        if not isinstance(bands, list) or not bands:
            raise ValueError("rule.bands must be a non-empty list of {min, score}")
        for band in bands:
            if not isinstance(band, Mapping):
                raise ValueError("rule.bands must be a non-empty list of {min, score}")
            _number(band, "min")
            _number(band, "score")
    elif _number(rule, "target", Decimal(1)) <= 0:
        raise ValueError("rule.target must be positive")


def apply_rule(rule: Mapping[str, Any], value: Decimal, max_score: Decimal) -> Decimal:
    """A collected value → a raw score on 0–max_score.

    ``linear``: ``worst`` scores 0 and ``best`` scores max_score, straight line between, clamped
    (``best`` may be below ``worst`` when lower is better, e.g. response minutes).
    ``thresholds``: ``bands`` of ``{min, score}``; the band with the highest ``min`` ≤ value wins,
    below every band scores 0; scores are clamped to 0–max_score.
    ``ratio``: value ÷ ``target`` (default 1) of max_score, clamped — e.g. a coverage rate.
    """
    check_rule(rule)
    kind = rule["kind"]
    if kind == "linear":
        worst, best = _number(rule, "worst"), _number(rule, "best")
        fraction = (value - worst) / (best - worst)
    elif kind == "thresholds":
        bands = [(_number(b, "min"), _number(b, "score")) for b in rule["bands"]]
        eligible = [b for b in bands if b[0] <= value]
        score = max(eligible)[1] if eligible else ZERO
        return min(max(score, ZERO), max_score)
    else:
        fraction = value / _number(rule, "target", Decimal(1))
    return min(max(fraction, ZERO), Decimal(1)) * max_score
