"""/v1/search: the utterances most similar in meaning to a free-text query."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from api import problems
from api.deps import AnalystDep, EncoderDep, SearchIndexDep, StoreDep
from api.schemas import MAX_ID, SearchHitOut, SearchOut
from engine.search import SearchError, SearchFilter
from engine.types import Role

router = APIRouter(tags=["search"])


@router.get("/search", response_model=SearchOut, responses=problems.responses(409))
def search(
    store: StoreDep,
    _: AnalystDep,
    index: SearchIndexDep,
    encoder: EncoderDep,
    q: Annotated[str, Query(min_length=1, max_length=500, description="free text")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    role: Literal["agent", "customer"] | None = None,
    driver: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="the call's primary driver")
    ] = None,
    started_from: datetime | None = None,
    started_to: datetime | None = None,
    call_id: Annotated[str | None, Query(max_length=200)] = None,
    reasons_only: bool = False,
) -> SearchOut:
    if not q.strip():
        raise HTTPException(422, "the query has no text")
    chosen = SearchFilter(
        role=Role(role) if role else None,
        driver_id=driver,
        started_from=started_from,
        started_to=started_to,
        call_id=call_id,
        reasons_only=reasons_only,
    )
    try:
        result = index.query(store, encoder, q, chosen, limit)
    except SearchError as exc:
        raise HTTPException(409, str(exc)) from exc
    return SearchOut(
        query=result.query,
        model=result.model,
        items=[
            SearchHitOut(
                call_id=h.call_id,
                index=h.index,
                speaker=h.speaker,
                role=h.role,
                start=h.start,
                end=h.end,
                text=h.text,
                score=h.score,
                driver_id=h.driver_id,
                started_at=h.started_at,
            )
            for h in result.hits
        ],
    )
