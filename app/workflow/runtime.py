"""Start, advance and persist process instances; keep the inbox table in step with the engine.

Every public function here runs inside the caller's transaction and flushes, never commits.
The caller holds the instance row lock (see ``app.services.tasks``) before it advances anything.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.util.task import TaskState

from app.extensions import db
from app.formspec import FormSpec, load_form_specs, parse_form_spec
from app.models import (
    HumanTask,
    InstanceStatus,
    ProcessEvent,
    ProcessInstance,
    ProcessSpec,
    TaskStatus,
    Unit,
    User,
)
from app.models.base import utcnow
from app.roles import role_for_lane
from app.workdays import add_working_days
from app.workflow import hooks
from app.workflow.engine import SCRIPT_ENGINE
from app.workflow.specs import (
    LoadedSpec,
    UserTaskInfo,
    describe_user_tasks,
    event_target,
    parse_directory,
    restore_spec,
)
from app.workflow.state import STATE_VERSION, dump_state, load_state, prune_history


class ProcessError(Exception):
    """The engine could not advance an instance (a script, condition or data error)."""


@dataclass
class Registry:
    """The parsed ``bpmn/`` and ``forms/`` directories plus a cache of older, stored spec versions.

    A version is the BPMN files *and* the form specs its user tasks name: editing either makes a
    new version, and an instance keeps the BPMN and the forms it started with.
    """

    directory: Path
    current: dict[str, LoadedSpec]
    forms: dict[str, FormSpec]

    def __post_init__(self) -> None:
        self._restored: dict[tuple[int, str], tuple[Any, dict[str, Any]]] = {}
        self._restored_tasks: dict[tuple[int, str], dict[str, UserTaskInfo]] = {}
        self._restored_forms: dict[tuple[int, str], dict[str, FormSpec]] = {}
        self._lock = threading.Lock()

    def get(self, process_id: str) -> LoadedSpec:
        try:
            return self.current[process_id]
        except KeyError:
            raise ProcessError(f"unknown process {process_id!r}") from None

    def is_current(self, row: ProcessSpec) -> bool:
        loaded = self.current.get(row.process_id)
        return loaded is not None and loaded.content_hash == row.content_hash

    def spec_objects(self, row: ProcessSpec) -> tuple[Any, dict[str, Any]]:
        if self.is_current(row):
            loaded = self.current[row.process_id]
            return loaded.spec, loaded.subprocess_specs
        key = (row.id, row.content_hash)  # ids alone could be reused by a test database
        with self._lock:
            if key not in self._restored:
                self._restored[key] = restore_spec(row.spec_json)
            return self._restored[key]

    def user_tasks(self, row: ProcessSpec) -> dict[str, UserTaskInfo]:
        if self.is_current(row):
            return self.current[row.process_id].user_tasks
        key = (row.id, row.content_hash)
        if key not in self._restored_tasks:
            self._restored_tasks[key] = describe_user_tasks(self.spec_objects(row)[0])
        return self._restored_tasks[key]

    def form(self, row: ProcessSpec, form_key: str) -> FormSpec | None:
        """The form a task of this spec version uses: today's file, or the copy stored with the version."""
        if self.is_current(row):
            return self.forms.get(form_key)
        if row.forms_json is None:
            # A version stored before forms were part of versions: today's file is all there is.
            return self.forms.get(form_key)
        key = (row.id, row.content_hash)
        with self._lock:
            if key not in self._restored_forms:
                stored = json.loads(row.forms_json)
                self._restored_forms[key] = {k: parse_form_spec(k, text) for k, text in stored.items()}
            return self._restored_forms[key].get(form_key)


def _with_forms(loaded: LoadedSpec, forms_dir: Path) -> LoadedSpec:
    """Attach the texts of the forms a process names, and fold them into its version hash."""
    texts = {}
    for key in sorted({t.form_key for t in loaded.user_tasks.values() if t.form_key}):
        path = forms_dir / f"{key}.yaml"
        if path.exists():
            texts[key] = path.read_text(encoding="utf-8")
    digest = hashlib.sha256(loaded.content_hash.encode())
    for key, text in texts.items():
        digest.update(f"\0{key}\0".encode() + text.encode())
    return replace(loaded, content_hash=digest.hexdigest(), forms=texts)


def load_registry(directory: Path, forms_dir: Path | None = None) -> Registry:
    """Parse ``bpmn/`` and ``forms/`` (each app keeps its own registry in ``app.extensions["bpmn"]``)."""
    forms_dir = forms_dir or directory.parent / "forms"
    current = {pid: _with_forms(loaded, forms_dir) for pid, loaded in parse_directory(directory).items()}
    return Registry(directory, current, load_form_specs(forms_dir))


def registry() -> Registry:
    registry: Registry = current_app.extensions["bpmn"]
    return registry


# ----------------------------------------------------------------------------- spec rows

def spec_row(process_id: str) -> ProcessSpec:
    """The stored row of the current version of a process, created on first use."""
    loaded = registry().get(process_id)
    query = sa.select(ProcessSpec).where(
        ProcessSpec.process_id == process_id, ProcessSpec.content_hash == loaded.content_hash
    )
    row = db.session.scalar(query)
    if row is not None:
        return row
    row = ProcessSpec(process_id=process_id, content_hash=loaded.content_hash, name=loaded.name,
                      spec_json=loaded.spec_json(), bpmn_xml=loaded.bpmn_xml,
                      forms_json=json.dumps(loaded.forms, ensure_ascii=False))
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except sa.exc.IntegrityError:  # another process stored the same version first
        row = db.session.scalars(query).one()
    return row


# ----------------------------------------------------------------------------- load / save

def load(instance: ProcessInstance) -> BpmnWorkflow:
    spec, subprocess_specs = registry().spec_objects(instance.spec)
    spec_json = instance.spec.spec_json if instance.serializer_version != STATE_VERSION else None
    return load_state(instance.state_json, instance.serializer_version, spec, subprocess_specs, spec_json)


def _timer_due_times(workflow: BpmnWorkflow) -> list[datetime]:
    dues = []
    for task in workflow.get_tasks(state=TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        value = task.internal_data.get("event_value")
        if not isinstance(definition, TimerEventDefinition) or value is None:
            continue
        if isinstance(definition, CycleTimerEventDefinition):
            dues.append(datetime.fromisoformat(value["next"]))
        else:
            dues.append(TimerEventDefinition.get_datetime(value))
    return dues


def save(instance: ProcessInstance, workflow: BpmnWorkflow) -> None:
    """Store the pruned engine state and the earliest timer; mark the instance completed at the end."""
    prune_history(workflow)
    instance.state_json = dump_state(workflow)
    instance.serializer_version = STATE_VERSION
    dues = _timer_due_times(workflow)
    instance.next_timer_at = min(dues) if dues else None
    if workflow.is_completed() and instance.status == InstanceStatus.RUNNING:
        instance.status = InstanceStatus.COMPLETED
        instance.completed_at = utcnow()
        _log(instance, "instance_completed")


# ----------------------------------------------------------------------------- running

def _advance(instance: ProcessInstance, workflow: BpmnWorkflow) -> None:
    """Fire due timers and run every engine step, then sync the inbox and save.

    Everything is collected in the session and written by one flush at the end (the caller's),
    so each row is written once per step.
    """
    started = time.time()
    try:
        workflow.refresh_timers()
        workflow.do_engine_steps()
    except WorkflowException as exc:
        raise ProcessError(str(exc).strip(". ")) from exc
    with db.session.no_autoflush:
        _record_trail(instance, workflow)
        instance.case_status = _case_status(workflow) or instance.case_status
        _sync_inbox(instance, workflow)
        fired = _fired_events(workflow, started)
        save(instance, workflow)
        hooks.notify(instance)
    for event, task_bpmn_id in fired:   # the listeners record it (e.g. an ``overdue`` event, once)
        hooks.timer_event(instance, event, task_bpmn_id)


def start(process_id: str, *, data: dict[str, Any], business_key: str | None, title: str,
          user: User | None) -> ProcessInstance:
    """Start an instance of the current version of ``process_id`` and run it to its first wait."""
    loaded = registry().get(process_id)
    workflow = BpmnWorkflow(loaded.spec, loaded.subprocess_specs, script_engine=SCRIPT_ENGINE)
    workflow.task_tree.data.update(data)
    instance = ProcessInstance(
        process_id=process_id, spec=spec_row(process_id), business_key=business_key, title=title,
        status=InstanceStatus.RUNNING, serializer_version=STATE_VERSION, state_json="{}", trail=[],
        started_by=user,
    )
    db.session.add(instance)
    db.session.flush()
    _log(instance, "started", user=user)
    _advance(instance, workflow)
    db.session.flush()
    return instance


def complete(instance: ProcessInstance, task: HumanTask, user: User, data: dict[str, Any]) -> None:
    """Complete one ready user task with validated form data; the caller checked who may do it."""
    with db.session.no_autoflush:
        workflow = load(instance)
    try:
        spiff_task = workflow.get_task_from_id(UUID(task.spiff_task_id))
    except Exception as exc:  # TaskNotFoundException: the inbox row is out of step with the engine
        raise ProcessError(f"task {task.id} is no longer part of instance {instance.id}") from exc
    # task.run() checks nothing itself: READY, manual and lane are ours to check.
    if spiff_task.state != TaskState.READY or not spiff_task.task_spec.manual:
        raise ProcessError(f"task {task.id} is not ready")
    hooks.task_completing(instance, task, data)
    spiff_task.set_data(**data)
    spiff_task.run()
    task.status = TaskStatus.COMPLETED
    task.completed_by = user
    task.completed_at = utcnow()
    task.assignee = task.assignee or user
    _log(instance, "completed", user=user, task=task, data=data)
    _advance(instance, workflow)
    db.session.flush()


def fire_timers(instance: ProcessInstance) -> None:
    """Run whatever timers of this instance are due (the scheduler holds the row)."""
    workflow = load(instance)
    _log(instance, "timer")
    _advance(instance, workflow)
    db.session.flush()


# ----------------------------------------------------------------------------- inbox sync

def _case_status(workflow: BpmnWorkflow) -> str | None:
    """The BPMN sets ``case_status`` in scripts; the newest value on the live path wins."""
    if workflow.is_completed():
        value = workflow.data.get("case_status")
        return str(value) if value is not None else None
    ready = workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED)
    for task in sorted(ready, key=lambda t: t.last_state_change, reverse=True):
        if "case_status" in task.data:
            return str(task.data["case_status"])
    return None


def _fired_events(workflow: BpmnWorkflow, since: float) -> list[tuple[str, str | None]]:
    """Timer events with an ``event`` property that fired in this step: (event, the user task it is
    drawn on). Only processes that declare such events pay for the look."""
    if not _event_specs(workflow.spec):
        return []
    fired = []
    for task in workflow.get_tasks(state=TaskState.COMPLETED):
        target = event_target(task.task_spec)
        if target is not None and task.last_state_change >= since:
            fired.append(target)
    return fired


_EVENT_SPECS: dict[int, bool] = {}


def _event_specs(spec: Any) -> bool:
    """Whether the process declares any event-carrying timer (cached per loaded spec object)."""
    key = id(spec)
    if key not in _EVENT_SPECS:
        _EVENT_SPECS[key] = any("event" in getattr(ts, "extensions", {}).get("properties", {})
                                for ts in spec.task_specs.values())
    return _EVENT_SPECS[key]


def _record_trail(instance: ProcessInstance, workflow: BpmnWorkflow) -> None:
    done = {t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.COMPLETED) if t.task_spec.bpmn_id}
    if not done.issubset(instance.trail):
        instance.trail = sorted(set(instance.trail) | done)


def _resolve_user(value: Any) -> User | None:
    if value in (None, ""):
        return None
    query = sa.select(User).where(User.username == str(value))
    return db.session.scalar(query.options(so.lazyload(User.role_rows), so.lazyload(User.unit)))


def _resolve_unit(value: Any) -> Unit | None:
    if value in (None, ""):
        return None
    return db.session.scalar(sa.select(Unit).where(Unit.code == str(value)))


def _due_at(info: UserTaskInfo, data: dict[str, Any]) -> datetime | None:
    """``dueDate`` (a data variable holding an ISO date-time) or ``dueWorkingDays`` (a number, or the
    name of a data variable holding one) sets the deadline."""
    if "dueDate" in info.properties:
        value = data.get(info.properties["dueDate"])
        try:
            due = datetime.fromisoformat(str(value))
        except ValueError:
            raise ProcessError(f"{info.bpmn_id}: dueDate {value!r} is not an ISO date-time") from None
        if due.tzinfo is None:
            raise ProcessError(f"{info.bpmn_id}: dueDate {value!r} has no time zone")
        return due
    raw = info.properties.get("dueWorkingDays")
    if raw is None:
        return None
    value = data.get(raw, raw)
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise ProcessError(f"{info.bpmn_id}: dueWorkingDays {raw!r} is not a number") from None
    return add_working_days(utcnow(), days)


def data_value(data: dict[str, Any], ref: str) -> Any:
    """A task-data variable named by a property; ``party.unit`` reads a key of a dict variable (e.g. the
    element of a multi-instance over ``[{key, role, unit}]``)."""
    value: Any = data
    for part in ref.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def task_role(info: UserTaskInfo, data: dict[str, Any]) -> str:
    """``candidateRole`` (a variable holding a role key, e.g. each party of a 会签) wins over the lane;
    a task assigned to a named user (``assignee``) needs no role: nobody else becomes a candidate."""
    if "candidateRole" in info.properties:
        value = data_value(data, info.properties["candidateRole"])
        role = role_for_lane(str(value)) if value else None
        if role is None:
            raise ProcessError(f"{info.bpmn_id}: candidateRole {info.properties['candidateRole']!r} "
                               f"holds no known role ({value!r})")
        return role
    role = role_for_lane(info.lane)
    if role is None:
        if "assignee" in info.properties:
            return ""
        raise ProcessError(f"{info.bpmn_id}: lane {info.lane!r} names no known role")
    return role


def _new_task_row(instance: ProcessInstance, spiff_task: Any, info: UserTaskInfo) -> HumanTask:
    data = spiff_task.data
    role = task_role(info, data)
    assignee = None
    if "assignee" in info.properties:
        assignee = _resolve_user(data_value(data, info.properties["assignee"]))
        if assignee is None:
            raise ProcessError(f"{info.bpmn_id}: no user for assignee variable {info.properties['assignee']!r}")
    excluded = (_resolve_user(data_value(data, info.properties["excludeUser"]))
                if "excludeUser" in info.properties else None)
    unit = None
    if "candidateUnit" in info.properties:
        unit = _resolve_unit(data_value(data, info.properties["candidateUnit"]))
        if unit is None:
            raise ProcessError(f"{info.bpmn_id}: no unit for candidateUnit {info.properties['candidateUnit']!r}")
    return HumanTask(
        instance_id=instance.id, spiff_task_id=str(spiff_task.id), bpmn_id=info.bpmn_id, name=info.name,
        process_id=instance.process_id, title=instance.title, lane=info.lane, role=role,
        candidate_unit=unit, assignee=assignee, pinned=assignee is not None,
        excluded_user_id=excluded.id if excluded else None,
        claimed_at=utcnow() if assignee else None,
        form_key=info.form_key or "", priority=int(info.properties.get("priority", 50)),
        due_at=_due_at(info, data), status=TaskStatus.OPEN,
    )


def _sync_inbox(instance: ProcessInstance, workflow: BpmnWorkflow) -> None:
    """Open a row for every newly ready user task; cancel rows whose task the engine dropped."""
    user_tasks = _user_tasks_of(instance)
    ready = {str(t.id): t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
    # Read without autoflush: a row completed in this step is still open in the table, not in memory.
    open_rows = [row for row in db.session.scalars(
        sa.select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.status == TaskStatus.OPEN)
    ) if row.status == TaskStatus.OPEN]
    known = {row.spiff_task_id for row in open_rows}
    for row in open_rows:
        if row.spiff_task_id not in ready:
            row.status = TaskStatus.CANCELLED
            _log(instance, "task_cancelled", task=row)
    for spiff_id, spiff_task in ready.items():
        if spiff_id in known:
            continue
        info = user_tasks.get(spiff_task.task_spec.bpmn_id)
        if info is None:
            raise ProcessError(f"{spiff_task.task_spec.bpmn_id}: not a user task of {instance.process_id}")
        row = _new_task_row(instance, spiff_task, info)
        _keep_chase_marks(instance, row)
        db.session.add(row)


def _keep_chase_marks(instance: ProcessInstance, row: HumanTask) -> None:
    """A task that comes back (a return loop) with the same deadline is still overdue, but one
    deadline is chased and escalated once: the new row keeps the earlier row's marks, so its
    boundary timers, refiring at once, and the sweep change nothing."""
    if row.due_at is None or row.bpmn_id not in instance.trail:
        return
    earlier = db.session.execute(sa.select(HumanTask.chased_at, HumanTask.escalated_at).where(
        HumanTask.instance_id == instance.id, HumanTask.bpmn_id == row.bpmn_id, HumanTask.due_at == row.due_at,
        HumanTask.chased_at.is_not(None)).order_by(HumanTask.id.desc()).limit(1)).first()
    if earlier is not None:
        row.chased_at, row.escalated_at = earlier.chased_at, earlier.escalated_at


def form_for(instance: ProcessInstance, form_key: str) -> FormSpec | None:
    return registry().form(instance.spec, form_key)


def _user_tasks_of(instance: ProcessInstance) -> dict[str, UserTaskInfo]:
    return registry().user_tasks(instance.spec)


def _log(instance: ProcessInstance, type_: str, *, user: User | None = None, task: HumanTask | None = None,
         data: dict[str, Any] | None = None) -> None:
    decision = data.get("decision") if data else None
    comment = (data.get("comment") or data.get("opinion")) if data else None
    event = ProcessEvent(
        instance_id=instance.id, user=user, type=type_, task_id=task.id if task else None,
        bpmn_id=task.bpmn_id if task else None, task_name=task.name if task else None,
        decision=str(decision) if decision is not None else None,
        comment=str(comment) if comment else None, data=_jsonable(data) if data else None,
    )
    db.session.add(event)


def log_event(instance: ProcessInstance, type_: str, *, user: User | None = None,
              task: HumanTask | None = None, comment: str | None = None) -> None:
    """Append an inbox operation (claim, release, chase…) to the instance history."""
    _log(instance, type_, user=user, task=task, data={"comment": comment} if comment else None)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, str | int | float | bool | type(None) | list | dict) else str(v))
            for k, v in data.items()}
