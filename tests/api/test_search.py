"""/v1/search over an analysed store (SQLite and PostgreSQL), with a small fake encoder of
the store's "axis" model in place of the sentence model."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.deps import get_encoder, get_store
from api.main import create_app
from api.settings import ApiSettings
from tests.engine.analytics.fakes import axis_vector

THEMES = {"pin": 0, "charged": 1, "exchange": 2}


class AxisEncoder:
    """The test store's "axis" model: a text points along its theme's axis (else axis 5)."""

    name = "axis"
    dim = 6

    def encode(self, texts, batch_size):
        axes = [next((a for t, a in THEMES.items() if t in text.lower()), 5) for text in texts]
        return np.stack([axis_vector(a) for a in axes])


@pytest.fixture
def search(client, analyst):
    client.app.dependency_overrides[get_encoder] = AxisEncoder

    def get(**params):
        return client.get("/v1/search", params=params, headers=analyst)

    return get


def test_finds_the_utterances_nearest_the_query(search):
    r = search(q="the exchange rate", limit=5)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"] == "the exchange rate" and body["model"] == "axis"
    hits = body["items"]
    assert len(hits) == 5 and all("exchange rate" in h["text"] for h in hits)
    assert all(h["score"] > 0.99 and h["role"] == "customer" and h["index"] == 1 for h in hits)
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert set(hits[0]) == {
        "call_id", "index", "speaker", "role", "start", "end", "text", "score", "driver_id",
        "started_at",
    }  # fmt: skip
    assert len(search(q="exchange").json()["items"]) == 20  # the default limit


def test_filters(search, client, analyst):
    drivers = client.get("/v1/drivers", headers=analyst).json()
    pin = next(d["id"] for d in drivers if "pin" in d["name"])

    def hits(**params):
        r = search(limit=100, **params)
        assert r.status_code == 200, r.text
        return r.json()["items"]

    agent = hits(q="hello", role="agent")
    assert agent and {h["text"] for h in agent} == {"Thanks for calling"}
    assert {h["role"] for h in hits(q="hello", reasons_only=True)} == {"customer"}
    assert {h["driver_id"] for h in hits(q="my pin", driver=pin)} == {pin}
    assert {h["call_id"] for h in hits(q="pin", call_id="s003")} == {"s003"}
    assert hits(q="pin", call_id="nope") == []
    late = hits(q="pin", started_from="2026-11-21T00:00:00Z")
    assert {h["call_id"][0] for h in late} == {"s", "t"} and len(late) == 20
    early = hits(q="pin", started_to="2026-11-17T00:00:00Z")
    assert {h["started_at"][:10] for h in early} == {"2026-11-16"}


INVALID = (
    {},
    {"q": ""},
    {"q": "   "},
    {"q": "x" * 501},
    {"q": "x", "limit": 0},
    {"q": "x", "limit": 101},
    {"q": "x", "role": "boss"},
    {"q": "x", "started_from": "yesterday"},
)


@pytest.mark.parametrize("params", INVALID)
def test_invalid_queries(search, params):
    r = search(**params)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


def test_needs_a_key(client):
    client.app.dependency_overrides[get_encoder] = AxisEncoder
    assert client.get("/v1/search", params={"q": "pin"}).status_code == 401


def test_refuses_a_store_without_embeddings(store, store_url):
    app = create_app(ApiSettings(store_url=store_url))
    app.dependency_overrides[get_store] = lambda: store
    key = {"X-API-Key": store.keys.create("qa", "analyst")[1]}
    with TestClient(app) as c:
        r = c.get("/v1/search", params={"q": "pin"}, headers=key)
    assert r.status_code == 409 and "no utterance embeddings" in r.json()["detail"]


def test_refuses_a_model_it_cannot_load(client, analyst):
    r = client.get("/v1/search", params={"q": "pin"}, headers=analyst)  # no fake encoder
    assert r.status_code == 409
    assert "embeddings are by 'axis', which cannot be loaded" in r.json()["detail"]


def test_refuses_an_encoder_of_another_model(client, analyst):
    class Other(AxisEncoder):
        name = "other"

    client.app.dependency_overrides[get_encoder] = Other
    r = client.get("/v1/search", params={"q": "pin"}, headers=analyst)
    assert r.status_code == 409 and "the query encoder is 'other'" in r.json()["detail"]
