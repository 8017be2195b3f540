"""The bad-file matrix: recordings a nightly batch must quarantine (and one it must not).

`write_bad_files(folder)` writes one file per case and returns {case: BadFile}; each
BadFile names the `AudioProblem`(s) `engine.audio.decode` may refuse it with under
`AudioOptions(max_duration_s=MAX_DURATION_S)`, or none for a file that must be processed.
Only "too_long" exceeds MAX_DURATION_S, so one limit serves the whole matrix.

Permissions: root ignores file modes, so the chmod-000 file ("unreadable") is readable when
the tests run as root; its `expected` follows `os.geteuid()`, and `unprivileged` says what a
normal user gets. To check that case for real under root, build the files in a folder that
user nobody can reach (`traversable_tmpdir()`) and use `outcome_as_nobody()`.

No file is written outside `folder`; no calls.csv is written (the batch derives metadata,
so each file's call_id is its stem).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.audio import decode
from engine.config import AudioOptions
from engine.errors import AudioError, AudioProblem
from tests.audio_fixtures import write_tone_av, write_tone_wav, write_video_only_mp4

__all__ = [
    "MAX_DURATION_S",
    "NOBODY",
    "UNICODE_NAME",
    "BadFile",
    "decode_outcome",
    "expected_by_name",
    "outcome_as_nobody",
    "run_as_user",
    "traversable_tmpdir",
    "write_bad_files",
]

MAX_DURATION_S = 2.0  # the decoder limit the matrix is built for
NOBODY = 65534  # uid and gid of user nobody on Debian
UNICODE_NAME = "ünïcødé call ☎ 日本 🎧.wav"

_ALL_PROBLEMS = frozenset(AudioProblem)


@dataclass(frozen=True)
class BadFile:
    """One case of the matrix.

    path: the file written.
    expected: the problems `decode` may refuse it with (usually one); empty: it must decode.
    max_duration_s: the limit `decode` must run under for `expected` to hold.
    unprivileged: the outcome for a non-root process (differs from `expected` only for
        permission cases when running as root).
    note: what the case stands for.
    """

    path: Path
    expected: frozenset[AudioProblem]
    max_duration_s: float = MAX_DURATION_S
    unprivileged: frozenset[AudioProblem] | None = None
    note: str = ""

    @property
    def good(self) -> bool:
        """Whether the file must be processed, not quarantined (in this process)."""
        return not self.expected

    @property
    def problem(self) -> AudioProblem | None:
        """The one expected problem (None for a good file)."""
        if len(self.expected) > 1:
            raise ValueError(f"{self.path.name}: several problems are acceptable: {self.expected}")
        return next(iter(self.expected), None)

    @property
    def call_id(self) -> str:
        """The call_id the batch derives when no calls.csv names the file."""
        return self.path.stem

    def options(self) -> AudioOptions:
        return AudioOptions(max_duration_s=self.max_duration_s)

    def accepts(self, problem: AudioProblem | str | None) -> bool:
        """Whether an outcome (a problem, its string value, or None for success) fits."""
        if problem is None:
            return self.good
        return AudioProblem(problem) in self.expected

    def accepts_unprivileged(self, problem: AudioProblem | str | None) -> bool:
        expected = self.expected if self.unprivileged is None else self.unprivileged
        return (not expected) if problem is None else AudioProblem(problem) in expected


def _overwrite(path: Path, start: int, stop: int, seed: int) -> None:
    """Replace bytes [start, stop) of a file with seeded random bytes."""
    data = path.read_bytes()
    noise = np.random.default_rng(seed).integers(0, 256, stop - start, dtype=np.uint8)
    path.write_bytes(data[:start] + noise.tobytes() + data[stop:])


def write_bad_files(folder: Path) -> dict[str, BadFile]:
    """Write the matrix into `folder` (created if needed); returns {case: BadFile}."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, BadFile] = {}

    def add(case: str, path: Path, *problems: AudioProblem, note: str) -> None:
        files[case] = BadFile(path, frozenset(problems), note=note)

    empty = folder / "empty.wav"
    empty.write_bytes(b"")
    add("empty", empty, AudioProblem.EMPTY, note="0 bytes: an upload that never started")

    zero = write_tone_wav(folder / "zero-duration.wav", rate=8000, seconds=0.0)
    add("zero_duration", zero, AudioProblem.ZERO_DURATION, note="a WAV header, no samples")

    truncated = write_tone_wav(folder / "truncated.wav", rate=8000, seconds=1.8)
    data = truncated.read_bytes()  # PCM16 mono: 44-byte header, then 1.8 s of samples
    truncated.write_bytes(data[: 44 + (len(data) - 44) // 4 * 2])  # header still says 1.8 s
    add(
        "truncated",
        truncated,
        AudioProblem.PARTIAL_DECODE,
        note="WAV cut to half of what its header states (a copy interrupted)",
    )

    # PCM, G.711 and GSM decode any bytes as noise, so damage inside a WAV is undetectable;
    # an MP3 with its middle third overwritten fails in the decoder every time (CORRUPT).
    corrupt = write_tone_av(folder / "corrupt.mp3", 16000, 1, 1.0, "libmp3lame")
    size = corrupt.stat().st_size
    _overwrite(corrupt, size // 3, 2 * size // 3, seed=3)
    add("corrupt", corrupt, AudioProblem.CORRUPT, note="MP3 with garbage in its middle third")

    not_audio = folder / "not-audio.wav"
    not_audio.write_text("Call notes: customer asked about the refund.\n" * 20)
    add("not_audio", not_audio, AudioProblem.NOT_AUDIO, note="a text file named .wav")

    video = write_video_only_mp4(folder / "video-only.mp4")
    add("video_only", video, AudioProblem.NO_AUDIO_STREAM, note="MP4 with a video stream only")

    long_one = write_tone_wav(folder / "too-long.wav", rate=8000, seconds=MAX_DURATION_S + 1.0)
    add(
        "too_long",
        long_one,
        AudioProblem.TOO_LONG,
        note=f"{MAX_DURATION_S + 1:.0f} s, over the {MAX_DURATION_S:.0f} s limit",
    )

    odd = write_tone_wav(
        folder / UNICODE_NAME, rate=8000, channels=2, seconds=1.0, encoding="mulaw"
    )
    add("unicode_name", odd, note="a good stereo call with an odd Unicode name: processed")

    locked = write_tone_wav(folder / "unreadable.wav", rate=8000, seconds=0.5, encoding="mulaw")
    os.chmod(locked, 0)
    unreadable = frozenset({AudioProblem.UNREADABLE})
    files["unreadable"] = BadFile(
        locked,
        unreadable if os.geteuid() != 0 else frozenset(),
        unprivileged=unreadable,
        note="mode 000: unreadable, except to root (which ignores file modes)",
    )
    return files


def expected_by_name(files: Mapping[str, BadFile]) -> dict[str, frozenset[str]]:
    """{file name: acceptable problem values} for the files to quarantine in this process."""
    return {
        f.path.name: frozenset(p.value for p in f.expected) for f in files.values() if not f.good
    }


# -------------------------------------------------------------------------------- outcomes


def decode_outcome(path: Path, options: AudioOptions) -> AudioProblem | None:
    """The problem `decode` refuses `path` with, or None when it decodes."""
    try:
        decode(path, options)
    except AudioError as exc:
        return exc.problem
    return None


def run_as_user(task: Callable[[], str], uid: int = NOBODY, gid: int = NOBODY) -> str:
    """Run `task` in a forked child that drops to uid/gid first; returns its string result.

    Needs root (to change user). An exception in the child comes back as
    ``"error: <repr>"``. The child shares nothing back but that string.
    """
    if os.geteuid() != 0:
        raise PermissionError("run_as_user needs root to change user")
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop privileges, run, report, exit without cleanup handlers
        result = "error: no result"
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            result = task()
        except BaseException as exc:
            result = f"error: {exc!r}"
        finally:
            os.write(write_fd, result.encode())
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        result = pipe.read().decode()
    os.waitpid(pid, 0)
    return result


def outcome_as_nobody(path: Path, options: AudioOptions) -> AudioProblem | None:
    """`decode_outcome` as user nobody (as the current user when not root).

    Every folder above `path` must be traversable by others (see `traversable_tmpdir`),
    or the outcome is UNREADABLE for the wrong reason.
    """
    if os.geteuid() != 0:
        return decode_outcome(path, options)

    def task() -> str:
        problem = decode_outcome(path, options)
        return "ok" if problem is None else problem.value

    result = run_as_user(task)
    if result == "ok":
        return None
    if result not in {p.value for p in _ALL_PROBLEMS}:
        raise RuntimeError(f"decoding {path} as nobody failed: {result}")
    return AudioProblem(result)


@contextlib.contextmanager
def traversable_tmpdir() -> Iterator[Path]:
    """A temporary folder that user nobody can enter (pytest's tmp_path cannot be)."""
    with tempfile.TemporaryDirectory(prefix="callscope-bad-files-") as tmp:
        os.chmod(tmp, 0o755)
        yield Path(tmp)
