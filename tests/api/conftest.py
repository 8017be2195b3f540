"""An app over a store filled with analysed calls; keys for each role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.deps import get_store
from api.main import create_app
from api.settings import ApiSettings
from engine.store.repo import Store
from tests.store_fixtures import pg_database, pg_url, store, store_url

__all__ = ["pg_database", "pg_url", "store", "store_url"]


@pytest.fixture
def filled(store: Store) -> Store:
    from tests.engine.analytics.test_analyse import analysis, fill

    fill(store)
    analysis(store).run()
    return store


@pytest.fixture
def client(filled: Store, store_url: str) -> Iterator[TestClient]:
    app = create_app(ApiSettings(store_url=store_url, page_limit=20))
    app.dependency_overrides[get_store] = lambda: filled
    with TestClient(app) as c:
        yield c


@pytest.fixture
def analyst(filled: Store) -> dict[str, str]:
    return {"X-API-Key": filled.keys.create("qa team", "analyst")[1]}


@pytest.fixture
def admin(filled: Store) -> dict[str, str]:
    return {"Authorization": f"Bearer {filled.keys.create('ops', 'admin')[1]}"}
