"""Opening the result store's database: URLs, SQLite settings, migrations to head.

Used by ``engine.store.repo`` only. SQLite (the embedded default) is opened in WAL mode with
``synchronous=NORMAL``, a 30 s busy timeout and foreign keys on, and SQLAlchemy (not the
``sqlite3`` module) emits ``BEGIN``: reads run in one deferred transaction (one snapshot),
writes in ``BEGIN IMMEDIATE`` (the write lock up front, so two writers queue on the busy
timeout instead of failing to upgrade a read lock). PostgreSQL reads run in REPEATABLE READ,
so a read of several tables sees one snapshot there too.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

__all__ = [
    "DEFAULT_STORE_URL",
    "STORE_URL_ENV",
    "alembic_config",
    "create_store_engine",
    "default_store_url",
    "migrate",
    "resolve_store_url",
    "safe_url",
]

log = logging.getLogger(__name__)

STORE_URL_ENV = "CALLSCOPE_STORE_URL"
DEFAULT_STORE_URL = "sqlite:///callscope-data/callscope.db"
"""The embedded store, relative to the working directory, unless $CALLSCOPE_STORE_URL is set."""

SQLITE_BUSY_TIMEOUT_S = 30.0
MIGRATIONS = Path(__file__).with_name("migrations")
_BEGIN = "callscope_sqlite_begin"
_PG_MIGRATION_LOCK = 0x63616C6C73636F70  # "callscop": one migrating process at a time


def default_store_url() -> str:
    """$CALLSCOPE_STORE_URL, else ``sqlite:///callscope-data/callscope.db`` (relative to cwd)."""
    return os.environ.get(STORE_URL_ENV) or DEFAULT_STORE_URL


def resolve_store_url(url: str | None) -> str:
    """A store URL from a URL, a bare file path (an SQLite file) or None (the default)."""
    if not url:
        return default_store_url()
    if "://" not in url:
        return f"sqlite:///{url}"
    return url


def safe_url(url: str) -> str:
    """The URL with its password hidden, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)


def _is_sqlite_memory(database: str | None) -> bool:
    return not database or database == ":memory:" or "mode=memory" in database


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    try:
        mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.debug("SQLite journal mode is %s (WAL unavailable for this database)", mode)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def create_store_engine(url: str) -> tuple[Engine, Engine, Engine]:
    """(base, reader, writer) engines sharing one pool, set up as the module docstring says."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
        if _is_sqlite_memory(parsed.database):
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"]["check_same_thread"] = False
        else:
            Path(str(parsed.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine, engine, engine.execution_options(**{_BEGIN: "IMMEDIATE"})
    engine = create_engine(parsed, pool_pre_ping=True)
    if parsed.get_backend_name() == "postgresql":
        return engine, engine.execution_options(isolation_level="REPEATABLE READ"), engine
    return engine, engine, engine


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic Config for the store's migrations, built in code (no alembic.ini).

    With ``connection`` the migrations run on it, inside its transaction; otherwise env.py
    connects to ``url`` itself. For example, the SQL of the migrations for a DBA:
    ``alembic.command.upgrade(alembic_config(url), "head", sql=True)``.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _at_head(conn: Connection, heads: set[str]) -> bool:
    return set(MigrationContext.configure(conn).get_current_heads()) == heads


def migrate(reader: Engine, writer: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` in one transaction, if it is not there already.

    Checking needs only a read; upgrading holds the SQLite write lock or a PostgreSQL advisory
    lock, so two processes opening a new store at once migrate it once.
    """
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    if revision == "head":
        with reader.connect() as conn:
            if _at_head(conn, heads):
                return
    with writer.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        if revision == "head" and _at_head(conn, heads):
            return
        log.info(
            "migrating the store %s to %s",
            writer.url.render_as_string(hide_password=True),
            revision,
        )
        command.upgrade(alembic_config(connection=conn), revision)
