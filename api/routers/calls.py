"""/v1/calls: list with filters and cursor pagination; one call in full; its transcript
(JSON, SRT, WebVTT) and diarisation (RTTM)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from api import problems
from api.deps import AnalystDep, SettingsDep, StoreDep
from api.schemas import (
    MAX_ID,
    CallDetail,
    CallPage,
    CallSummary,
    DriverLinkOut,
    SpeakerOut,
    SpikeOut,
    TurnOut,
    UtteranceOut,
    WordOut,
    spike_fields,
)
from engine.store.calls import CallFilter, CallListing, list_calls
from engine.store.repo import Store
from engine.types import CallAnalysis, Role
from engine.writers import safe_file_stem, to_json, to_rttm, to_srt, to_vtt

router = APIRouter(prefix="/calls", tags=["calls"])

TRANSCRIPT_TYPES: dict[str, tuple[str, Callable[[CallAnalysis], str]]] = {
    "json": ("application/json", to_json),
    "srt": ("application/x-subrip; charset=utf-8", to_srt),
    "vtt": ("text/vtt; charset=utf-8", to_vtt),
}


def call_filter(
    started_from: datetime | None = None,
    started_to: datetime | None = None,
    driver: Annotated[int | None, Query(ge=0, le=MAX_ID, description="the primary driver")] = None,
    agent: Annotated[str | None, Query(max_length=200)] = None,
    queue: Annotated[str | None, Query(max_length=200)] = None,
    language: Annotated[str | None, Query(max_length=20)] = None,
    repeat: bool | None = None,
    spike: bool | None = None,
    text: Annotated[str | None, Query(max_length=200)] = None,
) -> CallFilter:
    """The calls list's filters (also those of the exports)."""
    return CallFilter(started_from, started_to, driver, agent, queue, language, repeat, spike, text)


CallFilterDep = Annotated[CallFilter, Depends(call_filter)]


def summary(c: CallListing) -> CallSummary:
    return CallSummary(
        call_id=c.call_id,
        started_at=c.started_at,
        duration=c.duration,
        customer_id=c.customer_id,
        agent_id=c.agent_id,
        queue=c.queue,
        language=c.language,
        channel_layout=c.channel_layout,
        driver_id=c.driver_id,
        driver_name=c.driver_name,
        repeat_of=c.repeat_of,
        emotion_spikes=c.spikes,
    )


@router.get("", response_model=CallPage, responses=problems.responses(400))
def calls(
    store: StoreDep,
    settings: SettingsDep,
    _: AnalystDep,
    found: CallFilterDep,
    limit: Annotated[int, Query(ge=1)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    order: Annotated[
        Literal["asc", "desc"], Query(description="by start: oldest (asc) or newest first")
    ] = "asc",
) -> CallPage:
    page = list_calls(store, found, min(limit, settings.page_limit), cursor, order == "desc")
    return CallPage(items=[summary(c) for c in page.items], next_cursor=page.next_cursor)


def _load(store: Store, call_id: str) -> CallAnalysis:
    found = store.load_call(call_id)
    if found is None:
        raise HTTPException(404, f"no call {call_id!r}")
    return found


@router.get(
    "/{call_id}/transcript",
    response_class=Response,
    responses={
        200: {
            "description": "the transcript: JSON (the callscope call document), SRT or WebVTT",
            "content": {t.split(";")[0]: {} for t, _ in TRANSCRIPT_TYPES.values()},
        },
        **problems.responses(404),
    },
)
def transcript(
    call_id: str,
    store: StoreDep,
    _: AnalystDep,
    fmt: Annotated[Literal["json", "srt", "vtt"], Query(alias="format")] = "json",
) -> Response:
    media_type, render = TRANSCRIPT_TYPES[fmt]
    disposition = f'inline; filename="{safe_file_stem(call_id)}.{fmt}"'
    return Response(
        render(_load(store, call_id)),
        media_type=media_type,
        headers={"Content-Disposition": disposition},
    )


@router.get(
    "/{call_id}/rttm",
    response_class=Response,
    responses={
        200: {"description": "NIST RTTM, a line per turn", "content": {"text/plain": {}}},
        **problems.responses(404),
    },
)
def rttm(call_id: str, store: StoreDep, _: AnalystDep) -> Response:
    disposition = f'inline; filename="{safe_file_stem(call_id)}.rttm"'
    return Response(
        to_rttm(_load(store, call_id)),
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": disposition},
    )


@router.get("/{call_id}", response_model=CallDetail, responses=problems.responses(404))
def call(call_id: str, store: StoreDep, _: AnalystDep) -> CallDetail:
    found = _load(store, call_id)
    signals = {s.index: s for s in found.signals}
    roles = {s.label: s.role.value for s in found.speakers}
    links = store.voc.call_drivers(call_id).get(call_id, [])
    repeat = next(iter(store.voc.repeat_links(call_id)), None)
    return CallDetail(
        call_id=found.call_id,
        duration=found.duration,
        language=found.language,
        diarisation_method=found.diarisation_method,
        speakers=[
            SpeakerOut(
                label=s.label,
                role=s.role.value,
                confidence=s.confidence,
                speech_seconds=s.speech_seconds,
            )
            for s in found.speakers
        ],
        turns=[
            TurnOut(
                speaker=t.speaker,
                role=roles.get(t.speaker, Role.UNKNOWN.value),
                start=t.start,
                end=t.end,
            )
            for t in found.turns
        ],
        utterances=[
            UtteranceOut(
                speaker=u.speaker,
                role=u.role.value,
                start=u.start,
                end=u.end,
                text=u.text,
                sentiment=signals[i].sentiment if i in signals else None,
                is_reason=signals[i].is_reason if i in signals else False,
                words=[
                    WordOut(text=w.text, start=w.start, end=w.end, probability=w.probability)
                    for w in u.words
                ],
            )
            for i, u in enumerate(found.utterances)
        ],
        emotion_spikes=[SpikeOut(**spike_fields(x)) for x in found.spikes],
        drivers=[DriverLinkOut(driver_id=x.driver_id, rank=x.rank, score=x.score) for x in links],
        repeat_of=repeat.earlier_call_id if repeat else None,
    )
