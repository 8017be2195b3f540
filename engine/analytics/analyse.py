"""The night-level VoC analysis over the store: drivers, repeat contacts, metrics, alerts.

Run after every nightly batch (``callscope run``) and on its own (``callscope analyse``).
Steps, each reading what the previous one stored:

1. calls stored without embeddings by the configured sentence model (stored before
   analytics existed, or with another model) are embedded and their reasons marked;
2. drivers are updated (incremental, or a full re-clustering; see engine.analytics.drivers);
3. repeat contacts are recomputed over all calls (engine.analytics.repeats);
4. per-driver daily figures and alerts are recomputed (engine.analytics.metrics).

``until`` limits the analysis to calls that started before it (backfills, and the
night-by-night stability benchmark).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from engine.analytics.drivers import DriverAnalyser, DriverOptions
from engine.analytics.metrics import (
    AlertOptions,
    MetricsOptions,
    days_with_calls,
    detect_alerts,
    detect_family_alerts,
    driver_days,
    driver_families,
)
from engine.analytics.reasons import SCAFFOLD_PROTOTYPES, ReasonOptions, ReasonSelector
from engine.analytics.repeats import (
    FcrFigure,
    RepeatFinder,
    RepeatOptions,
    first_contact_resolution,
    mentions_earlier_contact,
)
from engine.analytics.scaffolding import ScaffoldDetector, ScaffoldOptions, ScaffoldReport
from engine.errors import ConfigError
from engine.stages.embed import embed_texts
from engine.store.repo import Store
from engine.store.voc import AnalysisRecord
from engine.timing import Stopwatch
from engine.types import (
    CallFacts,
    DriverAlert,
    DriverDay,
    RepeatLink,
    Role,
    Utterance,
    UtteranceEmbeddings,
    UtteranceSet,
)
from models.sentence import SentenceEncoder

__all__ = ["AnalyseOptions", "AnalysisReport", "VocAnalysis"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalyseOptions:
    """sentence_model: the embeddings drivers are built from (must match the batch's);
    recluster: re-cluster every reason utterance (lineage keeps IDs) instead of the
    incremental update; recluster_growth: also re-cluster when the reason utterances grew by
    this share since the last full clustering (0.25: a young store re-clusters most nights and
    a mature one rarely; None: only when asked), so early drivers, found from few
    utterances, do not fix the shape of all later ones; reselect: mark every stored call's
    reason utterances again (after changing ``reasons``), from its stored embeddings; until:
    only calls that started before this time; scaffolding: reason utterances chosen again
    over the whole store each analysis (engine.analytics.scaffolding), the per-call cues as
    its prior."""

    sentence_model: str = "all-minilm-l6-v2"
    recluster: bool = False
    recluster_growth: float | None = 0.25
    reselect: bool = False
    until: datetime | None = None
    embed_batch_size: int = 64
    reasons: ReasonOptions = field(default_factory=ReasonOptions)
    scaffolding: ScaffoldOptions = field(default_factory=ScaffoldOptions)
    drivers: DriverOptions = field(default_factory=DriverOptions)
    repeats: RepeatOptions = field(default_factory=RepeatOptions)
    metrics: MetricsOptions = field(default_factory=MetricsOptions)
    alerts: AlertOptions = field(default_factory=AlertOptions)


@dataclass(frozen=True)
class AnalysisReport:
    """What one analysis did and found; fcr: first-contact resolution by "driver" (id),
    "agent" and "queue"."""

    embedded_calls: int
    reason_utterances: int
    active_drivers: int
    new_drivers: int
    unassigned: float
    mode: str
    repeats: tuple[RepeatLink, ...]
    days: tuple[DriverDay, ...]
    alerts: tuple[DriverAlert, ...]
    wall_seconds: float
    fcr: dict[str, dict[str, FcrFigure]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time per part: embed, read, scaffolding, clustering, store, repeats, metrics."""
    scaffolding: ScaffoldReport | None = None


class VocAnalysis:
    """See the module docstring. ``encoder`` is called only when some call needs embedding."""

    def __init__(
        self,
        store: Store,
        encoder: Callable[[], SentenceEncoder],
        options: AnalyseOptions | None = None,
        analyser: DriverAnalyser | None = None,
    ) -> None:
        self.store = store
        self.load_encoder = encoder
        self.options = options or AnalyseOptions()
        self.analyser = analyser or DriverAnalyser(options=self.options.drivers)

    def _check(self, encoder: SentenceEncoder) -> None:
        if encoder.name != self.options.sentence_model:
            raise ConfigError(
                f"the encoder stores vectors as {encoder.name!r}, but the analysis reads "
                f"{self.options.sentence_model!r}"
            )

    def _select_reasons(self) -> ScaffoldReport | None:
        """Mark every stored call's reason utterances again: the per-call cues' verdicts
        (stored with each call) as the prior, then scaffolding learnt from the store."""
        o = self.options
        found = self.store.voc.utterance_set(o.sentence_model, o.until)
        if not o.scaffolding.enabled or len(found) == 0:
            return None
        rows, positions = _candidates(found, ReasonSelector(np.zeros((0, 0)), o.reasons))
        if not rows:
            return None
        flags, report = ScaffoldDetector(o.scaffolding).detect(
            [found.keys[i][0] for i in rows],
            found.vectors[rows],
            [found.texts[i] for i in rows],
            positions,
            found.reasons[rows],
        )
        chosen = dict.fromkeys((int(x) for x in found.ids), False)
        for i, flag in zip(rows, flags, strict=True):
            chosen[int(found.ids[i])] = bool(flag)
        self.store.voc.set_reason_flags(chosen)
        return report

    def _embed_missing(self) -> int:
        voc = self.store.voc
        missing = voc.calls_without_embeddings(self.options.sentence_model)
        if not missing and not self.options.reselect:
            return 0
        encoder = self.load_encoder()
        self._check(encoder)
        size = self.options.embed_batch_size
        selector = ReasonSelector(
            embed_texts(encoder, SCAFFOLD_PROTOTYPES, size), self.options.reasons
        )
        todo = self.store.call_ids() if self.options.reselect else missing
        for call_id in todo:
            utterances = voc.utterances(call_id)
            stored = None if call_id in missing else self.store.load_call(call_id)
            if stored is not None and stored.embeddings is not None:
                vectors = stored.embeddings.vectors
            else:
                vectors = embed_texts(encoder, [u.text for u in utterances], size)
            reasons = selector.select(utterances, UtteranceEmbeddings(encoder.name, vectors))
            voc.save_embeddings(call_id, encoder.name, vectors, reasons)
        log.info("embedded %d stored calls with %s", len(missing), encoder.name)
        return len(missing)

    def run(self) -> AnalysisReport:
        started = time.monotonic()
        o = self.options
        voc = self.store.voc
        watch = Stopwatch()
        with watch.time("embed"):
            embedded = self._embed_missing()
        with watch.time("scaffolding"):
            scaffolding = self._select_reasons()
        with watch.time("read"):
            reasons = voc.reason_set(o.sentence_model, o.until)
            drivers = voc.drivers()
            centroids = voc.centroids(o.sentence_model)
        before = {d.id for d in drivers}
        with watch.time("clustering"):
            update = self.analyser.update(
                reasons,
                drivers,
                centroids,
                voc.next_driver_id(),
                recluster=self._should_recluster(len(reasons)),
            )
        with watch.time("store"):
            voc.save_drivers(
                o.sentence_model,
                update.drivers,
                update.centroids,
                update.utterance_drivers,
                update.call_links,
                update.events,
            )
        with watch.time("read"):
            texts = voc.call_texts(o.until)
            facts = [
                replace(
                    f, mentions_earlier_contact=mentions_earlier_contact(texts.get(f.call_id, ""))
                )
                for f in voc.call_facts(o.sentence_model, o.until)
            ]
            centroids = voc.centroids(o.sentence_model)
        with watch.time("repeats"):
            links = RepeatFinder(o.repeats, centroids).find(facts)
        with watch.time("store"):
            voc.save_repeats(links)
        with watch.time("metrics"):
            days = driver_days(facts, links, o.metrics)
            active_days = days_with_calls(facts)
            alerts = detect_alerts(days, o.alerts, active_days=active_days)
            if o.alerts.family_similarity is not None:
                families = driver_families(centroids, o.alerts.family_similarity)
                alerts = tuple(
                    sorted(
                        (
                            *alerts,
                            *detect_family_alerts(days, families, o.alerts, active_days, alerts),
                        ),
                        key=lambda a: (a.day, a.driver_id, a.kind),
                    )
                )
        with watch.time("store"):
            voc.save_alerts(alerts)
        active = sum(1 for d in update.drivers if d.status == "active" and d.size > 0)
        groups: dict[str, Callable[[CallFacts], str | None]] = {
            "driver": lambda f: None if f.driver_id is None else str(f.driver_id),
            "agent": lambda f: f.agent_id,
            "queue": lambda f: f.queue,
        }
        with watch.time("metrics"):
            fcr = {
                name: first_contact_resolution(facts, links, by, o.repeats)
                for name, by in groups.items()
            }
        report = AnalysisReport(
            embedded_calls=embedded,
            reason_utterances=len(reasons),
            active_drivers=active,
            new_drivers=sum(1 for d in update.drivers if d.id not in before),
            unassigned=update.unassigned,
            mode=update.mode,
            repeats=links,
            days=days,
            alerts=alerts,
            wall_seconds=round(time.monotonic() - started, 3),
            fcr=fcr,
            seconds=watch.seconds,
            scaffolding=scaffolding,
        )
        voc.record_analysis(
            AnalysisRecord(
                report.mode,
                o.sentence_model,
                report.reason_utterances,
                report.active_drivers,
                report.new_drivers,
                report.unassigned,
                len(links),
                len(alerts),
                report.wall_seconds,
            )
        )
        return report

    def _should_recluster(self, utterances: int) -> bool:
        o = self.options
        if o.recluster:
            return True
        if o.recluster_growth is None:
            return False
        last = self.store.voc.last_analysis("recluster")
        if last is None:
            return True
        return utterances >= (1 + o.recluster_growth) * max(1, last.reason_utterances)


def _candidates(found: UtteranceSet, selector: ReasonSelector) -> tuple[list[int], np.ndarray]:
    """Rows of ``found`` that could state a reason (the customer's, with content words, or
    chosen by the cues) and each one's relative position among its call's customer
    utterances (0 first, 1 last)."""
    rows: list[int] = []
    positions: list[float] = []
    start = 0
    keys = found.keys
    while start < len(keys):
        end = start
        while end < len(keys) and keys[end][0] == keys[start][0]:
            end += 1
        utterances = [
            Utterance("", Role(found.roles[i]), 0.0, 0.0, found.texts[i]) for i in range(start, end)
        ]
        able = selector.candidates(utterances)
        speaking = [j for j, s in enumerate(selector.speaking(utterances)) if s]
        rank = {j: r / max(1, len(speaking) - 1) for r, j in enumerate(speaking)}
        for j in range(end - start):
            if able[j] or found.reasons[start + j]:
                rows.append(start + j)
                positions.append(rank.get(j, 0.0))
        start = end
    return rows, np.array(positions, dtype=np.float64)
