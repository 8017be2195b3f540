"""Utterance embeddings: each utterance's text as one L2-normalised sentence vector.

Texts are encoded in length-sorted batches (similar lengths pad less, which is most of the
cost on a GPU and a good part of it on a CPU), then put back in utterance order. Empty texts
get a zero vector, so row i always belongs to utterance i.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.errors import out_of_memory_names
from engine.types import Utterance, UtteranceEmbeddings
from models.sentence import SentenceEncoder

__all__ = ["EmbedOptions", "UtteranceEmbedder", "embed_texts"]


@dataclass(frozen=True)
class EmbedOptions:
    """batch_size: texts per encoder call (64 suits a CPU; a GPU takes 256 or more)."""

    batch_size: int = 64


def embed_texts(encoder: SentenceEncoder, texts: Sequence[str], batch_size: int) -> np.ndarray:
    """Encode texts in length-sorted batches; row i is texts[i] (zeros for blank texts)."""
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    wanted = [i for i, t in enumerate(texts) if t.strip()]
    order = sorted(wanted, key=lambda i: len(texts[i]))
    for lo in range(0, len(order), batch_size):
        rows = order[lo : lo + batch_size]
        with out_of_memory_names("utterance embedding", batch_size, "EmbedOptions.batch_size"):
            out[rows] = encoder.encode([texts[i] for i in rows], batch_size)
    return out


class UtteranceEmbedder:
    """Embeds a call's utterances with one sentence encoder."""

    def __init__(self, encoder: SentenceEncoder, options: EmbedOptions = EmbedOptions()) -> None:
        self.encoder = encoder
        self.options = options

    def embed(self, utterances: Sequence[Utterance]) -> UtteranceEmbeddings:
        texts = [u.text for u in utterances]
        vectors = embed_texts(self.encoder, texts, self.options.batch_size)
        return UtteranceEmbeddings(model=self.encoder.name, vectors=vectors)
