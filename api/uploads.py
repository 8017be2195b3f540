"""Receiving ``multipart/form-data`` uploads with no temporary file anywhere.

Starlette's form parsing spools files to the system temp folder; here the raw body is
streamed through python-multipart's ``MultipartParser`` and each part goes straight into an
`UploadFolder` (``engine.uploads``), which writes it in the job's folder and refuses it the
moment it goes wrong. The body is counted as it arrives, so a request over its cap is
refused whatever its Content-Length said (or without one, chunked).

Parts: ``files``, one per recording, each with a file name (``file`` is taken too), and
``metadata``, the optional calls.csv (a ``files`` part named calls.csv is taken as it too).
Anything else is refused.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from engine.store.jobs import JobFile
from engine.uploads import METADATA_NAME, UploadFolder, UploadRefused

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

__all__ = ["FILE_FIELDS", "METADATA_FIELD", "receive"]

FILE_FIELDS = frozenset({"files", "file"})
METADATA_FIELD = "metadata"
_SPARE_PARTS = 2  # parts allowed beyond max_files: the metadata, and one to say "too many"

_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
# HTML5 form encoding (browsers, httpx): '"' and control characters are sent as %XX.
_HTML5_ESCAPE = re.compile(r"%(0[0-9A-Fa-f]|1[0-9A-Fa-f]|22|7[Ff])")


def _bad_form(detail: str) -> UploadRefused:
    return UploadRefused("bad_form", detail)


def _disposition(raw: bytes | None) -> tuple[str, str | None]:
    """(field name, file name or None) of a part's Content-Disposition header."""
    if raw is None:
        raise _bad_form("a part has no Content-Disposition header")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_form("a part's Content-Disposition header is not UTF-8") from None
    kind, _, rest = text.partition(";")
    if kind.strip().lower() != "form-data":
        raise _bad_form(f"a part is {kind.strip()!r}, not form-data")
    params: dict[str, str] = {}
    for match in _PARAM.finditer(";" + rest):
        key, value = match.group(1).lower(), match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r"\\(.)", r"\1", value[1:-1], flags=re.DOTALL)
        if key in params:
            raise _bad_form(f"a part's Content-Disposition gives {key!r} twice")
        params[key] = _HTML5_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)
    if "name" not in params:
        raise _bad_form("a part has no field name")
    return params["name"], params.get("filename")


class _Parts:
    """MultipartParser callbacks that hand each part to the UploadFolder."""

    def __init__(self, folder: UploadFolder, max_parts: int) -> None:
        self.folder = folder
        self.max_parts = max_parts
        self.parts = 0
        self.ended = False
        self._field = bytearray()
        self._value = bytearray()
        self._disposition: bytes | None = None

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.max_parts:
            raise UploadRefused(
                "too_many_files",
                f"more than {self.folder.limits.max_files} recordings in one upload "
                f"({self.parts} parts); send fewer at a time",
            )
        self._disposition = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        if bytes(self._field).strip().lower() == b"content-disposition":
            if self._disposition is not None:
                raise _bad_form("a part has two Content-Disposition headers")
            self._disposition = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def on_headers_finished(self) -> None:
        name, filename = _disposition(self._disposition)
        if name == METADATA_FIELD:
            self.folder.begin_metadata()
        elif name in FILE_FIELDS:
            if filename is None:
                raise _bad_form(f"the {name!r} part has no file name")
            self.folder.begin_file(filename)
        else:
            raise _bad_form(
                f"unknown form field {name[:40]!r}: send recordings as 'files' and the "
                f"metadata ({METADATA_NAME}) as '{METADATA_FIELD}'"
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.folder.write(data[start:end])

    def on_part_end(self) -> None:
        self.folder.end_part()

    def on_end(self) -> None:
        self.ended = True


async def receive(
    request: Request, folder: UploadFolder, max_request_bytes: int
) -> tuple[JobFile, ...]:
    """Stream the request's multipart body into ``folder``; its recordings when all is well.

    Raises UploadRefused (reason ``not_multipart``, ``request_too_large``, ``bad_form`` or one
    of UploadFolder's); the caller discards the folder then.
    """
    ctype, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UploadRefused(
            "not_multipart", "send the recordings as multipart/form-data (with a boundary)"
        )
    too_large = UploadRefused(
        "request_too_large", f"the request is larger than the limit of {max_request_bytes} bytes"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_request_bytes:
        raise too_large
    parts = _Parts(folder, folder.limits.max_files + _SPARE_PARTS)
    parser = MultipartParser(boundary, parts.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_request_bytes:
                raise too_large
            if chunk:
                await run_in_threadpool(parser.write, chunk)
    except MultipartParseError as exc:
        raise _bad_form(f"the body is not valid multipart/form-data: {exc}") from None
    if not parts.ended:
        raise _bad_form("the body ends before the multipart form's closing boundary")
    return await run_in_threadpool(folder.finish)
