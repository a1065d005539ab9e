"""Database plumbing: SQLite pragmas and the write transaction every state change runs in."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app.extensions import db


def configure_engine(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how each transaction starts (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _sqlite_begin(conn: sa.Connection) -> None:
        # A write transaction takes SQLite's write lock up front (BEGIN IMMEDIATE) so that two
        # completions serialize instead of failing half-way with "database is locked"; reads stay
        # deferred so they never wait on writers.
        if conn.get_execution_options().get("write_lock"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def is_postgres() -> bool:
    return bool(db.engine.dialect.name == "postgresql")


@contextmanager
def write_transaction() -> Iterator[None]:
    """One unit of work that changes state: commit on success, roll back on any error.

    On PostgreSQL the services lock the rows they change (``SELECT … FOR UPDATE``); on SQLite
    the transaction takes the database write lock when it begins.
    """
    session = db.session()  # the request's Session (scoped_session has no in_transaction)
    if session.in_transaction():
        session.commit()  # end the read transaction the request opened (loading the user)
    session.connection(execution_options={"write_lock": True})
    try:
        yield
        session.commit()
    except BaseException:
        session.info.pop("after_commit", None)
        session.rollback()
        raise
    for callback in session.info.pop("after_commit", []):
        callback()


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the current write transaction has committed (e.g. queue a background
    job that must see the committed rows); dropped if it rolls back."""
    db.session.info.setdefault("after_commit", []).append(callback)
