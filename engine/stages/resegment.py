"""A second opinion for mono calls where diarisation heard (almost) one speaker.

Two voices of similar timbre on one telephone channel sometimes stay one local speaker in
pyannote's segmentation, so a whole call comes back as one speaker, and roles, reasons for
calling, repeats and emotion baselines all read the agent and the customer as one person.
A telephone call has two parties, so when one speaker holds ``dominant_share`` or more of the
speech the call is split again from the pauses between turns:

1. speech regions: frames within ``speech_range_db`` of the call's loud frames, cut at every
   pause of ``pause_s`` (turns in a call are separated by short pauses; a region rarely
   spans two speakers);
2. each region of at least ``min_region_s`` is embedded with the same CAM++ speaker model;
3. the embeddings are split in two by average-linkage agglomerative clustering (cosine);
4. the split is kept only if the two groups' centroids are less alike than
   ``same_speaker_similarity`` (two halves of one speaker's speech average out to nearly the
   same centroid) and each group holds ``min_group_s`` of speech. Shorter regions join the
   nearest embedded region's speaker.

The result replaces the diarisation (method ``pyannote+pauses``); otherwise the original is
returned untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from engine.stages.channel_diarise import frame_energy_db, mask_to_segments
from engine.stages.speaker_embedding import SAMPLE_RATE, CamPlusPlusEmbedding
from engine.types import Diarisation, SpeakerTurn

__all__ = ["PauseResegmenter", "ResegmentOptions", "speech_regions"]

log = logging.getLogger(__name__)

_FRAME_S = 0.01


@dataclass(frozen=True)
class ResegmentOptions:
    """dominant_share: re-split when one speaker holds this share of the speech (0.8);
    speech_range_db: frames within this many dB of the loud frames (95th percentile) are
    speech (30); pause_s: a pause this long ends a region (0.12); min_region_s: shorter regions
    are not embedded (0.6); same_speaker_similarity: centroid cosine at or above which the
    two groups are one speaker (0.85); min_group_s: speech each speaker needs (1.5)."""

    dominant_share: float = 0.8
    speech_range_db: float = 30.0
    pause_s: float = 0.12
    min_region_s: float = 0.6
    same_speaker_similarity: float = 0.85
    min_group_s: float = 1.5


def speech_regions(
    samples: np.ndarray, sample_rate: int, range_db: float, pause_s: float
) -> list[tuple[float, float]]:
    """(start, end) seconds of speech regions separated by pauses of at least ``pause_s``."""
    frame = max(1, int(_FRAME_S * sample_rate))
    energy = frame_energy_db(samples[None, :], frame)[0]
    if energy.size == 0:
        return []
    speech = energy > np.percentile(energy, 95) - range_db
    starts, ends = mask_to_segments(speech)
    regions: list[list[int]] = []
    gap = round(pause_s / _FRAME_S)
    for s, e in zip(starts, ends, strict=True):
        if regions and s - regions[-1][1] < gap:
            regions[-1][1] = int(e)
        else:
            regions.append([int(s), int(e)])
    return [(s * _FRAME_S, e * _FRAME_S) for s, e in regions]


def _dominant_share(diarisation: Diarisation) -> float:
    speech: dict[str, float] = {}
    for t in diarisation.turns:
        speech[t.speaker] = speech.get(t.speaker, 0.0) + t.duration
    total = sum(speech.values())
    return max(speech.values()) / total if total > 0 else 1.0


class PauseResegmenter:
    """See the module docstring."""

    def __init__(
        self, embedding: CamPlusPlusEmbedding, options: ResegmentOptions | None = None
    ) -> None:
        self.embedding = embedding
        self.options = options or ResegmentOptions()

    def __call__(self, samples: np.ndarray, diarisation: Diarisation) -> Diarisation:
        o = self.options
        if diarisation.turns and _dominant_share(diarisation) < o.dominant_share:
            return diarisation
        regions = speech_regions(samples, SAMPLE_RATE, o.speech_range_db, o.pause_s)
        long = [i for i, (s, e) in enumerate(regions) if e - s >= o.min_region_s]
        if len(long) < 2:
            return diarisation
        groups = self._split(self._embed(samples, [regions[i] for i in long]))
        if groups is None:
            return diarisation
        seconds = [
            sum(regions[i][1] - regions[i][0] for k, i in enumerate(long) if groups[k] == g)
            for g in (0, 1)
        ]
        if min(seconds) < o.min_group_s:
            return diarisation
        turns = self._turns(regions, long, groups)
        log.info("one dominant speaker: re-split at pauses into %d turns", len(turns))
        names = tuple(sorted({t.speaker for t in turns}))
        return Diarisation(turns=tuple(turns), method="pyannote+pauses", speakers=names)

    @staticmethod
    def _turns(
        regions: Sequence[tuple[float, float]], long: Sequence[int], groups: np.ndarray
    ) -> list[SpeakerTurn]:
        group_of = {i: int(groups[k]) for k, i in enumerate(long)}
        centres = np.array([(regions[i][0] + regions[i][1]) / 2 for i in long])
        names: dict[int, str] = {}
        turns: list[SpeakerTurn] = []
        for i, (start, end) in enumerate(regions):
            group = group_of.get(i)
            if group is None:
                nearest = long[int(np.argmin(np.abs(centres - (start + end) / 2)))]
                group = group_of[nearest]
            name = names.setdefault(group, f"SPEAKER_{len(names):02d}")
            if turns and turns[-1].speaker == name:
                turns[-1] = SpeakerTurn(name, turns[-1].start, end)
            else:
                turns.append(SpeakerTurn(name, start, end))
        return turns

    def _embed(self, samples: np.ndarray, spans: Sequence[tuple[float, float]]) -> np.ndarray:
        feats = [
            self.embedding.features(
                torch.from_numpy(
                    np.ascontiguousarray(samples[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)])
                )
            )
            for s, e in spans
        ]
        vectors = self.embedding.embed_features(feats)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.maximum(norms, 1e-12))

    def _split(self, vectors: np.ndarray) -> np.ndarray | None:
        from sklearn.cluster import AgglomerativeClustering

        labels = AgglomerativeClustering(
            n_clusters=2, metric="cosine", linkage="average"
        ).fit_predict(vectors)
        a, b = (vectors[labels == g].mean(axis=0) for g in (0, 1))
        cosine = float(a @ b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12)
        if cosine >= self.options.same_speaker_similarity:
            return None
        return np.asarray(labels)
