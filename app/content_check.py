"""Cross-checks of the content directories (used by ``flask validate`` and the test suite)."""
from __future__ import annotations

from pathlib import Path

from app.formspec import FormSpecError, load_form_specs
from app.roles import role_for_lane
from app.workflow.specs import SpecError, parse_directory


def check_content(bpmn_dir: Path, forms_dir: Path, reports_dir: Path) -> list[str]:
    problems: list[str] = []
    try:
        specs = parse_directory(bpmn_dir)
    except SpecError as exc:
        return [f"bpmn: {exc}"]
    try:
        forms = load_form_specs(forms_dir)
    except FormSpecError as exc:
        return [f"forms: {exc}"]
    used: set[str] = set()
    for process_id, spec in specs.items():
        for task in spec.user_tasks.values():
            where = f"{spec.files[0].name} / {task.bpmn_id}"
            if not task.form_key:
                problems.append(f"{where}: user task has no formKey property")
            elif task.form_key not in forms:
                problems.append(f"{where}: form {task.form_key!r} not found in {forms_dir.name}/")
            else:
                used.add(task.form_key)
            if role_for_lane(task.lane) is None and not {"assignee", "candidateRole"} & set(task.properties):
                problems.append(f"{where}: lane {task.lane!r} names no known role")
        del process_id
    for key in sorted(set(forms) - used):
        problems.append(f"forms/{key}.yaml is not used by any user task")
    for folder in sorted(p for p in reports_dir.glob("*") if p.is_dir()):
        if not (folder / "template.html").exists():
            problems.append(f"reports/{folder.name}: template.html missing")
    return problems
