"""Store fixtures shared by the store and export tests: every test runs on SQLite and PostgreSQL.

- ``store_url``: a fresh, empty store URL; parametrised ``sqlite`` (a file under tmp_path) and
  ``postgresql`` (a fresh schema, per test, in a database made for the test module and dropped
  after it).
- ``store``: ``Store.open(store_url)``, closed after the test.

PostgreSQL comes from ``$CALLSCOPE_TEST_PG_URL`` (a role that may create databases; see
``tests/start-postgres.sh``). Without it the PostgreSQL cases are skipped, unless
``CALLSCOPE_REQUIRE_PG=1`` (as in CI), which makes them fail instead.

Use from a test module or conftest: ``from tests.store_fixtures import *  # noqa: F403``.
Also here: ``make_call`` and ``make_meta`` build calls by hand (no models).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from engine.store.repo import Store
from engine.types import (
    AudioInfo,
    CallAnalysis,
    CallMetadata,
    Role,
    Speaker,
    SpeakerTurn,
    Utterance,
    Word,
)

__all__ = ["make_call", "make_meta", "pg_database", "pg_url", "store", "store_url"]

PG_URL_ENV = "CALLSCOPE_TEST_PG_URL"
REQUIRE_PG_ENV = "CALLSCOPE_REQUIRE_PG"


def _pg_base_url() -> str:
    url = os.environ.get(PG_URL_ENV)
    if url:
        return url
    reason = (
        f"PostgreSQL store tests need ${PG_URL_ENV} "
        "(start a server with tests/start-postgres.sh and export the line it prints)"
    )
    if os.environ.get(REQUIRE_PG_ENV) == "1":
        pytest.fail(f"{reason}; ${REQUIRE_PG_ENV}=1 requires them")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of its own for the test module, dropped after it."""
    base = make_url(_pg_base_url())
    name = f"callscope_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield base.set(database=name).render_as_string(hide_password=False)
        _drop_database(admin, name)
    finally:
        admin.dispose()


def _drop_database(admin: Engine, name: str) -> None:
    """Drop a test database, forcing only when a session of ours was left connected.

    A plain DROP DATABASE stops an autovacuum worker in the database by itself; WITH (FORCE)
    first tries to terminate every backend, and a role without pg_signal_backend may not
    terminate an autovacuum worker, so forcing first fails whenever autovacuum happens to run.
    """
    with admin.connect() as conn:
        try:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        except OperationalError as exc:
            if not isinstance(exc.orig, psycopg.errors.ObjectInUse):
                raise
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture()
def pg_url(pg_database: str) -> Iterator[str]:
    """A fresh, empty schema in the module's database, as the URL's search_path."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_database, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = make_url(pg_database).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store/callscope.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture()
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as s:
        yield s


def make_meta(call_id: str = "call-1", path: str | None = None, **fields: Any) -> CallMetadata:
    values: dict[str, Any] = {
        "night": "2026-11-16",
        "started_at": datetime(2026, 11, 16, 9, 30, 15, 250_000, tzinfo=UTC),
        "customer_id": "+44 20 7946 0001",
        "agent_id": "AG1",
        "queue": "billing",
        "channel_layout": "stereo: agent=left, customer=right",
        "derived": ("channel_layout",),
    }
    values.update(fields)
    return CallMetadata(call_id, path or f"/archive/2026-11-16/{call_id}.wav", **values)


def make_call(call_id: str = "call-1", variant: int = 0) -> CallAnalysis:
    """A two-speaker call; ``variant`` changes the words and adds ``variant`` utterances."""
    agent = (
        Word(" Thank", 0.1, 0.4, 0.91),
        Word(" you", 0.4, 0.6, 0.99),
        Word(f" for calling #{variant}", 0.6, 2.4, 0.875),
    )
    customer = (
        Word(" Grüße,", 2.1, 2.9, 0.8, channel=1),
        Word(" 我的卡 ☎", 3.0, 5.2, 0.7, channel=1),
    )
    utterances = [
        Utterance("S0", Role.AGENT, 0.1, 2.4, "Thank you for calling", agent),
        Utterance("S1", Role.CUSTOMER, 2.1, 5.2, "Grüße, 我的卡 ☎", customer),
    ]
    for i in range(variant):
        words = (Word(f" extra {i}", 6 + i, 6.5 + i),)
        utterances.append(Utterance("S0", Role.AGENT, 6.0 + i, 6.5 + i, f"extra {i}", words))
    return CallAnalysis(
        call_id=call_id,
        audio=AudioInfo(
            path=f"/archive/2026-11-16/{call_id}.wav",
            container="wav",
            codec="pcm_mulaw",
            sample_rate=8000,
            channels=2,
            duration=12.345 + variant,
            size_bytes=5_000_000_000 + variant,
        ),
        language="en",
        language_probability=0.987654321,
        diarisation_method="channel",
        speakers=(
            Speaker("S0", Role.AGENT, 0.95, "channel", 2.3),
            Speaker("S1", Role.CUSTOMER, 0.9, "channel", 3.1),
        ),
        turns=(SpeakerTurn("S0", 0.1, 2.4), SpeakerTurn("S1", 2.1, 5.2)),
        utterances=tuple(utterances),
        words=agent + customer + (Word(" uh", 5.5, 5.6, 0.3, channel=1),),
    )
