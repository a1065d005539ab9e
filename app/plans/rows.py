"""The plan editor posts flat rows (indicators name their parent by code); turn them into the API's
nested payload and map validation errors back onto the rows they concern."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from app.models import Indicator, Plan

INDICATOR_COLUMNS = ("code", "parent", "name", "weight", "method", "max_score", "standard")
# How a leaf is scored, edited in the row's 设置 cell: a manual leaf's input adapter, an automatic
# leaf's data source and rule. ``options`` holds one ``label=number`` per line (grades, deduction items
# or threshold bands).
CONFIG_COLUMNS = ("input_kind", "options", "datasource", "rule_kind", "worst", "best", "target")


@dataclass
class PlanRows:
    fields: dict[str, str]
    indicators: list[dict[str, str]]
    evaluators: list[dict[str, str]]
    objects: list[str]
    bands: list[dict[str, str]] = field(default_factory=list)
    row_of_path: dict[str, int] = field(default_factory=dict)


def _indexed(form: MultiDict[str, str], prefix: str, columns: tuple[str, ...],
             extra: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """Rows by index; a row whose main columns are all blank is dropped (its settings alone don't count)."""
    indexes = sorted({int(k.split("-")[1]) for k in form if k.startswith(prefix + "-") and k.split("-")[1].isdigit()})
    rows = [{c: (form.get(f"{prefix}-{i}-{c}") or "").strip() for c in columns + extra} for i in indexes]
    return [r for r in rows if any(r[c] for c in columns)]


def from_form(form: MultiDict[str, str]) -> PlanRows:
    return PlanRows(
        fields={k: (form.get(k) or "").strip() for k in ("name", "cycle", "period_start", "period_end", "goals")},
        indicators=_indexed(form, "ind", INDICATOR_COLUMNS, CONFIG_COLUMNS),
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


def _pairs(text: str, key: str) -> list[dict[str, str]]:
    """``好=10`` lines (``=``, ``：`` or ``:``) → ``[{label, key}]``; a line without a number keeps it blank
    so that the plan's validation names that item."""
    items = []
    for line in text.replace("；", "\n").replace(";", "\n").splitlines():
        line = line.strip()
        if not line:
            continue
        for sep in ("=", "：", ":"):
            if sep in line:
                label, _, value = line.rpartition(sep)
                items.append({"label": label.strip(), key: value.strip()})
                break
        else:
            items.append({"label": line, key: ""})
    return items


def _scoring_settings(row: dict[str, str]) -> dict[str, Any]:
    """The row's settings as the API's ``input`` (manual) or ``source`` (auto)."""
    if row.get("method") == "auto":
        if not row.get("datasource"):
            return {}
        kind = row.get("rule_kind") or "linear"
        rule: dict[str, Any] = {"kind": kind}
        if kind == "linear":
            rule |= {"worst": row.get("worst", ""), "best": row.get("best", "")}
        elif kind == "thresholds":
            rule["bands"] = [{"min": p["label"], "score": p["score"]} for p in _pairs(row.get("options", ""), "score")]
        else:
            rule["target"] = row.get("target") or "1"
        return {"source": {"datasource": row["datasource"], "rule": rule}}
    kind = row.get("input_kind") or "range"
    if kind == "grades":
        return {"input": {"kind": kind, "choices": _pairs(row.get("options", ""), "score")}}
    if kind == "deductions":
        return {"input": {"kind": kind, "items": _pairs(row.get("options", ""), "points")}}
    return {}


def to_payload(rows: PlanRows) -> dict[str, Any]:
    """Nest indicator rows under their parents (call ``row_problems`` first: rows with an unknown or
    looping parent are not placed correctly here)."""
    nodes: dict[str, dict[str, Any]] = {}
    top: list[dict[str, Any]] = []
    ordered: list[tuple[int, dict[str, Any]]] = []
    for i, row in enumerate(rows.indicators):
        node: dict[str, Any] = {k: row[k] for k in INDICATOR_COLUMNS if k != "parent"} | {"children": []}
        node.update(_scoring_settings(row))
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
            if ".input" in key or ".source" in key:   # a row's scoring settings belong to that row
                target = key.replace(".source", ".input").split(".input")[0]
            elif column == "children":      # a sum over a parent's children belongs to the parent row
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
                     "max_score": f"{i.max_score.normalize():f}", "standard": i.standard, **_settings_row(i)}
                    for i in plan.indicators],
        evaluators=[{"kind": g.kind, "ref": g.ref, "weight": f"{g.weight.normalize():f}"} for g in plan.evaluators],
        objects=[o.unit.code for o in plan.objects],
        bands=[{"min": b["min"], "ratio": b["ratio"]} for b in plan.payment_bands or []],
    )


def _settings_row(indicator: Indicator) -> dict[str, str]:
    """An indicator's input adapter or data source as the editor's setting fields."""
    row = dict.fromkeys(CONFIG_COLUMNS, "")
    adapter, source = indicator.input_adapter or {}, indicator.source or {}
    if adapter.get("kind") == "grades":
        row |= {"input_kind": "grades", "options": _lines(adapter["choices"], "score")}
    elif adapter.get("kind") == "deductions":
        row |= {"input_kind": "deductions", "options": _lines(adapter["items"], "points")}
    if source:
        rule = source["rule"]
        row |= {"datasource": source["datasource"], "rule_kind": rule["kind"], "worst": rule.get("worst", ""),
                "best": rule.get("best", ""), "target": rule.get("target", "")}
        if rule["kind"] == "thresholds":
            row["options"] = _lines([{"label": b["min"], "score": b["score"]} for b in rule["bands"]], "score")
    return row


def _lines(pairs: list[dict[str, str]], key: str) -> str:
    return "\n".join(f"{p['label']}={p[key]}" for p in pairs)


def from_template(template: dict[str, Any]) -> PlanRows:
    """A new plan's rows with a shipped template's indicator tree (weights are editable defaults)."""
    indicators: list[dict[str, str]] = []

    def walk(nodes: list[dict[str, Any]], parent: str) -> None:
        for node in nodes:
            indicators.append({"code": node["code"], "parent": parent, "name": node["name"],
                               "weight": str(node["weight"]), "method": node["method"],
                               "max_score": str(node["max_score"]), "standard": node.get("standard", ""),
                               **dict.fromkeys(CONFIG_COLUMNS, "")})
            walk(node.get("children", []), node["code"])

    walk(template["indicators"], "")
    return PlanRows(fields={"cycle": "year"}, indicators=indicators, evaluators=[], objects=[])
