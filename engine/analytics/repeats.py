"""Repeat contacts and first-contact resolution.

A call is a *repeat* of an earlier call when the same customer (normalised ANI or customer id)
called before within ``window_days`` about the same driver, or about a reason whose sentence
embedding is close enough to count as the same problem. The link always points to the LATEST
such earlier call, so a chain A -> B -> C gives the links B->A and C->B.

Calls of the same customer only minutes apart are one contact (a transfer or a dropped line
called straight back), not a repeat: a call starting within ``transfer_minutes`` of the END of
an earlier call of the same customer is a *continuation leg*, gets no link, and belongs to the
contact of that earlier call for first-contact resolution.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import phonenumbers

from engine.errors import ConfigError
from engine.types import CallFacts, RepeatLink

log = logging.getLogger(__name__)

_PHONE_CHARS = re.compile(r"^\+?[\d\s().\-/]+$")
_MIN_PHONE_DIGITS = 7
_MAX_PHONE_DIGITS = 17  # 15 (E.164) plus an international prefix such as 00
# what switches put in the ANI field when the caller hides the number: never one customer
_WITHHELD = frozenset(
    {"anonymous", "withheld", "private", "restricted", "unknown", "unavailable", "none", "null"}
)


@dataclass(frozen=True)
class RepeatOptions:
    """How repeat contacts are found.

    window_days: a call is a repeat only of calls at most this many days earlier (default 7,
        inclusive; measured start to start).
    transfer_minutes: a call starting within this many minutes of the end of an earlier call
        of the same customer (or while it is still going) is a continuation of that contact
        (a transfer or a call straight back), never a repeat (default 30).
    similarity_threshold: two calls about DIFFERENT (or unknown) drivers still count as the
        same problem when the cosine of their reason vectors is at least this (default 0.75).
        Conservative on purpose (benchmarks/repeats_eval.py --vectors, all-MiniLM-L6-v2 on
        the customer's reason turn of the labelled archive): 0.01% of call pairs about
        different drivers reach 0.75 (p99 0.56, max 0.80) but only 28% of pairs about the
        same driver do (median 0.68), so vectors only add repeats that driver ids missed and
        hardly ever turn "same customer, different problem" into a repeat; at 0.6, 0.4% of
        different-driver pairs would pass. Set above 1 to rely on driver ids alone.
    region: the country assumed for national phone numbers without a country code
        (ISO 3166 alpha-2, default "GB").
    driver_similarity_threshold: two different drivers are "semantically similar" when their
        centroids have at least this cosine (default 0.65): one problem worded two ways (or
        misheard) can form two drivers, and a customer calling back about it is still a
        repeat. On the labelled archive the two drivers of one intent measured 0.68 and 0.56
        against at most 0.61 between drivers of different intents; Banking77's 77 intent
        centroids pass 0.65 for 6.7% of pairs, such as top_up_failed / top_up_reverted.
        Needs the drivers' centroids (``RepeatFinder(driver_centroids=...)``).
    callback_phrases: a call in which someone says the customer contacted the company about
        this before ("I called about this before", "this is my second call", "calling back
        about the same issue"; see ``mentions_earlier_contact``; every speaker counts, as an
        agent may say it and a mono call's roles can be wrong) repeats the customer's earlier
        call in the window even when the drivers differ (wordings of one problem often land
        in different drivers): the earlier call with the most similar reason, the latest on a
        tie. "I rang recently, but this is a different thing" is not such a call.
    """

    window_days: float = 7.0
    transfer_minutes: float = 30.0
    similarity_threshold: float = 0.75
    driver_similarity_threshold: float = 0.65
    region: str = "GB"
    callback_phrases: bool = True

    def __post_init__(self) -> None:
        if self.window_days <= 0:
            raise ConfigError(f"window_days must be positive, got {self.window_days}")
        if self.transfer_minutes < 0:
            raise ConfigError(f"transfer_minutes must be >= 0, got {self.transfer_minutes}")
        if self.transfer_minutes >= self.window_days * 24 * 60:
            raise ConfigError("transfer_minutes must be shorter than the repeat window")


@dataclass(frozen=True)
class FcrFigure:
    """First-contact resolution of one group: ``resolved`` of ``contacts`` had no repeat."""

    contacts: int
    resolved: int
    rate: float


def as_utc(when: datetime) -> datetime:
    """``when`` as an aware UTC datetime (a naive datetime is taken to be UTC already)."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def normalise_customer(raw: str | None, region: str = "GB") -> str | None:
    """One key per customer: E.164 for phone numbers, else the id casefolded without spaces.

    A value is taken as a phone number when it holds only digits, spaces and ``+().-/``,
    has 7 to 17 digits and ``phonenumbers`` finds a possible number in it, so
    "+44 20 7946 0881", "020 7946 0881" and "0044 20 7946 0881" all become "+442079460881".
    Empty and withheld values ("anonymous", "withheld", ...) give None: they name no customer.
    """
    if raw is None:
        return None
    text = raw.strip()
    if not text or text.casefold() in _WITHHELD:
        return None
    digits = sum(ch.isdigit() for ch in text)
    if _PHONE_CHARS.match(text) and _MIN_PHONE_DIGITS <= digits <= _MAX_PHONE_DIGITS:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return "".join(text.split()).casefold()


_CONTACTED = r"(?:called|rang|phoned|spoke|talked|contacted|been in touch|chatted)"
_BEFORE = (
    r"(?:before|earlier|already|previously|last (?:time|week|month)|yesterday|recently"
    r"|(?:a (?:few|couple of)|two|three|\d+) (?:days|weeks) ago)"
)
_CALLBACK = re.compile(
    rf"\b{_CONTACTED}\b[^.?!]{{0,40}}\b{_BEFORE}\b"
    r"|\b(?:second|third|fourth|fifth|\d+(?:nd|rd|th)) (?:call|time)\b"
    r"|\bcalling (?:you )?(?:back|again)\b|\bkeep (?:calling|ringing|phoning)\b"
    r"|\bsame (?:issue|problem|thing|question) as (?:last time|before)\b",
    re.I,
)
_SOMETHING_ELSE = re.compile(
    r"\b(?:different|another|new|separate|unrelated) (?:thing|issue|matter|question|problem)\b"
    r"|\bsomething (?:else|different)\b",
    re.I,
)


def mentions_earlier_contact(text: str) -> bool:
    """The customer says they contacted the company about this before (English phrases),
    and does not say it is about something else."""
    return bool(_CALLBACK.search(text)) and not _SOMETHING_ELSE.search(text)


def cosine(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """Cosine similarity of two vectors, None when either is missing, empty or zero."""
    if a is None or b is None or a.size == 0 or a.shape != b.shape:
        return None
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norm == 0.0:
        return None
    return float(np.dot(a.ravel(), b.ravel()) / norm)


class RepeatFinder:
    """Links each repeat contact to the latest earlier call it repeats (see the module doc)."""

    def __init__(
        self,
        options: RepeatOptions | None = None,
        driver_centroids: Mapping[int, np.ndarray] | None = None,
    ) -> None:
        self.options = options or RepeatOptions()
        self.driver_centroids = driver_centroids or {}
        self._window = timedelta(days=self.options.window_days)
        self._transfer = timedelta(minutes=self.options.transfer_minutes)

    def find(self, calls: Sequence[CallFacts]) -> tuple[RepeatLink, ...]:
        """The repeat links of ``calls``, in the order the repeating calls started."""
        links: list[RepeatLink] = []
        for call, earlier in self._histories(calls):
            if self._continued(call, earlier) is not None:
                continue
            link = self._link(call, earlier)
            if link is not None:
                links.append(link)
        log.debug("%d repeat links among %d calls", len(links), len(calls))
        return tuple(links)

    def _link(self, call: CallFacts, earlier: Sequence[CallFacts]) -> RepeatLink | None:
        chosen: tuple[CallFacts, float] | None = None
        for before in earlier:
            similarity = self.similarity(call, before)
            if similarity is not None:
                chosen = (before, similarity)
                break
        callback = self.options.callback_phrases and call.mentions_earlier_contact
        if chosen is None and earlier and callback:
            scored = [(cosine(call.reason_vector, b.reason_vector) or 0.0, b) for b in earlier]
            best = max(s for s, _ in scored)
            chosen = next((b, s) for s, b in scored if s == best)
        if chosen is None:
            return None
        before, similarity = chosen
        gap = as_utc(call.started_at) - as_utc(before.started_at)
        return RepeatLink(
            call_id=call.call_id,
            earlier_call_id=before.call_id,
            gap_days=round(gap.total_seconds() / 86400, 3),
            driver_id=call.driver_id,
            similarity=round(similarity, 4),
        )

    def contacts(self, calls: Sequence[CallFacts]) -> dict[str, str]:
        """Each call id -> the call id of the first leg of its contact (itself unless it
        continues an earlier call of the same customer within ``transfer_minutes``)."""
        first_leg: dict[str, str] = {}
        for call, earlier in self._histories(calls):
            previous = self._continued(call, earlier)
            first_leg[call.call_id] = (
                call.call_id if previous is None else first_leg[previous.call_id]
            )
        return first_leg

    def similarity(self, call: CallFacts, before: CallFacts) -> float | None:
        """How alike the two calls' problems are, or None when they are different problems.

        Same driver: the cosine of the reason vectors (1.0 without vectors). Different or
        unknown driver: the reasons' cosine when it reaches ``similarity_threshold``, else the
        drivers' centroid cosine when it reaches ``driver_similarity_threshold``, else None.
        """
        score = cosine(call.reason_vector, before.reason_vector)
        if call.driver_id is not None and call.driver_id == before.driver_id:
            return 1.0 if score is None else score
        if score is not None and score >= self.options.similarity_threshold:
            return score
        drivers = self._driver_similarity(call.driver_id, before.driver_id)
        if drivers is not None and drivers >= self.options.driver_similarity_threshold:
            return drivers
        return None

    def _driver_similarity(self, a: int | None, b: int | None) -> float | None:
        if a is None or b is None:
            return None
        return cosine(self.driver_centroids.get(a), self.driver_centroids.get(b))

    def _continued(self, call: CallFacts, earlier: Sequence[CallFacts]) -> CallFacts | None:
        """The latest earlier call that ``call`` is a continuation leg of, if any."""
        start = as_utc(call.started_at)
        for before in earlier:
            end = as_utc(before.started_at) + timedelta(seconds=before.duration)
            if start - end <= self._transfer:
                return before
        return None

    def _histories(
        self, calls: Sequence[CallFacts]
    ) -> Iterator[tuple[CallFacts, tuple[CallFacts, ...]]]:
        """Each call (in start order) with the calls of the same customer that started
        strictly earlier and at most ``window_days`` before it, latest first."""
        by_customer: dict[str, list[CallFacts]] = defaultdict(list)
        for call in sorted(calls, key=lambda c: (as_utc(c.started_at), c.call_id)):
            key = normalise_customer(call.customer_id, self.options.region)
            if key is None:
                yield call, ()
                continue
            start = as_utc(call.started_at)
            history = by_customer[key]
            earlier = tuple(
                before
                for before in reversed(history)
                if as_utc(before.started_at) < start
                and start - as_utc(before.started_at) <= self._window
            )
            yield call, earlier
            history.append(call)


def first_contact_resolution(
    calls: Sequence[CallFacts],
    links: Sequence[RepeatLink],
    by: Callable[[CallFacts], str | None],
    options: RepeatOptions | None = None,
    as_of: datetime | None = None,
) -> dict[str, FcrFigure]:
    """First-contact resolution per group (driver, agent, queue, ... as ``by`` names it).

    Every contact counts once (continuation legs join the contact of their first leg, which
    ``by`` is applied to); a contact is resolved when no link within ``window_days`` points
    back to any of its legs. Contacts that ``by`` maps to None are left out. With ``as_of``,
    contacts whose window is still open at that time (started less than ``window_days``
    before it) are left out too, since a repeat may yet come.
    """
    options = options or RepeatOptions()
    finder = RepeatFinder(options)
    first_leg = finder.contacts(calls)
    by_id = {call.call_id: call for call in calls}
    repeated = {
        first_leg[link.earlier_call_id]
        for link in links
        if link.earlier_call_id in first_leg and link.gap_days <= options.window_days
    }
    cutoff = None if as_of is None else as_utc(as_of) - timedelta(days=options.window_days)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for contact_id in sorted(set(first_leg.values())):
        call = by_id[contact_id]
        if cutoff is not None and as_utc(call.started_at) > cutoff:
            continue
        key = by(call)
        if key is None:
            continue
        counts[key][0] += 1
        counts[key][1] += contact_id not in repeated
    return {
        key: FcrFigure(contacts=total, resolved=resolved, rate=round(resolved / total, 4))
        for key, (total, resolved) in sorted(counts.items())
    }
