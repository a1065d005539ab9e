"""compute() sums scores in the database; it must give exactly what the method gives on every entry."""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.database import write_transaction
from app.extensions import db
from app.models import Plan, Role, ScoreEntry, Unit, User
from app.scoring import method
from app.services import scoring
from tests.conftest import plan_payload

D = Decimal
# Maximum scores that make normalising non-terminating (3, 7) as well as exact ones.
TREE = [
    {"code": "A", "name": "服务质量", "weight": 60, "children": [
        {"code": "A1", "name": "响应", "weight": 30, "max_score": 3},
        {"code": "A2", "name": "态度", "weight": 70, "max_score": 7}]},
    {"code": "B", "name": "系统运行", "weight": "33.333", "max_score": 100},
    {"code": "C", "name": "安全", "weight": "6.667", "max_score": "12.5"},
]
LEAVES = {"A1": D(3), "A2": D(7), "B": D(100), "C": D("12.5")}
EVALUATORS = ("ev1", "ev2", "ev3", "ev4")


@pytest.fixture
def plan_id(people, make_user, api_as) -> int:
    for name in EVALUATORS:
        make_user(name, Role.EVALUATOR, unit="RST")
    payload = plan_payload(indicators=TREE, evaluators=[{"role": "evaluator", "weight": "66.667"},
                                                        {"unit": "KHB", "weight": "33.333"}])
    created = api_as("manager").post("/plans", payload)
    assert created.status_code == 201, created.json
    return int(created.json["id"])


def thousandths(max_score: Decimal) -> st.SearchStrategy[Decimal]:
    return st.integers(0, int(max_score * 1000)).map(lambda n: D(n).scaleb(-3))


# One draw per (object, leaf, evaluator): absent, a draft, or a submitted score for one of the groups.
ENTRY = st.tuples(st.sampled_from(["none", "draft", "submitted", "submitted"]), st.integers(0, 1))
ENTRIES = st.fixed_dictionaries({
    (obj, code, ev): st.tuples(ENTRY, thousandths(LEAVES[code]))
    for obj in ("GAT", "CS") for code in LEAVES for ev in EVALUATORS})


def store(app: Flask, plan_id: int, drawn: dict[tuple[str, str, str], Any]) -> None:
    with app.app_context(), write_transaction():
        plan = db.session.get(Plan, plan_id)
        assert plan is not None
        units = dict(db.session.execute(sa.select(Unit.code, Unit.id)).all())
        users = dict(db.session.execute(sa.select(User.username, User.id)).all())
        indicators = {i.code: i.id for i in plan.indicators}
        groups = [g.id for g in plan.evaluators]
        db.session.execute(sa.delete(ScoreEntry).where(ScoreEntry.plan_id == plan_id))
        rows = [{"plan_id": plan_id, "object_id": units[obj], "indicator_id": indicators[code],
                 "evaluator_id": users[ev], "group_id": groups[group], "score": score,
                 "submitted": kind == "submitted"}
                for (obj, code, ev), ((kind, group), score) in drawn.items() if kind != "none"]
        if rows:
            db.session.execute(sa.insert(ScoreEntry), rows)


def straightforward(plan: Plan) -> list[method.ObjectResult]:
    """The method applied to every submitted entry loaded one by one, as compute() once did."""
    tree = scoring._tree(plan.indicators)
    weights = {str(g.id): g.weight for g in plan.evaluators}
    manual: dict[str, dict[str, dict[str, list[Decimal]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for entry in db.session.scalars(sa.select(ScoreEntry).where(ScoreEntry.plan_id == plan.id, ScoreEntry.submitted)):
        manual[entry.object.code][entry.indicator.code][str(entry.group_id)].append(entry.score)
    bands = [method.PaymentBand(D(b["min"]), D(b["ratio"])) for b in plan.payment_bands or []]
    results = [method.score_object(o.unit.code, tree, manual.get(o.unit.code, {}), {}, weights, bands=bands)
               for o in plan.objects]
    method.rank(results)
    return results


def flat(result: method.ObjectResult) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []

    def walk(scores: list[method.IndicatorScore]) -> None:
        for s in scores:
            out.append((s.code, s.score, s.group_scores, s.renormalised))
            walk(s.children)
    walk(result.indicators)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=ENTRIES)
def test_compute_gives_exactly_the_methods_results_on_random_entries(app, plan_id, drawn):
    store(app, plan_id, drawn)
    with app.app_context():
        plan = db.session.get(Plan, plan_id)
        fast, slow = scoring.compute(plan).results, straightforward(plan)
        assert [(r.object, r.exact_total, r.total, r.grade, r.rank) for r in fast] == \
               [(r.object, r.exact_total, r.total, r.grade, r.rank) for r in slow]
        assert [flat(r) for r in fast] == [flat(r) for r in slow]


def test_scores_with_three_decimals_are_summed_exactly_where_floating_point_would_not_be(app, plan_id):
    # 0.1 + 0.2 in binary floating point is not 0.3; in thousandths it is.
    drawn = {("GAT", "B", ev): (("none", 0), D(0)) for ev in EVALUATORS}
    for ev, score in zip(EVALUATORS, ("0.1", "0.2", "33.333", "66.671"), strict=True):
        drawn[("GAT", "B", ev)] = (("submitted", 0), D(score))
    store(app, plan_id, drawn)
    with app.app_context():
        plan = db.session.get(Plan, plan_id)
        [b] = [s for s in scoring.compute(plan).results[0].indicators if s.code == "B"]
        assert list(b.group_scores.values()) == [D("100.304") / 4]


@given(st.lists(thousandths(D(7)), min_size=1, max_size=12))
def test_a_group_mean_is_the_correctly_rounded_mean_of_the_normalised_scores(scores):
    exact = sum((Fraction(s) * 100 / 7 for s in scores), Fraction(0)) / len(scores)
    assert method.group_mean(method.Tally.of(scores), D(7)) == D(exact.numerator) / D(exact.denominator)
