"""Results pages: a plan's results with drill-down and comparison charts, one unit across plans,
and the public results (no login)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from app.errors import MESSAGES
from app.results import bp, charts
from app.services import results, scoring
from app.services.errors import ServiceError


@bp.errorhandler(ServiceError)
def _refused(exc: ServiceError) -> ResponseReturnValue:
    """Not found, or not for this reader: the app's error page with the HTTP status."""
    return render_template("error.html", code=exc.status, message=MESSAGES.get(exc.status, exc.message)), exc.status


@bp.app_template_filter("score")
def _score(value: Decimal | None, places: str = "0.01") -> str:
    """A score as shown: to 0.01 (totals to 0.1), from the exact value; a dash when incomplete."""
    return scoring.shown(value, Decimal(places)) or "—"


@bp.app_template_filter("percent")
def _percent(ratio: Decimal | str | None) -> str:
    """A fee payment ratio (0.9, or "0.9" as the API writes it) as a percentage."""
    return "—" if ratio is None else f"{scoring.plain(Decimal(ratio) * 100)}%"


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"STAGE_LABELS": results.STAGE_LABELS, "GRADE_STYLES": results.GRADE_STYLES,
            "may_see_unit": results.may_see_unit}


@bp.route("/plans/<int:plan_id>/results")
@login_required
def plan(plan_id: int) -> ResponseReturnValue:
    view = results.plan_view(current_user, plan_id)
    return render_template("results/plan.html", view=view, chart=charts.comparison(view))


@bp.route("/plans/<int:plan_id>/results/<code>")
@login_required
def drill_down(plan_id: int, code: str) -> ResponseReturnValue:
    view = results.object_view(current_user, plan_id, code)
    return render_template("results/object.html", view=view)


@bp.route("/objects/<code>/results")
@login_required
def unit(code: str) -> ResponseReturnValue:
    unit_row, items = results.unit_history(current_user, code)
    return render_template("results/unit.html", unit=unit_row, items=items, chart=charts.trend(items))


@bp.route("/public/results")
def public_index() -> ResponseReturnValue:
    return render_template("results/public_index.html", plans=results.public_plans())


@bp.route("/public/plans/<int:plan_id>/results")
def public_plan(plan_id: int) -> ResponseReturnValue:
    view = results.public_view(plan_id)
    return render_template("results/public_plan.html", view=view, chart=charts.comparison(view, public=True))
