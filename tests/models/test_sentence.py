"""Sentence encoders: the offline all-MiniLM-L6-v2 from PyPI, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from models.device import DeviceChoice
from models.errors import ModelError
from models.registry import lookup
from models.sentence import encoder_name, load_sentence_encoder

CPU = DeviceChoice("cpu", "int8")


def test_names_resolve_to_what_vectors_are_stored_under():
    assert encoder_name("minilm") == "all-minilm-l6-v2"
    assert encoder_name("/some/folder") == "/some/folder"
    assert lookup("minilm").kind == "sentence_embedding"


def test_a_whisper_model_is_not_a_sentence_encoder():
    with pytest.raises(ModelError, match="not a sentence_embedding"):
        load_sentence_encoder("tiny.en", CPU)


@pytest.mark.models
def test_minilm_loads_offline_and_puts_paraphrases_close():
    encoder = load_sentence_encoder("minilm", CPU)
    assert encoder.name == "all-minilm-l6-v2" and encoder.dim == 384
    vectors = encoder.encode(
        ["I lost my card", "My card was stolen yesterday", "What is the exchange rate?"], 8
    )
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    similar, different = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > 0.6 > different
    assert encoder.encode([], 8).shape == (0, 384)


@pytest.mark.models
def test_the_multilingual_encoder_puts_translations_close():
    encoder = load_sentence_encoder("use-multilingual", CPU)
    assert encoder.name == "use-multilingual" and encoder.dim == 512
    vectors = encoder.encode(["Perdí mi tarjeta", "I lost my card", "What is the rate?"], 2)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > 0.6 > vectors[0] @ vectors[2]
