"""Parse ``bpmn/`` once, describe its user tasks, and keep every spec version by content hash."""
from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask as UserTaskMixin
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer import DEFAULT_CONFIG as SPIFF_CONFIG

SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


class SpecError(Exception):
    """A BPMN file that cannot be used, with a message a process designer can act on."""


@dataclass(frozen=True)
class UserTaskInfo:
    bpmn_id: str
    name: str
    lane: str | None
    form_key: str | None
    properties: dict[str, str]
    # Deadline events the process draws on this task itself (timers with ``event`` = overdue /
    # escalated): what it draws, the scheduler's generic sweep leaves to the timer.
    events: frozenset[str] = frozenset()


@dataclass
class LoadedSpec:
    process_id: str
    name: str
    content_hash: str
    spec: Any
    subprocess_specs: dict[str, Any]
    bpmn_xml: str
    files: list[Path]
    user_tasks: dict[str, UserTaskInfo] = field(default_factory=dict)
    forms: dict[str, str] = field(default_factory=dict)   # form key → YAML text, part of this version

    def spec_json(self) -> str:
        return json.dumps({
            "spec": SERIALIZER.to_dict(self.spec),
            "subprocess_specs": {k: SERIALIZER.to_dict(v) for k, v in self.subprocess_specs.items()},
        })


def describe_error(exc: Exception) -> str:
    """One sentence naming the file, line and element of a parse error."""
    if isinstance(exc, etree.XMLSyntaxError):
        return f"{exc.filename or 'file'} line {exc.lineno}: not well-formed XML ({exc.msg})"
    if isinstance(exc, ValidationException):
        where = [str(p) for p in (exc.file_name, exc.line_number and f"line {exc.line_number}") if p]
        if exc.id:
            where.append(f"element id={exc.id!r}")
        return f"{', '.join(where)}: {str(exc).rstrip('. ')}"
    return f"{type(exc).__name__}: {exc}"


def lint_expressions(spec: Any, filename: str) -> list[str]:
    """SpiffWorkflow compiles conditions and scripts only at run time; compile them now."""
    problems: list[str] = []

    def check(kind: str, ts: Any, code: str, mode: str) -> None:
        try:
            ast.parse(code, mode=mode)
        except SyntaxError as exc:
            problems.append(f"{filename}: {kind} on {ts.bpmn_id or ts.name!r}: {exc.msg} in {code!r}")

    for ts in spec.task_specs.values():
        for cond, _target in getattr(ts, "cond_task_specs", []):
            if cond is not None:
                check("gateway condition", ts, cond.args[0], "eval")
        if getattr(ts, "script", None):
            check("script", ts, ts.script, "exec")
        for attr in ("prescript", "postscript"):
            if getattr(ts, attr, None):
                check(attr, ts, getattr(ts, attr), "exec")
        event_definition = getattr(ts, "event_definition", None)
        if event_definition is not None and getattr(event_definition, "expression", None):
            check("timer/event expression", ts, event_definition.expression, "eval")
    return problems


def attached_to(task_spec: Any) -> str | None:
    """The activity a boundary event is drawn on (Spiff names the split ``<activity>.BoundaryEventSplit``)."""
    for parent in task_spec.inputs:
        if parent.name.endswith(".BoundaryEventSplit"):
            return str(parent.name.removesuffix(".BoundaryEventSplit"))
    return None


def event_target(task_spec: Any) -> tuple[str, str | None] | None:
    """(event, the user task it concerns) of a timer carrying an ``event`` property, else None."""
    props = getattr(task_spec, "extensions", {}).get("properties", {})
    if "event" not in props:
        return None
    return str(props["event"]), props.get("task") or attached_to(task_spec)


def describe_user_tasks(spec: Any) -> dict[str, UserTaskInfo]:
    events: dict[str, set[str]] = {}
    for ts in spec.task_specs.values():
        if (target := event_target(ts)) is not None and target[1] is not None:
            events.setdefault(target[1], set()).add(target[0])
    tasks = {}
    for ts in spec.task_specs.values():
        if isinstance(ts, UserTaskMixin):
            props = dict(ts.extensions.get("properties", {}))
            tasks[ts.bpmn_id] = UserTaskInfo(
                bpmn_id=ts.bpmn_id, name=ts.bpmn_name or ts.bpmn_id, lane=ts.lane,
                form_key=props.get("formKey"), properties=props, events=frozenset(events.get(ts.bpmn_id, ())),
            )
    return tasks


def parse_directory(directory: Path) -> dict[str, LoadedSpec]:
    """Parse and validate every executable process in ``directory``; raise SpecError on the first problem."""
    files = sorted(directory.glob("*.bpmn"))
    parser = SpiffBpmnParser(validator=VALIDATOR)
    for path in files:
        try:
            parser.add_bpmn_file(str(path))
        except Exception as exc:  # lxml and Spiff raise unrelated types
            raise SpecError(describe_error(exc)) from exc
    loaded: dict[str, LoadedSpec] = {}
    for process_id in parser.get_process_ids():
        try:
            spec = parser.get_spec(process_id)
            subprocess_specs = parser.get_subprocess_specs(process_id)
        except Exception as exc:
            raise SpecError(describe_error(exc)) from exc
        own = Path(spec.file)
        deps = sorted({Path(s.file) for s in subprocess_specs.values()} - {own})
        problems = [p for f_spec in [spec, *subprocess_specs.values()] for p in lint_expressions(f_spec, own.name)]
        if problems:
            raise SpecError("; ".join(problems))
        digest = hashlib.sha256()
        for path in [own, *deps]:
            digest.update(path.read_bytes())
        loaded[process_id] = LoadedSpec(
            process_id=process_id, name=spec.description or process_id, content_hash=digest.hexdigest(),
            spec=spec, subprocess_specs=subprocess_specs, bpmn_xml=own.read_text(encoding="utf-8"),
            files=[own, *deps], user_tasks=describe_user_tasks(spec),
        )
    return loaded


def restore_spec(spec_json: str) -> tuple[Any, dict[str, Any]]:
    """Rebuild a stored spec version (for instances pinned to a version no longer on disk)."""
    dct = json.loads(spec_json)
    spec = SERIALIZER.from_dict(dct["spec"])
    subprocess_specs = {k: SERIALIZER.from_dict(v) for k, v in dct["subprocess_specs"].items()}
    return spec, subprocess_specs
