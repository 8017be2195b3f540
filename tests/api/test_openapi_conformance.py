"""Property-based tests of the app against its own OpenAPI schema (schemathesis).

Every operation gets a bounded number of generated requests, sent with an admin key (so the
writes run too) to an app over a filled store: no response may be a 5xx, and every response
must match what the schema says of it (status code documented, content type, body schema).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from api.main import create_app
from api.settings import ApiSettings
from engine.store.repo import Store

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 30


# The app is built here (never started) so schemathesis can read its schema at collection;
# the module fixture below fills its store and runs its lifespan.
_STORE_DIR = Path(tempfile.mkdtemp(prefix="callscope-conformance-"))
_URL = f"sqlite:///{_STORE_DIR}/callscope.db"
APP = create_app(ApiSettings(store_url=_URL, page_limit=20))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module")
def admin_key() -> Iterator[str]:
    from tests.engine.analytics.test_analyse import analysis, fill

    try:
        with Store.open(_URL) as store:
            fill(store)
            analysis(store).run()
            key = store.keys.create("schemathesis", "admin")[1]
        with TestClient(APP):  # the lifespan: the app's store stays open while the tests run
            yield key
    finally:
        shutil.rmtree(_STORE_DIR, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_responses_conform_to_the_schema(case: schemathesis.Case, admin_key: str) -> None:
    case.call_and_validate(headers={"X-API-Key": admin_key}, checks=CHECKS)
