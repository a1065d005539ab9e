"""Indicator templates shipped as data (A2.2, A1.4; the indicator systems of A5.2 and A5.3).

Each ``*.yaml`` file in this package is one template::

    name: 供给侧评估（…）
    description: …
    source: where the structure comes from, and that the weights are editable defaults
    indicators:
      - {code, name, weight, method: manual|auto, max_score, standard, children: [...]}

``load_template(key)["indicators"]`` is a plan payload's ``indicators`` list exactly as
``app.services.plans.parse_plan`` accepts it, so a department compiles a plan from a template by
copying that list into its payload (and editing weights, which are only defaults).

Templates are checked when they are read: a malformed one raises ``ValueError`` naming the file
and the node. The checks mirror ``parse_plan`` (sibling weights sum to exactly 100, codes unique,
at most three decimals, at most five levels) and are a little stricter where a template should be
explicit: ``method`` must be given, and unknown fields are refused so that a misspelt key does not
silently vanish. This module does not touch the database.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

import yaml

HUNDRED = Decimal(100)
MAX_SCORE_LIMIT = Decimal(100000)  # the same bound as app.services.plans
MAX_DEPTH = 5                      # parse_plan accepts at most five levels
METHODS = ("manual", "auto")
CODE_MAX, NAME_MAX, STANDARD_MAX = 40, 200, 4000
TEMPLATE_FIELDS = frozenset({"name", "description", "source", "indicators"})
NODE_FIELDS = frozenset({"code", "name", "weight", "method", "max_score", "standard", "children"})
SUFFIX = ".yaml"


@dataclass(frozen=True)
class TemplateInfo:
    key: str            # the file name without ``.yaml``; what ``load_template`` takes
    name: str
    description: str
    source: str         # where the structure comes from and how far the weights are official


class TemplateNotFound(LookupError):
    """No shipped template has that key."""


# ----------------------------------------------------------------------------- public API

def list_templates() -> list[TemplateInfo]:
    """Every shipped template, by key. Each one is read and checked."""
    infos = []
    for key, resource in _shipped().items():
        template = read_template(resource)
        infos.append(TemplateInfo(key, template["name"], template["description"], template["source"]))
    return infos


def load_template(key: str) -> dict[str, Any]:
    """A checked template: ``{key, name, description, source, indicators}``.

    ``indicators`` is in plan-payload form (weights and max scores as plain decimal strings such
    as ``"35"``, every node with a ``children`` list). Each call returns fresh objects, so the
    caller may edit them.
    """
    resource = _shipped().get(key)
    if resource is None:
        raise TemplateNotFound(f"没有名为 {key!r} 的指标模板")
    return {"key": key, **read_template(resource)}


def read_template(resource: Traversable) -> dict[str, Any]:
    """Parse and check one template file (``safe_load``); raises ``ValueError`` when malformed."""
    origin = resource.name
    try:
        raw = yaml.safe_load(resource.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{origin}：YAML 格式错误：{exc}") from None
    return validate_template(raw, origin)


def validate_template(raw: Any, origin: str = "模板") -> dict[str, Any]:
    """Check a parsed template and return ``{name, description, source, indicators}``.

    Raises ``ValueError`` at the first problem, naming ``origin`` and the indicator node.
    """
    if not isinstance(raw, Mapping):
        raise ValueError(f"{origin}：顶层须为包含 name、description、source、indicators 的映射。")
    unknown = sorted(str(k) for k in raw if k not in TEMPLATE_FIELDS)
    if unknown:
        raise ValueError(f"{origin}：未知字段 {', '.join(unknown)}。")
    return {
        "name": _text(raw.get("name"), f"{origin}：模板名称 name", NAME_MAX),
        "description": _text(raw.get("description"), f"{origin}：模板说明 description", STANDARD_MAX),
        "source": _text(raw.get("source"), f"{origin}：来源说明 source", STANDARD_MAX),
        "indicators": _nodes(raw.get("indicators"), origin, "indicators", None, set(), 1),
    }


# ----------------------------------------------------------------------------- checks

def _shipped() -> dict[str, Traversable]:
    folder = files(__name__)
    found = [r for r in folder.iterdir() if r.is_file() and r.name.endswith(SUFFIX)]
    return {r.name.removesuffix(SUFFIX): r for r in sorted(found, key=lambda r: r.name)}


def _label(node: Mapping[Any, Any], path: str) -> str:
    """``指标 S2.1「事项清单公布」（indicators[1].children[0]）``, with whatever the node has."""
    code, name = node.get("code"), node.get("name")
    text = "指标"
    if isinstance(code, str) and code.strip():
        text += f" {code.strip()}"
    if isinstance(name, str) and name.strip():
        text += f"「{name.strip()}」"
    return f"{text}（{path}）"


def _text(value: Any, what: str, max_len: int, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError(f"{what} 须为非空文本。")
    text = value.strip()
    if len(text) > max_len:
        raise ValueError(f"{what} 最多 {max_len} 个字符。")
    return text


def _number(value: Any, what: str, maximum: Decimal) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"{what} 须为数字。")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{what} 须为数字。") from None
    if not number.is_finite() or number <= 0 or number > maximum:
        raise ValueError(f"{what} 须大于 0 且不超过 {_plain(maximum)}。")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -3:
        raise ValueError(f"{what} 最多保留三位小数。")
    return number


def _plain(number: Decimal) -> str:
    """``70``, ``12.5`` — never ``7E+1`` (as the plans API prints numbers)."""
    return format(number.normalize(), "f")


def _nodes(raw: Any, origin: str, path: str, parent: str | None, seen: set[str],
           depth: int) -> list[dict[str, Any]]:
    where = f"{parent}的下级指标" if parent else "一级指标"
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{origin}：{where}须为非空列表（{path}）。")
    if depth > MAX_DEPTH:
        raise ValueError(f"{origin}：{where}超出 {MAX_DEPTH} 级（{path}）。")
    nodes, total = [], Decimal(0)
    for index, item in enumerate(raw):
        node_path = f"{path}[{index}]"
        node = _node(item, origin, node_path, seen, depth)
        total += Decimal(node["weight"])
        nodes.append(node)
    if total != HUNDRED:
        raise ValueError(f"{origin}：{where}权重之和为 {_plain(total)}，应为 100（{path}）。")
    return nodes


def _node(item: Any, origin: str, path: str, seen: set[str], depth: int) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise ValueError(f"{origin}：指标（{path}）须为映射。")
    label = f"{origin}：{_label(item, path)}"
    unknown = sorted(str(k) for k in item if k not in NODE_FIELDS)
    if unknown:
        raise ValueError(f"{label}：未知字段 {', '.join(unknown)}。")
    if not isinstance(item.get("code"), str):
        raise ValueError(f"{label}：缺少编码 code（须为字符串，数字编码请加引号）。")
    code = _text(item["code"], f"{label}：编码 code", CODE_MAX)
    if code in seen:
        raise ValueError(f"{label}：指标编码 {code} 重复。")
    seen.add(code)
    name = _text(item.get("name"), f"{label}：名称 name", NAME_MAX)
    method = item.get("method")
    if method is None:
        raise ValueError(f"{label}：缺少评分方式 method（manual 或 auto）。")
    if method not in METHODS:
        raise ValueError(f"{label}：评分方式 method 为 {method!r}，须为 manual（手工）或 auto（自动）。")
    weight = _number(item.get("weight"), f"{label}：权重 weight", HUNDRED)
    max_score = _number(item.get("max_score", 100), f"{label}：满分 max_score", MAX_SCORE_LIMIT)
    standard = _text(item.get("standard"), f"{label}：评估标准 standard", STANDARD_MAX, required=False)
    raw_children = item.get("children")
    children = ([] if raw_children in (None, [])
                else _nodes(raw_children, origin, f"{path}.children", f"{code}「{name}」", seen, depth + 1))
    return {"code": code, "name": name, "weight": _plain(weight), "method": method,
            "max_score": _plain(max_score), "standard": standard, "children": children}
