"""The HTTP API: ``create_app(settings)`` builds it; nothing is built at import time.

    uvicorn --factory api.main:default_app        (or: callscope serve)

Every route is under ``/v1`` and needs an API key (``X-API-Key`` or ``Authorization:
Bearer``; ``callscope keys create``): analyst keys read, admin keys also write. Errors are
RFC 9457 problem documents.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from api import problems
from api.deps import Encoders
from api.routers import analytics, calls, drivers, exports, jobs, report, search
from api.settings import ApiSettings
from engine.jobs import BatchRunner, JobWorker, PipelineBatchRunner
from engine.search import SearchOptions, UtteranceIndex
from engine.store.repo import Store
from engine.uploads import UploadArea

log = logging.getLogger(__name__)


def create_app(
    settings: ApiSettings | None = None, batch_runner: BatchRunner | None = None
) -> FastAPI:
    """The app; ``batch_runner`` runs the jobs (default: the real batch, models loaded at the
    first job; tests pass a fake)."""
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = Store.open(settings.store_url)
        warming = _warm_search(app) if settings.search_preload else None
        worker = _start_jobs(app, settings, batch_runner)
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            if warming is not None:
                warming.join()
            app.state.store.close()

    app = FastAPI(title=settings.title, version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.search_index = UtteranceIndex(
        settings.search_model, SearchOptions(check_seconds=settings.search_check_seconds)
    )
    app.state.encoders = Encoders(settings.sentence_device, settings.encoder_threads)
    problems.install(app)
    v1 = APIRouter(prefix="/v1", responses=problems.responses(401, 422))
    v1.include_router(calls.router)
    v1.include_router(analytics.router)  # before drivers: /drivers/metrics is not an id
    v1.include_router(drivers.router)
    v1.include_router(search.router)
    v1.include_router(exports.router)
    v1.include_router(jobs.router)
    v1.include_router(report.router)
    app.include_router(v1)
    return app


def _warm_search(app: FastAPI) -> threading.Thread:
    """Load the search index and its query encoder in the background (a failure is logged:
    the first search tries again and reports it).

    Then the objects loaded so far (the encoder's, the index's: about 600,000) are moved out
    of the garbage collector's sight with ``gc.freeze``: they live as long as the server, and
    scanning them in a full collection took 0.3 s, the API's p99 with 10,000 calls.
    """

    def warm() -> None:
        try:
            model = app.state.search_index.prepare(app.state.store)
            app.state.encoders.get(model)
        except Exception as exc:
            log.warning("search not warmed: %s", exc)
        gc.collect()
        gc.freeze()

    thread = threading.Thread(target=warm, name="callscope-search-warm", daemon=True)
    thread.start()
    return thread


def _start_jobs(
    app: FastAPI, settings: ApiSettings, runner: BatchRunner | None
) -> JobWorker | None:
    """The upload area, and the job worker (unless ``settings.job_worker`` is off)."""
    app.state.uploads = UploadArea(settings.upload_folder(), settings.upload_limits())
    app.state.uploads.sweep(lambda job_id: app.state.store.jobs.get(job_id) is not None)
    app.state.jobs = None
    if settings.job_worker:
        app.state.jobs = JobWorker(app.state.store, runner or PipelineBatchRunner())
        app.state.jobs.start()
    worker: JobWorker | None = app.state.jobs
    return worker


def default_app() -> FastAPI:
    """The app over the default store (for ``uvicorn --factory``)."""
    return create_app(ApiSettings())
