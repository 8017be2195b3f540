"""The HTTP API: ``create_app(settings)`` builds it; nothing is built at import time.

    uvicorn --factory api.main:default_app        (or: callscope serve)

Every route is under ``/v1`` and needs an API key (``X-API-Key`` or ``Authorization:
Bearer``; ``callscope keys create``): analyst keys read, admin keys also write. Errors are
RFC 9457 problem documents.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from api import problems
from api.routers import analytics, calls, drivers
from api.settings import ApiSettings
from engine.store.repo import Store


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = Store.open(settings.store_url)
        try:
            yield
        finally:
            app.state.store.close()

    app = FastAPI(title=settings.title, version="1", lifespan=lifespan)
    app.state.settings = settings
    problems.install(app)
    v1 = APIRouter(prefix="/v1")
    v1.include_router(calls.router)
    v1.include_router(analytics.router)  # before drivers: /drivers/metrics is not an id
    v1.include_router(drivers.router)
    app.include_router(v1)
    return app


def default_app() -> FastAPI:
    """The app over the default store (for ``uvicorn --factory``)."""
    return create_app(ApiSettings())
