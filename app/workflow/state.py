"""Engine state in and out of the database, without the spec, kept small as loops go round."""
from __future__ import annotations

import json
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.spiff.serializer import DEFAULT_CONFIG as SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from app.workflow.engine import SCRIPT_ENGINE


class SpecFreeWorkflowConverter(BpmnWorkflowConverter):
    """Leaves the spec out of an instance's state: each spec version is stored once (process_spec).

    Restoring takes the already-parsed spec objects in place of their dicts, which the registry
    passes through unchanged, so a load costs no spec parsing at all.
    """

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct


_CONFIG = {**SPIFF_CONFIG, BpmnWorkflow: SpecFreeWorkflowConverter}
STATE_SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(_CONFIG))
STATE_VERSION: str = STATE_SERIALIZER.VERSION


def dump_state(workflow: BpmnWorkflow) -> str:
    return str(STATE_SERIALIZER.serialize_json(workflow))


def load_state(state_json: str, version: str, spec: Any, subprocess_specs: dict[str, Any],
               spec_json: str | None = None) -> BpmnWorkflow:
    """Rebuild a workflow and re-attach the restricted engine (it is never serialized)."""
    dct = json.loads(state_json)
    if version != STATE_VERSION:
        # An older serializer format: migrate the full document, spec included, the slow way once.
        assert spec_json is not None, "migrating an old state needs its spec"
        dct.update(json.loads(spec_json))
        dct[STATE_SERIALIZER.VERSION_KEY] = version
        STATE_SERIALIZER.migrate(dct)
        dct.pop("spec")
        dct.pop("subprocess_specs")
    dct["spec"] = spec
    dct["subprocess_specs"] = subprocess_specs
    workflow: BpmnWorkflow = STATE_SERIALIZER.from_dict(dct)
    workflow.script_engine = SCRIPT_ENGINE
    return workflow


def prune_history(workflow: BpmnWorkflow) -> int:
    """Drop completed history above the deepest completed task that every unfinished task descends from.

    Why this is sound: every task that can still run lies in the kept subtree, and so does every
    task it can consult. A parallel join only looks at tasks below its split, and while any branch
    of a split is unfinished the common ancestor lies above that split, so nothing a pending join
    needs is removed. The event log, not the engine tree, is the audit history. Sub-workflows of
    removed tasks are finished and are dropped with them. Returns the number of tasks removed.
    """
    unfinished = workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK)
    if not unfinished:
        return 0

    def ancestors(task: Any) -> list[Any]:
        chain = []
        while task is not None:
            chain.append(task)
            task = task.parent
        return chain

    first_chain = ancestors(unfinished[0])
    common = set(first_chain)
    for task in unfinished[1:]:
        common.intersection_update(ancestors(task))
    new_root = next(
        (t for t in first_chain if t in common and t.has_state(TaskState.COMPLETED)), None
    )
    if new_root is None or new_root is workflow.task_tree:
        return 0
    keep = {t.id for t in new_root}  # iterating a Task walks its subtree
    removed = [tid for tid in workflow.tasks if tid not in keep]
    for tid in removed:
        del workflow.tasks[tid]
        workflow.subprocesses.pop(tid, None)
    new_root._parent = None
    workflow.task_tree = new_root
    if workflow.last_task is not None and workflow.last_task.id not in keep:
        workflow.last_task = new_root
    return len(removed)
