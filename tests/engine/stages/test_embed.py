"""Utterance embedding: length-sorted batches, rows back in utterance order, blanks zero."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.stages.embed import EmbedOptions, UtteranceEmbedder, embed_texts
from engine.types import Role, Utterance


class LengthEncoder:
    """Encodes a text as (len, 1, 0) normalised and records each batch it was given."""

    name = "length"
    dim = 3

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        self.batches.append(list(texts))
        rows = np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_batches_are_length_sorted_and_rows_keep_utterance_order():
    encoder = LengthEncoder()
    texts = ["a much longer text here", "hi", "", "medium text", "x"]
    vectors = embed_texts(encoder, texts, batch_size=2)
    assert encoder.batches == [["x", "hi"], ["medium text", "a much longer text here"]]
    for text, row in zip(texts, vectors, strict=True):
        if text:
            expected = np.array([len(text), 1.0, 0.0]) / np.hypot(len(text), 1.0)
            np.testing.assert_allclose(row, expected, rtol=1e-6)
        else:
            assert not row.any()


def test_embedder_names_the_model_and_gives_one_row_per_utterance():
    utterances = [Utterance("S0", Role.AGENT, 0, 1, t) for t in ("hello there", "my card")]
    out = UtteranceEmbedder(LengthEncoder(), EmbedOptions(batch_size=8)).embed(utterances)
    assert out.model == "length" and out.vectors.shape == (2, 3) and out.dim == 3
    assert UtteranceEmbedder(LengthEncoder()).embed([]).vectors.shape == (0, 3)


class OutOfMemoryEncoder(LengthEncoder):
    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_out_of_memory_names_the_embedding_batch_size():
    import pytest

    from engine.errors import OutOfMemory

    with pytest.raises(OutOfMemory, match=r"batch size 256: lower EmbedOptions.batch_size"):
        embed_texts(OutOfMemoryEncoder(), ["a", "b"], 256)
