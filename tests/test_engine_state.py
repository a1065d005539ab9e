"""Engine state stays small as loops go round, and pruning it never changes what the process does."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from app.workflow.engine import SCRIPT_ENGINE
from app.workflow.state import STATE_VERSION, dump_state, load_state, prune_history

FIXTURES = Path(__file__).parent / "bpmn"


def _spec() -> tuple[Any, dict[str, Any]]:
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_file(str(FIXTURES / "parallel_loop.bpmn"))
    return parser.get_spec("parallel_loop"), parser.get_subprocess_specs("parallel_loop")


def _drive(prune: bool, seed: int, rounds: int) -> tuple[list[bool], dict[str, Any], list[int]]:
    """Go round the 会签 loop: each round a draft, then the three sign-offs in a random order with
    random votes (all agree in the last round), saving and reloading the state after every step
    as the app does. Returns, per round, whether the process ended after it, the final data and
    the state size after every step."""
    spec, subprocess_specs = _spec()
    rng = random.Random(seed)
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=SCRIPT_ENGINE)
    workflow.task_tree.data.update(rounds=0)
    workflow.do_engine_steps()
    ended_after: list[bool] = []
    sizes: list[int] = []

    def finish(name: str, **data: Any) -> None:
        nonlocal workflow
        task = workflow.get_next_task(state=TaskState.READY, spec_name=name)
        assert task is not None, f"{name} is not ready"
        if name == "draft":
            # Votes must not exist before the split: SpiffWorkflow's join lets the firing branch's
            # inherited value win over a sibling's newer one (a modelling rule for 会签 too).
            for key in ("a", "b", "c"):
                task.data.pop(key, None)
        task.set_data(**data)
        task.run()
        workflow.refresh_timers()
        workflow.do_engine_steps()
        if prune:
            prune_history(workflow)
        state = dump_state(workflow)
        sizes.append(len(state))
        workflow = load_state(state, STATE_VERSION, spec, subprocess_specs)

    for round_no in range(rounds + 1):
        finish("draft", draft=f"v{round_no}")
        order = ["sign_a", "sign_b", "sign_c"]
        rng.shuffle(order)
        votes = {name: "agree" if round_no == rounds or rng.random() < 0.6 else "disagree" for name in order}
        for name in order:
            finish(name, **{name[-1]: votes[name]})
        ended_after.append(workflow.is_completed())
        assert ended_after[-1] == all(v == "agree" for v in votes.values()), f"round {round_no}: {votes}"
        if workflow.is_completed():
            break
    return ended_after, dict(workflow.data), sizes


def test_pruned_runs_follow_the_diagram_whatever_order_the_parallel_sign_offs_come_in() -> None:
    for seed in range(12):
        ended_after, data, _ = _drive(prune=True, seed=seed, rounds=6)
        assert data["agreed"] is True and data["rounds"] == len(ended_after), f"seed {seed}"
        assert {data["a"], data["b"], data["c"]} == {"agree"}
        assert _drive(prune=False, seed=seed, rounds=6)[:2] == (ended_after, data), f"seed {seed}"


def test_pruned_state_does_not_grow_with_loops() -> None:
    _, data, sizes = _drive(prune=True, seed=1, rounds=25)
    # all sign-offs in the same order each round: SpiffWorkflow can run that without pruning
    _, _, unpruned = _drive_in_order(rounds=25)
    assert data["rounds"] >= 1
    # After 25 loops the pruned state is about as large as after the first; unpruned grows linearly.
    assert max(sizes[-8:]) < 1.3 * max(sizes[:8])
    assert unpruned[-1] > 5 * sizes[-1]


def _drive_in_order(rounds: int) -> tuple[None, None, list[int]]:
    spec, subprocess_specs = _spec()
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=SCRIPT_ENGINE)
    workflow.task_tree.data.update(rounds=0)
    workflow.do_engine_steps()
    sizes = []
    for round_no in range(rounds):
        for name, data in [("draft", {}), ("sign_a", {"a": "agree"}), ("sign_b", {"b": "agree"}),
                           ("sign_c", {"c": "disagree" if round_no < rounds - 1 else "agree"})]:
            task = workflow.get_next_task(state=TaskState.READY, spec_name=name)
            for key in ("a", "b", "c") if name == "draft" else ():
                task.data.pop(key, None)
            task.set_data(**data)
            task.run()
            workflow.do_engine_steps()
            sizes.append(len(dump_state(workflow)))
    assert workflow.is_completed()
    return None, None, sizes


def test_prune_keeps_every_unfinished_task() -> None:
    spec, subprocess_specs = _spec()
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=SCRIPT_ENGINE)
    workflow.task_tree.data.update(rounds=0)
    workflow.do_engine_steps()
    draft = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
    draft.run()
    workflow.do_engine_steps()
    workflow.get_next_task(spec_name="sign_a").set_data(a="agree")
    workflow.get_next_task(spec_name="sign_a").run()
    workflow.do_engine_steps()
    before = {t.id for t in workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK)}
    prune_history(workflow)
    after = {t.id for t in workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK)}
    assert before == after
    ready = sorted(t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY, manual=True))
    assert ready == ["sign_b", "sign_c"]
