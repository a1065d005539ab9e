"""The Alembic migrations build exactly the schema the models describe."""
from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.extensions import db
from tests.conftest import PROJECT


def test_migrations_match_the_models(app):
    """The suite's database was upgraded to head at start-up; autogenerate must find nothing to do."""
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "compare_server_default": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == [], "models and migrations differ; run `flask db migrate`:\n" + "\n".join(
        map(str, differences))


def test_the_comparison_would_notice_a_model_change(app):
    """The check above is real: a column the migrations lack shows up as a difference."""
    changed = sa.MetaData(naming_convention=db.metadata.naming_convention)
    for table in db.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["unit"].append_column(sa.Column("phone", sa.String(20)))
    with app.app_context(), db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), changed)
    assert [(d[0], d[2], d[3].name) for d in differences] == [("add_column", "unit", "phone")]


def test_the_database_is_at_the_single_head(app):
    scripts = ScriptDirectory.from_config(_alembic_config())
    heads = scripts.get_heads()
    assert len(heads) == 1, f"migration history has branched: {heads}"
    with app.app_context(), db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_heads() == tuple(heads)


def _alembic_config() -> Config:
    config = Config(str(PROJECT / "migrations" / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT / "migrations"))
    return config
