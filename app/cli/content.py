"""``flask validate``: check bpmn/, forms/ and reports/ against each other."""
from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from app.content_check import check_content


@click.command("validate")
@with_appcontext
def validate_command() -> None:
    """Parse every BPMN file, check every user task's form and lane, every form is used, reports render."""
    problems = check_content(Path(current_app.config["BPMN_DIR"]), Path(current_app.config["FORMS_DIR"]),
                             Path(current_app.config["REPORTS_DIR"]))
    for problem in problems:
        click.echo(f"✗ {problem}", err=True)
    if problems:
        raise SystemExit(1)
    click.echo("bpmn/, forms/ and reports/ are consistent")
