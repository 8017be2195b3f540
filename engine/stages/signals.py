"""Per-call VoC signals: utterance embeddings, reason flags, sentiment, prosody, spikes.

Everything the night-level analytics needs from a call that can be computed from the call
alone is computed here, while its audio is still decoded, and stored with the call in the
same transaction (so a re-run never recomputes it and never loses it).
"""

from __future__ import annotations

from dataclasses import replace

from engine.analytics.emotion import SpikeDetector
from engine.analytics.reasons import ReasonSelector
from engine.stages.embed import UtteranceEmbedder
from engine.stages.prosody import ProsodyExtractor
from engine.stages.sentiment import SentimentScorer
from engine.types import CallAnalysis, DecodedAudio, UtteranceSignals

__all__ = ["CallSignals"]


class CallSignals:
    """Adds embeddings, signals and emotion spikes to an analysed call.

    embedder: None leaves the call without embeddings (then no utterance is marked as a
    reason here; ``callscope analyse`` can embed stored calls later).
    """

    def __init__(
        self,
        embedder: UtteranceEmbedder | None,
        selector: ReasonSelector,
        sentiment: SentimentScorer,
        prosody: ProsodyExtractor,
        spikes: SpikeDetector,
    ) -> None:
        self.embedder = embedder
        self.selector = selector
        self.sentiment = sentiment
        self.prosody = prosody
        self.spikes = spikes

    def __call__(self, call: CallAnalysis, audio: DecodedAudio) -> CallAnalysis:
        utterances = call.utterances
        embeddings = self.embedder.embed(utterances) if self.embedder is not None else None
        reasons = self.selector.select(utterances, embeddings)
        sentiment = self.sentiment.score([u.text for u in utterances])
        prosody = self.prosody.measure(audio, utterances)
        signals = tuple(
            UtteranceSignals(i, sentiment[i], prosody[i], reasons[i])
            for i in range(len(utterances))
        )
        spikes = self.spikes.detect(utterances, signals)
        return replace(call, signals=signals, spikes=spikes, embeddings=embeddings)
