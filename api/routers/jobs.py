"""/v1/jobs (admin): batch runs over a server archive folder or over uploaded recordings.

Submitting answers 202 with the job (and its Location); a background worker runs the jobs
one at a time, in order (``engine.jobs``). Uploads are streamed into the upload area and
checked as they arrive (``api.uploads``, ``engine.uploads``); a refused upload leaves no file
and no job.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api import problems
from api.deps import AdminDep, SettingsDep, StoreDep
from api.schemas import ArchiveJobIn, JobCounts, JobFileOut, JobOut
from api.uploads import receive
from engine.jobs import JobRefused, JobWorker, archive_folder
from engine.store.jobs import Job, new_job_id
from engine.uploads import UploadArea, UploadRefused

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=problems.responses(403))

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "the recordings (their bytes decide their type)",
                        },
                        "metadata": {
                            "type": "string",
                            "format": "binary",
                            "description": "optional calls.csv (the batch's columns)",
                        },
                    },
                }
            }
        },
    }
}


def _out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        kind=job.kind,  # type: ignore[arg-type]
        status=job.status,  # type: ignore[arg-type]
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        counts=JobCounts(processed=job.processed, skipped=job.skipped, quarantined=job.quarantined),
        error=job.error,
        run_id=job.run_id,
        archive=job.source if job.kind == "archive" else None,
        since=job.since,
        files=[
            JobFileOut(
                name=f.name,
                call_id=f.call_id,
                size_bytes=f.size_bytes,
                duration=f.duration,
                container=f.container,
            )
            for f in job.files
        ],
    )


def _queued(request: Request, response: Response, job: Job) -> JobOut:
    worker: JobWorker | None = request.app.state.jobs
    if worker is not None:
        worker.wake()
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return _out(job)


@router.post("", status_code=202, response_model=JobOut, responses=problems.responses(400))
def submit_archive(
    body: ArchiveJobIn,
    request: Request,
    response: Response,
    store: StoreDep,
    settings: SettingsDep,
    key: AdminDep,
) -> JobOut:
    """A batch run over a folder of the server, inside one of its archive roots."""
    try:
        folder = archive_folder(body.archive, settings.archive_roots)
    except JobRefused as exc:
        raise HTTPException(403 if exc.forbidden else 422, exc.detail) from None
    job = store.jobs.create("archive", str(folder), since=body.since, submitted_by=key.id)
    return _queued(request, response, job)


@router.post(
    "/uploads",
    status_code=202,
    response_model=JobOut,
    responses=problems.responses(413, 415),
    openapi_extra=_UPLOAD_BODY,
)
async def submit_upload(
    request: Request, response: Response, store: StoreDep, settings: SettingsDep, key: AdminDep
) -> JobOut | JSONResponse:
    """Recordings (``files``) and an optional calls.csv (``metadata``), as multipart/form-data;
    a batch run over them. Each file's bytes must be audio of an accepted type, within the
    size and duration limits; any refusal names the file and the reason, and keeps nothing."""
    area: UploadArea = request.app.state.uploads
    job_id = new_job_id()
    folder = await run_in_threadpool(area.open, job_id)
    try:
        files = await receive(request, folder, settings.max_request_bytes)
        job = await run_in_threadpool(
            lambda: store.jobs.create(
                "upload", str(folder.path), files=files, submitted_by=key.id, job_id=job_id
            )
        )
    except UploadRefused as exc:
        await run_in_threadpool(folder.discard)
        status = 415 if exc.reason == "not_multipart" else 413 if exc.too_large else 422
        extra = {"reason": exc.reason} | ({"file": exc.name} if exc.name is not None else {})
        return problems.problem(status, str(exc), **extra)
    except BaseException:
        await run_in_threadpool(folder.discard)
        raise
    return _queued(request, response, job)


@router.get("", response_model=list[JobOut])
def jobs(
    store: StoreDep,
    settings: SettingsDep,
    _: AdminDep,
    limit: Annotated[int, Query(ge=1, description="at most page_limit")] = 50,
    status: Annotated[str | None, Query(pattern="^(queued|running|finished|failed)$")] = None,
) -> list[JobOut]:
    """The newest jobs first."""
    return [_out(j) for j in store.jobs.list(min(limit, settings.page_limit), status)]


@router.get("/{job_id}", response_model=JobOut, responses=problems.responses(404))
def job(job_id: str, store: StoreDep, _: AdminDep) -> JobOut:
    found = store.jobs.get(job_id)
    if found is None:
        raise HTTPException(404, f"no job {job_id[:40]!r}")
    return _out(found)
