"""Command line: ``flask --app wsgi init|units|users|demo|serve|validate|signing``."""
from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from app.cli import accounts, content, demo, setup, signing

    app.cli.add_command(setup.init_command)
    app.cli.add_command(setup.serve_command)
    app.cli.add_command(accounts.units_group)
    app.cli.add_command(accounts.users_group)
    app.cli.add_command(demo.demo_command)
    app.cli.add_command(content.validate_command)
    app.cli.add_command(signing.signing_group)
