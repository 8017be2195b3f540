"""/v1/calls: list with filters and cursor pagination; one call in full."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from api.deps import AnalystDep, SettingsDep, StoreDep
from api.schemas import (
    CallDetail,
    CallPage,
    CallSummary,
    DriverLinkOut,
    SpeakerOut,
    SpikeOut,
    UtteranceOut,
    WordOut,
    spike_fields,
)
from engine.store.calls import CallFilter, list_calls

router = APIRouter(prefix="/calls", tags=["calls"])


@router.get("", response_model=CallPage)
def calls(
    store: StoreDep,
    settings: SettingsDep,
    _: AnalystDep,
    started_from: datetime | None = None,
    started_to: datetime | None = None,
    driver: int | None = None,
    agent: Annotated[str | None, Query(max_length=200)] = None,
    queue: Annotated[str | None, Query(max_length=200)] = None,
    language: Annotated[str | None, Query(max_length=20)] = None,
    repeat: bool | None = None,
    spike: bool | None = None,
    text: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> CallPage:
    found = CallFilter(
        started_from, started_to, driver, agent, queue, language, repeat, spike, text
    )
    page = list_calls(store, found, min(limit, settings.page_limit), cursor)
    return CallPage(
        items=[
            CallSummary(
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
            for c in page.items
        ],
        next_cursor=page.next_cursor,
    )


@router.get("/{call_id}", response_model=CallDetail)
def call(call_id: str, store: StoreDep, _: AnalystDep) -> CallDetail:
    found = store.load_call(call_id)
    if found is None:
        raise HTTPException(404, f"no call {call_id!r}")
    signals = {s.index: s for s in found.signals}
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
