import hashlib
import os
from pathlib import Path

import pytest

from models import cache
from models.errors import ModelError
from models.registry import ModelFile, ModelSpec, PackagePart


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture()
def fake_package(tmp_path, monkeypatch):
    """Two fake 'wheels' holding a model split in two parts, plus a config file."""
    root = tmp_path / "site"
    for pkg in ("fakepart1", "fakepart2"):
        (root / pkg / "data").mkdir(parents=True)
    part1, part2, config = b"A" * 5000, b"B" * 3000, b'{"x": 1}'
    (root / "fakepart1" / "data" / "model.bin.part1").write_bytes(part1)
    (root / "fakepart2" / "data" / "model.bin.part2").write_bytes(part2)
    (root / "fakepart2" / "data" / "config.json").write_bytes(config)
    monkeypatch.setattr("models.registry.package_dir", lambda pkg: root / pkg)
    spec = ModelSpec(
        name="fake-model",
        kind="whisper",
        description="test",
        files=(
            ModelFile(
                "model.bin",
                (
                    PackagePart("fakepart1", "data/model.bin.part1", _sha(part1)),
                    PackagePart("fakepart2", "data/model.bin.part2", _sha(part2)),
                ),
                _sha(part1 + part2),
            ),
            ModelFile(
                "config.json",
                (PackagePart("fakepart2", "data/config.json", _sha(config)),),
                _sha(config),
            ),
        ),
    )
    return spec, root, part1 + part2


def test_split_model_is_joined_once_and_verified(fake_package, tmp_path):
    spec, _, joined = fake_package
    folder = cache.materialise(spec, tmp_path / "cache")
    assert (folder / "model.bin").read_bytes() == joined
    assert (folder / cache.MANIFEST).is_file()
    mtime = (folder / "model.bin").stat().st_mtime_ns
    again = cache.materialise(spec, tmp_path / "cache")
    assert again == folder
    assert (folder / "model.bin").stat().st_mtime_ns == mtime  # not rebuilt
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["fake-model"]  # no temp left


def test_corrupt_part_is_refused_and_leaves_nothing(fake_package, tmp_path):
    spec, root, _ = fake_package
    (root / "fakepart2" / "data" / "model.bin.part2").write_bytes(b"C" * 3000)
    with pytest.raises(ModelError, match="checksum"):
        cache.materialise(spec, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_interrupted_build_is_redone(fake_package, tmp_path):
    """A folder without its manifest (a crash before completion) is rebuilt."""
    spec, _, joined = fake_package
    broken = tmp_path / "cache" / "fake-model"
    broken.mkdir(parents=True)
    (broken / "model.bin").write_bytes(b"half")
    folder = cache.materialise(spec, tmp_path / "cache")
    assert (folder / "model.bin").read_bytes() == joined


def test_truncated_file_after_assembly_is_detected(fake_package, tmp_path):
    spec, _, joined = fake_package
    folder = cache.materialise(spec, tmp_path / "cache")
    with (folder / "model.bin").open("r+b") as fh:
        fh.truncate(100)
    folder = cache.materialise(spec, tmp_path / "cache")
    assert (folder / "model.bin").read_bytes() == joined


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CALLSCOPE_CACHE", str(tmp_path / "c"))
    assert cache.default_cache_dir() == Path(tmp_path / "c")
    monkeypatch.delenv("CALLSCOPE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache.default_cache_dir() == tmp_path / "x" / "callscope"
    assert os.fspath(cache.default_cache_dir()).endswith("callscope")
