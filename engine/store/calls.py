"""Listing stored calls with filters and cursor pagination (for the API).

The order is (started_at, call_id); a cursor is the last row's pair, encoded, so a page
never repeats or skips a call even while the batch adds calls.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from engine.errors import CallscopeError
from engine.store import rows
from engine.store.schema import Call, CallDriver, Driver, Flag, RepeatLinkRow, UtteranceRow

if TYPE_CHECKING:
    from engine.store.repo import Store

__all__ = ["CallFilter", "CallListing", "CallPage", "filter_clauses", "list_calls"]


class CursorError(CallscopeError):
    """A page cursor that this store did not hand out."""


@dataclass(frozen=True)
class CallFilter:
    """Which calls to list; None means any. ``text`` matches utterance text, any case."""

    started_from: datetime | None = None
    started_to: datetime | None = None
    driver_id: int | None = None
    agent_id: str | None = None
    queue: str | None = None
    language: str | None = None
    repeat: bool | None = None
    spike: bool | None = None
    text: str | None = None


@dataclass(frozen=True)
class CallListing:
    """One call in a list."""

    call_id: str
    started_at: datetime | None
    duration: float
    customer_id: str | None
    agent_id: str | None
    queue: str | None
    language: str
    channel_layout: str | None
    driver_id: int | None
    driver_name: str | None
    repeat_of: str | None
    spikes: int


@dataclass(frozen=True)
class CallPage:
    items: tuple[CallListing, ...]
    next_cursor: str | None


def _encode(started: datetime | None, call_id: str) -> str:
    raw = json.dumps([started.isoformat() if started else None, call_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime | None, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        started, call_id = json.loads(raw)
        return (datetime.fromisoformat(started) if started else None), str(call_id)
    except (ValueError, TypeError) as exc:
        raise CursorError(f"invalid cursor {cursor[:40]!r}") from exc


def filter_clauses(f: CallFilter) -> list[Any]:
    """``f`` as WHERE clauses over ``Call`` (for any query whose FROM has the calls table)."""
    clauses: list[Any] = []
    if f.started_from is not None:
        clauses.append(Call.started_at >= f.started_from)
    if f.started_to is not None:
        clauses.append(Call.started_at < f.started_to)
    for column, value in ((Call.agent_id, f.agent_id), (Call.queue, f.queue)):
        if value is not None:
            clauses.append(column == value)
    if f.language is not None:
        clauses.append(Call.language == f.language)
    # the subqueries use aliases: the listing joins the same tables
    if f.driver_id is not None:
        cd = aliased(CallDriver)
        clauses.append(
            _exists(cd.id, cd.call_pk == Call.id, cd.driver_id == f.driver_id, cd.rank == 1)
        )
    if f.repeat is not None:
        rl = aliased(RepeatLinkRow)
        linked = _exists(rl.id, rl.call_pk == Call.id)
        clauses.append(linked if f.repeat else ~linked)
    if f.spike is not None:
        fl = aliased(Flag)
        flagged = _exists(fl.id, fl.call_pk == Call.id, fl.kind == rows.SPIKE_FLAG)
        clauses.append(flagged if f.spike else ~flagged)
    if f.text:
        ut = aliased(UtteranceRow)
        escaped = f.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(
            _exists(
                ut.id,
                ut.call_pk == Call.id,
                func.lower(ut.text).like(f"%{escaped}%", escape="\\"),
            )
        )
    return clauses


def _exists(column: Any, *conditions: Any) -> Any:
    return select(column).where(*conditions).correlate(Call).exists()


def list_calls(
    store: Store,
    f: CallFilter,
    limit: int = 50,
    cursor: str | None = None,
    descending: bool = False,
) -> CallPage:
    """A page of calls matching ``f`` in (started_at, call_id) order (newest first when
    ``descending``), after ``cursor`` (a cursor of a page in the same order)."""
    clauses = filter_clauses(f)
    if cursor:
        started, call_id = _decode(cursor)
        if descending:
            clauses.append(
                or_(
                    Call.started_at < started,
                    and_(Call.started_at == started, Call.call_id < call_id),
                )
                if started is not None
                else Call.call_id < call_id
            )
        else:
            clauses.append(
                or_(
                    Call.started_at > started,
                    and_(Call.started_at == started, Call.call_id > call_id),
                )
                if started is not None
                else Call.call_id > call_id
            )
    primary = (
        select(CallDriver.call_pk, CallDriver.driver_id).where(CallDriver.rank == 1).subquery()
    )
    # counted per listed row (a correlated subquery on the flags' call_pk index), not by
    # grouping every flag of the store
    fl = aliased(Flag)
    spikes = (
        select(func.count(fl.id))
        .where(fl.call_pk == Call.id, fl.kind == rows.SPIKE_FLAG)
        .correlate(Call)
        .scalar_subquery()
    )
    query = (
        select(
            Call.call_id,
            Call.started_at,
            Call.duration,
            Call.customer_id,
            Call.agent_id,
            Call.queue,
            Call.language,
            Call.channel_layout,
            primary.c.driver_id,
            Driver.name,
            RepeatLinkRow.earlier_call_id,
            spikes,
        )
        .outerjoin(primary, primary.c.call_pk == Call.id)
        .outerjoin(Driver, Driver.id == primary.c.driver_id)
        .outerjoin(RepeatLinkRow, RepeatLinkRow.call_pk == Call.id)
        .where(*clauses)
        .order_by(
            *(
                (Call.started_at.desc(), Call.call_id.desc())
                if descending
                else (Call.started_at, Call.call_id)
            )
        )
        .limit(limit + 1)
    )
    with store._read() as s:
        found = s.execute(query).all()
    items = tuple(
        CallListing(
            call_id=r[0],
            started_at=r[1],
            duration=r[2],
            customer_id=r[3],
            agent_id=r[4],
            queue=r[5],
            language=r[6],
            channel_layout=r[7],
            driver_id=r[8],
            driver_name=r[9],
            repeat_of=r[10],
            spikes=int(r[11] or 0),
        )
        for r in found[:limit]
    )
    more = len(found) > limit
    last = items[-1] if items else None
    return CallPage(items, _encode(last.started_at, last.call_id) if more and last else None)
