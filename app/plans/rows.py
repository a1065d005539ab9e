"""The plan editor posts flat rows (indicators name their parent by code); turn them into the API's
nested payload and map validation errors back onto the rows they concern."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from app.models import Plan

INDICATOR_COLUMNS = ("code", "parent", "name", "weight", "method", "max_score", "standard")


@dataclass
class PlanRows:
    fields: dict[str, str]
    indicators: list[dict[str, str]]
    evaluators: list[dict[str, str]]
    objects: list[str]
    bands: list[dict[str, str]] = field(default_factory=list)
    row_of_path: dict[str, int] = field(default_factory=dict)


def _indexed(form: MultiDict[str, str], prefix: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
    indexes = sorted({int(k.split("-")[1]) for k in form if k.startswith(prefix + "-") and k.split("-")[1].isdigit()})
    rows = [{c: (form.get(f"{prefix}-{i}-{c}") or "").strip() for c in columns} for i in indexes]
    return [r for r in rows if any(r.values())]


def from_form(form: MultiDict[str, str]) -> PlanRows:
    return PlanRows(
        fields={k: (form.get(k) or "").strip() for k in ("name", "cycle", "period_start", "period_end", "goals")},
        indicators=_indexed(form, "ind", INDICATOR_COLUMNS),
        evaluators=_indexed(form, "ev", ("kind", "ref", "weight")),
        objects=form.getlist("objects"),
        bands=_indexed(form, "band", ("min", "ratio")),
    )


def row_problems(rows: PlanRows) -> dict[int, list[str]]:
    """Parent codes that name no row, or that loop back: reported on the row, never silently fixed."""
    problems: dict[int, list[str]] = {}
    parent_of = {r["code"]: r["parent"] for r in rows.indicators if r["code"]}
    for i, row in enumerate(rows.indicators):
        parent = row["parent"]
        if not parent:
            continue
        if parent not in parent_of:
            problems.setdefault(i, []).append(f"上级编码 {parent} 不存在。")
            continue
        seen = {row["code"]}
        while parent:
            if parent in seen:
                problems.setdefault(i, []).append("上级编码形成循环。")
                break
            seen.add(parent)
            parent = parent_of.get(parent, "")
    return problems


def to_payload(rows: PlanRows) -> dict[str, Any]:
    """Nest indicator rows under their parents (call ``row_problems`` first: rows with an unknown or
    looping parent are not placed correctly here)."""
    nodes: dict[str, dict[str, Any]] = {}
    top: list[dict[str, Any]] = []
    ordered: list[tuple[int, dict[str, Any]]] = []
    for i, row in enumerate(rows.indicators):
        node: dict[str, Any] = {k: row[k] for k in INDICATOR_COLUMNS if k != "parent"} | {"children": []}
        ordered.append((i, node))
        if row["code"]:
            nodes.setdefault(row["code"], node)
    for i, node in ordered:
        parent = nodes.get(rows.indicators[i]["parent"])
        (parent["children"] if parent is not None and parent is not node else top).append(node)

    def number(items: list[dict[str, Any]], prefix: str) -> None:
        for j, node in enumerate(items):
            path = f"{prefix}[{j}]"
            index = next(i for i, n in ordered if n is node)
            rows.row_of_path[path] = index
            number(node["children"], f"{path}.children")

    number(top, "indicators")
    return {
        **rows.fields,
        "indicators": top,
        "evaluators": [{r["kind"]: r["ref"], "weight": r["weight"]} for r in rows.evaluators if r["kind"]],
        "objects": rows.objects,
        "payment_bands": [{"min": b["min"], "ratio": b["ratio"]} for b in rows.bands],
    }


def row_errors(rows: PlanRows, errors: dict[str, list[str]]) -> tuple[dict[int, list[str]], dict[str, list[str]]]:
    """Split service errors into per-indicator-row messages and the rest (by field)."""
    by_row: dict[int, list[str]] = {}
    other: dict[str, list[str]] = {}
    for key, messages in errors.items():
        if key.startswith("indicators["):
            path, _, column = key.rpartition(".")
            if column == "children":      # a sum over a parent's children belongs to the parent row
                target = path
            elif not path:
                target = key
            else:
                target = path if column in INDICATOR_COLUMNS else key
            row = rows.row_of_path.get(target)
            if row is not None:
                by_row.setdefault(row, []).extend(messages)
                continue
        other.setdefault(key.split("[")[0] if key.startswith(("evaluators[", "objects[", "payment_bands["))
                         else key, []).extend(
            messages)
    return by_row, other


def from_plan(plan: Plan) -> PlanRows:
    return PlanRows(
        fields={"name": plan.name, "cycle": plan.cycle, "period_start": plan.period_start.isoformat(),
                "period_end": plan.period_end.isoformat(), "goals": plan.goals},
        indicators=[{"code": i.code, "parent": i.parent.code if i.parent else "", "name": i.name,
                     "weight": f"{i.weight.normalize():f}", "method": i.method,
                     "max_score": f"{i.max_score.normalize():f}", "standard": i.standard}
                    for i in plan.indicators],
        evaluators=[{"kind": g.kind, "ref": g.ref, "weight": f"{g.weight.normalize():f}"} for g in plan.evaluators],
        objects=[o.unit.code for o in plan.objects],
        bands=[{"min": b["min"], "ratio": b["ratio"]} for b in plan.payment_bands or []],
    )
