"""Output formats of a call analysis: JSON (exact round-trip), RTTM, SRT and WebVTT.

JSON is the archival form: ``from_json(to_json(call)) == call`` for any call with finite
numbers, and the document carries ``schema_version`` so later readers can refuse (or migrate)
what they do not understand. RTTM is the NIST diarisation format scoring tools read; SRT and
WebVTT are subtitle tracks of the utterances for media players and review tools.

``write_outputs`` writes ``<stem>.<ext>`` files atomically (a temporary file in the same folder,
fsynced, then ``os.replace``), so a reader never sees a half-written file and a crash leaves
the previous version in place. The stem is the call id made safe as a file name (see
``safe_file_stem``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.errors import CallscopeError
from engine.files import atomic_file
from engine.types import (
    AudioInfo,
    CallAnalysis,
    Role,
    Speaker,
    SpeakerTurn,
    Utterance,
    Word,
)

__all__ = [
    "FORMATS",
    "SCHEMA_VERSION",
    "OutputFormatError",
    "from_json",
    "safe_file_stem",
    "to_json",
    "to_rttm",
    "to_srt",
    "to_vtt",
    "write_outputs",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
"""Version of the JSON document ``to_json`` writes; ``from_json`` reads only this version."""


class OutputFormatError(CallscopeError, ValueError):
    """A JSON document that is not a call analysis this version of callscope can read."""


# --------------------------------------------------------------------------- JSON


def _word_dict(w: Word) -> dict[str, Any]:
    return {
        "text": w.text,
        "start": w.start,
        "end": w.end,
        "probability": w.probability,
        "channel": w.channel,
    }


def _call_dict(call: CallAnalysis) -> dict[str, Any]:
    a = call.audio
    return {
        "schema_version": SCHEMA_VERSION,
        "call_id": call.call_id,
        "audio": {
            "path": a.path,
            "container": a.container,
            "codec": a.codec,
            "sample_rate": a.sample_rate,
            "channels": a.channels,
            "duration": a.duration,
            "size_bytes": a.size_bytes,
        },
        "language": call.language,
        "language_probability": call.language_probability,
        "diarisation_method": call.diarisation_method,
        "speakers": [
            {
                "label": s.label,
                "role": s.role.value,
                "confidence": s.confidence,
                "method": s.method,
                "speech_seconds": s.speech_seconds,
            }
            for s in call.speakers
        ],
        "turns": [{"speaker": t.speaker, "start": t.start, "end": t.end} for t in call.turns],
        "utterances": [
            {
                "speaker": u.speaker,
                "role": u.role.value,
                "start": u.start,
                "end": u.end,
                "text": u.text,
                "words": [_word_dict(w) for w in u.words],
            }
            for u in call.utterances
        ],
        "words": [_word_dict(w) for w in call.words],
    }


def to_json(call: CallAnalysis, *, indent: int | None = None) -> str:
    """The call as a JSON document (UTF-8 text, not ASCII-escaped) with ``schema_version``.

    Raises OutputFormatError for a NaN or infinite number (not representable in JSON).
    """
    try:
        return json.dumps(_call_dict(call), ensure_ascii=False, allow_nan=False, indent=indent)
    except ValueError as exc:
        raise OutputFormatError(f"call {call.call_id!r} cannot be written as JSON: {exc}") from exc


class _Reader:
    """Typed field access with error messages that name the offending path."""

    def __init__(self, obj: Any, path: str) -> None:
        if not isinstance(obj, dict):
            raise OutputFormatError(f"{path or 'document'}: expected an object")
        self.obj: dict[str, Any] = obj
        self.path = path

    def _get(self, key: str) -> Any:
        if key not in self.obj:
            raise OutputFormatError(f"{self._at(key)}: missing")
        return self.obj[key]

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def text(self, key: str) -> str:
        v = self._get(key)
        if not isinstance(v, str):
            raise OutputFormatError(f"{self._at(key)}: expected a string, got {v!r}")
        return v

    def integer(self, key: str) -> int:
        v = self._get(key)
        if isinstance(v, bool) or not isinstance(v, int):
            raise OutputFormatError(f"{self._at(key)}: expected an integer, got {v!r}")
        return v

    def number(self, key: str) -> float:
        v = self._get(key)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise OutputFormatError(f"{self._at(key)}: expected a number, got {v!r}")
        return v

    def role(self, key: str) -> Role:
        v = self.text(key)
        try:
            return Role(v)
        except ValueError as exc:
            raise OutputFormatError(f"{self._at(key)}: unknown role {v!r}") from exc

    def items(self, key: str) -> list[_Reader]:
        v = self._get(key)
        if not isinstance(v, list):
            raise OutputFormatError(f"{self._at(key)}: expected a list")
        return [_Reader(x, f"{self._at(key)}[{i}]") for i, x in enumerate(v)]

    def sub(self, key: str) -> _Reader:
        return _Reader(self._get(key), self._at(key))


def _read_word(r: _Reader) -> Word:
    return Word(
        text=r.text("text"),
        start=r.number("start"),
        end=r.number("end"),
        probability=r.number("probability"),
        channel=r.integer("channel"),
    )


def _read_turn(r: _Reader) -> SpeakerTurn:
    try:
        return SpeakerTurn(r.text("speaker"), r.number("start"), r.number("end"))
    except ValueError as exc:  # SpeakerTurn's own check: a turn ending before it starts
        if isinstance(exc, OutputFormatError):
            raise
        raise OutputFormatError(f"{r.path}: {exc}") from exc


def from_json(text: str) -> CallAnalysis:
    """Read a document written by ``to_json``; OutputFormatError if it is not one we can read."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OutputFormatError(f"not JSON: {exc}") from exc
    r = _Reader(doc, "")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise OutputFormatError(
            f"unsupported schema_version {version!r}: this callscope reads version {SCHEMA_VERSION}"
        )
    a = r.sub("audio")
    audio = AudioInfo(
        path=a.text("path"),
        container=a.text("container"),
        codec=a.text("codec"),
        sample_rate=a.integer("sample_rate"),
        channels=a.integer("channels"),
        duration=a.number("duration"),
        size_bytes=a.integer("size_bytes"),
    )
    speakers = tuple(
        Speaker(
            label=s.text("label"),
            role=s.role("role"),
            confidence=s.number("confidence"),
            method=s.text("method"),
            speech_seconds=s.number("speech_seconds"),
        )
        for s in r.items("speakers")
    )
    turns = tuple(_read_turn(t) for t in r.items("turns"))
    utterances = tuple(
        Utterance(
            speaker=u.text("speaker"),
            role=u.role("role"),
            start=u.number("start"),
            end=u.number("end"),
            text=u.text("text"),
            words=tuple(_read_word(w) for w in u.items("words")),
        )
        for u in r.items("utterances")
    )
    return CallAnalysis(
        call_id=r.text("call_id"),
        audio=audio,
        language=r.text("language"),
        language_probability=r.number("language_probability"),
        diarisation_method=r.text("diarisation_method"),
        speakers=speakers,
        turns=turns,
        utterances=utterances,
        words=tuple(_read_word(w) for w in r.items("words")),
    )


# --------------------------------------------------------------------------- RTTM

_WS = re.compile(r"\s+")


def _rttm_field(text: str) -> str:
    return _WS.sub("_", text.strip()) or "NA"


def to_rttm(call: CallAnalysis) -> str:
    """NIST RTTM: one ``SPEAKER`` line per turn, sorted by start (whitespace in names -> '_')."""
    uri = _rttm_field(call.call_id)
    lines = [
        f"SPEAKER {uri} 1 {t.start:.3f} {t.duration:.3f} <NA> <NA> "
        f"{_rttm_field(t.speaker)} <NA> <NA>\n"
        for t in sorted(call.turns, key=lambda t: (t.start, t.end, t.speaker))
    ]
    return "".join(lines)


# --------------------------------------------------------------------------- subtitles


def _timestamp(seconds: float, sep: str) -> str:
    total_ms = max(0, round(seconds * 1000))
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


def _cue_label(u: Utterance) -> str:
    return u.role.value if u.role is not Role.UNKNOWN else u.speaker


def _cues(call: CallAnalysis) -> Iterable[tuple[Utterance, str]]:
    """Utterances with text, sorted by start, with their single-line ``[role] text``."""
    for u in sorted(call.utterances, key=lambda u: (u.start, u.end, u.speaker)):
        text = " ".join(u.text.split())
        if text:
            yield u, f"[{_cue_label(u)}] {text}"


def to_srt(call: CallAnalysis) -> str:
    """SubRip: numbered cues ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, one per utterance."""
    blocks = [
        f"{n}\n{_timestamp(u.start, ',')} --> {_timestamp(u.end, ',')}\n{line}\n"
        for n, (u, line) in enumerate(_cues(call), start=1)
    ]
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(call: CallAnalysis) -> str:
    """WebVTT: the ``WEBVTT`` header, then cues ``HH:MM:SS.mmm --> HH:MM:SS.mmm``."""
    blocks = [
        f"{_timestamp(u.start, '.')} --> {_timestamp(u.end, '.')}\n{_vtt_escape(line)}\n"
        for u, line in _cues(call)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


# --------------------------------------------------------------------------- files

FORMATS: Mapping[str, Callable[[CallAnalysis], str]] = {
    "json": to_json,
    "rttm": to_rttm,
    "srt": to_srt,
    "vtt": to_vtt,
}
"""Format name (also the file extension) -> renderer."""

_UNSAFE = re.compile(r"(?:[^\w.\-]|\.{2,})+")
_MAX_STEM_BYTES = 150


def safe_file_stem(call_id: str) -> str:
    """A file name stem for ``call_id``: no separators, no traversal, no hidden or empty names.

    Each run of characters other than letters, digits, '_', '-' and single dots (so also "/../")
    becomes one '_', leading dots, underscores and dashes are dropped and the result is capped
    at 150 UTF-8 bytes. When that changed the id, 8 hex digits of its SHA-256 are appended, so
    two different ids (say "a/b" and "a_b") cannot overwrite each other's files. A safe id is
    used unchanged.
    """
    stem = _UNSAFE.sub("_", call_id).lstrip("._-")
    stem = stem.encode("utf-8")[:_MAX_STEM_BYTES].decode("utf-8", "ignore").rstrip(".")
    if stem == call_id and stem:
        return stem
    digest = hashlib.sha256(call_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{stem}-{digest}" if stem else f"call-{digest}"


def _write_atomic(path: Path, text: str) -> None:
    with atomic_file(path) as fh:
        fh.write(text)


def write_outputs(
    call: CallAnalysis,
    out_dir: Path,
    formats: Sequence[str] = ("json", "rttm", "srt", "vtt"),
) -> list[Path]:
    """Write ``<stem>.<format>`` for each format into ``out_dir`` (created), atomically.

    Every format is rendered before any file is written, so a rendering error writes nothing.
    Returns the paths written, in the order of ``formats``. Raises ValueError for an unknown
    format.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown output formats {unknown}; known: {sorted(FORMATS)}")
    out_dir = Path(out_dir)
    stem = safe_file_stem(call.call_id)
    rendered = {fmt: FORMATS[fmt](call) for fmt in dict.fromkeys(formats)}
    out_dir.mkdir(parents=True, exist_ok=True)
    root = out_dir.resolve()
    paths: list[Path] = []
    for fmt, text in rendered.items():
        path = out_dir / f"{stem}.{fmt}"
        if path.resolve().parent != root:  # defence in depth: the stem has no separators
            raise OutputFormatError(f"refusing to write outside {out_dir}: {path}")
        _write_atomic(path, text)
        paths.append(path)
        log.debug("wrote %s", path)
    log.info("call %s: wrote %s", call.call_id, ", ".join(p.name for p in paths))
    return paths
