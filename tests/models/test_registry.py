import pytest

from models.errors import ModelError
from models.loaders import locate
from models.registry import REGISTRY, lookup


def test_aliases_resolve_to_registered_models():
    assert lookup("base").name == "whisper-base"
    assert lookup("tiny.en").name == "whisper-tiny.en"
    assert lookup("segmentation-3.0").kind == "segmentation"
    assert lookup("campplus").kind == "speaker_embedding"


def test_every_file_has_a_sha256():
    for spec in REGISTRY.values():
        for f in spec.files:
            assert len(f.sha256) == 64
            assert all(len(p.sha256) == 64 for p in f.parts)


def test_unknown_name_is_a_clear_error():
    with pytest.raises(ModelError, match="unknown model"):
        lookup("whisper-gigantic")
    with pytest.raises(ModelError, match="not a registered model"):
        locate("no/such/folder", "whisper")


def test_wrong_kind_is_refused():
    with pytest.raises(ModelError, match="not a whisper model"):
        locate("segmentation-3.0", "whisper")


def test_hub_names_only_when_asked_for(tmp_path):
    where = locate("hub:Systran/faster-whisper-small", "whisper")
    assert where.from_hub and where.path == "Systran/faster-whisper-small"
    local = locate(str(tmp_path), "whisper")
    assert not local.from_hub and local.path == str(tmp_path)
