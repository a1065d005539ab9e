"""The data the comparison charts draw (static/results-charts.js): numbers as decimal strings,
labels already translated, so the script holds no text and no arithmetic."""
from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from app.scoring.method import TENTH
from app.services import scoring
from app.services.results import PlanView


def comparison(view: PlanView, *, public: bool = False) -> dict[str, Any] | None:
    """Horizontal comparison: ranked objects' totals, and their scores per top-level indicator.

    None when the viewer sees only their own row (there is nothing to compare it with). The public
    page shows totals only.
    """
    if view.restricted:
        return None
    ranked = [r for r in view.rows if r.result.total is not None]
    data: dict[str, Any] = {
        "objects": [r.name for r in ranked],
        "totals": [scoring.shown(r.result.total, TENTH) for r in ranked],
        "labels": {"total": _("总分"), "score": _("得分（0–100）")},
    }
    if not public:
        data["indicators"] = [{"name": i.name, "scores": [scoring.shown(r.top.get(i.code)) for r in ranked]}
                              for i in view.top_indicators]
    return data


def trend(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Vertical comparison: one unit's total plan by plan, in period order."""
    scored = [i for i in items if i["total"] is not None]
    return {"periods": [f"{i['plan_name']}\n{i['period_start']} – {i['period_end']}" for i in scored],
            "trend": [i["total"] for i in scored], "labels": {"total": _("总分")}}
