"""Dependencies of the routes, as ``Annotated`` aliases (tests override ``get_store``)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.settings import ApiSettings
from engine.analytics.snapshot import FactsCache, FactsSnapshot
from engine.search import SearchError, UtteranceIndex
from engine.store.keys import ApiKey
from engine.store.repo import Store
from models.errors import ModelError
from models.sentence import SentenceEncoder

_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_bearer = HTTPBearer(auto_error=False)


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


def _caller(
    store: StoreDep,
    header: Annotated[str | None, Depends(_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    text = header or (bearer.credentials if bearer is not None else None)
    if not text:
        raise HTTPException(401, "an API key is required (X-API-Key or Authorization: Bearer)")
    key = store.keys.verify(text)
    if key is None:
        raise HTTPException(401, "the API key is not valid")
    return key


def require(role: str) -> Callable[[ApiKey], ApiKey]:
    def check(key: Annotated[ApiKey, Depends(_caller)]) -> ApiKey:
        if not key.allows(role):
            raise HTTPException(403, f"this needs the {role} role; the key has {key.role}")
        return key

    return check


AnalystDep = Annotated[ApiKey, Depends(require("analyst"))]
AdminDep = Annotated[ApiKey, Depends(require("admin"))]


class Encoders:
    """Sentence encoders for search queries, each loaded once (on first use) per app.

    threads: PyTorch's CPU threads in this process, set when an encoder loads (one query is
    one short text: more threads only contend with the searches' matrix products; 0 leaves
    PyTorch's default). A batch job in the same server sets its own when its models load.
    """

    def __init__(self, device: str, threads: int = 1) -> None:
        self.device = device
        self.threads = threads
        self._lock = threading.Lock()
        self._loaded: dict[str, SentenceEncoder] = {}

    def get(self, model: str) -> SentenceEncoder:
        with self._lock:
            if model not in self._loaded:
                from models.device import resolve_device
                from models.sentence import load_sentence_encoder

                choice = resolve_device(self.device)
                self._loaded[model] = load_sentence_encoder(model, choice)
                if self.threads and choice.device == "cpu":
                    import torch

                    torch.set_num_threads(self.threads)
            return self._loaded[model]


def get_search_index(request: Request) -> UtteranceIndex:
    index: UtteranceIndex = request.app.state.search_index
    return index


SearchIndexDep = Annotated[UtteranceIndex, Depends(get_search_index)]


def get_encoder(request: Request, store: StoreDep, index: SearchIndexDep) -> SentenceEncoder:
    """The query encoder of the model the store's embeddings were made with (tests override
    this with a small fake)."""
    try:
        model = index.prepare(store)
    except SearchError as exc:
        raise HTTPException(409, str(exc)) from exc
    try:
        encoders: Encoders = request.app.state.encoders
        return encoders.get(model)
    except ModelError as exc:
        raise HTTPException(
            409, f"the store's embeddings are by {model!r}, which cannot be loaded here: {exc}"
        ) from exc


EncoderDep = Annotated[SentenceEncoder, Depends(get_encoder)]


_facts_lock = threading.Lock()


def get_facts(request: Request, store: StoreDep) -> FactsSnapshot:
    """The calls' facts, repeat links and alerts of the store, re-read only after a change.

    A new snapshot is moved out of the garbage collector's sight (``gc.freeze``): it lives
    until the store changes, and scanning its objects in every full collection cost 0.15 s
    every ~10 metrics requests with 10,000 calls (the p99).
    """
    with _facts_lock:
        cache: FactsCache | None = getattr(request.app.state, "facts_cache", None)
        if cache is None or cache.store is not store:
            cache = FactsCache(store)
            request.app.state.facts_cache = cache
    snapshot = cache.get()
    if getattr(request.app.state, "frozen_facts", None) is not snapshot:
        request.app.state.frozen_facts = snapshot
        gc.freeze()
    return snapshot


FactsDep = Annotated[FactsSnapshot, Depends(get_facts)]
