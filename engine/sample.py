"""Generate sample call recordings with espeak-ng (demo and test fixtures).

A sample call alternates agent and customer lines spoken by two espeak-ng voices,
laid out on a timeline with short gaps, and written as 8 kHz G.711 mu-law WAV:
stereo (agent left, customer right) or a mono mix. The true speaker turns are
returned alongside, so the output can be checked.
"""

from __future__ import annotations

import csv
import functools
import io
import shutil
import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np

from engine.archive import METADATA_FIELDS
from engine.errors import CallscopeError
from engine.types import Role, SpeakerTurn

RATE = 16000

DEMO_SCRIPT: tuple[tuple[Role, str], ...] = (
    (Role.AGENT, "Good morning, thank you for calling First Bank. My name is Sam, how can I help?"),
    (Role.CUSTOMER, "Hi. I was charged twice for the same card payment yesterday."),
    (Role.AGENT, "I am sorry to hear that. Can I take your name and the last four digits?"),
    (Role.CUSTOMER, "Sure, it is Alex Morgan, and the card ends in four two one seven."),
    (Role.AGENT, "Thank you. I can see the duplicate payment, and I have refunded it."),
    (Role.CUSTOMER, "Great, thanks for sorting that out so quickly."),
    (Role.AGENT, "Is there anything else I can help with today? Have a good day."),
)

VOICES = {Role.AGENT: "en-us+m3", Role.CUSTOMER: "en+f3"}


@dataclass(frozen=True)
class SampleCall:
    path: Path
    turns: tuple[SpeakerTurn, ...]
    script: tuple[tuple[Role, str], ...]


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, voice: str, speed: int = 165) -> np.ndarray:
    """Synthesise one line to float32 at 16 kHz with espeak-ng."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise CallscopeError("espeak-ng is not installed (apt-get install espeak-ng)")
    wav_bytes = subprocess.run(
        [exe, "-v", voice, "-s", str(speed), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    with wave.open(io.BytesIO(wav_bytes)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
    if rate != RATE:
        index = np.arange(0, len(pcm) * RATE / rate) * rate / RATE
        pcm = np.interp(index, np.arange(len(pcm)), pcm).astype(np.float32)
    return pcm


@functools.lru_cache(maxsize=256)
def _line(text: str, voice: str) -> np.ndarray:
    """``speak``, remembered: generated archives repeat the agent's lines on every call."""
    audio = speak(text, voice)
    audio.setflags(write=False)
    return audio


def _active_bounds(x: np.ndarray) -> tuple[int, int]:
    loud = np.flatnonzero(np.abs(x) > 0.01)
    return (int(loud[0]), int(loud[-1]) + 1) if loud.size else (0, 0)


def write_mulaw_wav(path: Path, channels: np.ndarray, rate: int = 8000) -> None:
    """Write (channels, samples) float32 at 16 kHz as G.711 mu-law WAV at ``rate``."""
    layout = "stereo" if channels.shape[0] == 2 else "mono"
    with av.open(str(path), "w", format="wav") as container:
        stream = container.add_stream("pcm_mulaw", rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(channels, dtype=np.float32), format="fltp", layout=layout
        )
        frame.sample_rate = RATE
        resampler = av.AudioResampler(format="s16", layout=layout, rate=rate)
        for out in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(out):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def make_call(
    path: Path,
    script: tuple[tuple[Role, str], ...] = DEMO_SCRIPT,
    stereo: bool = True,
    gap_s: float = 0.4,
    seed: int = 0,
) -> SampleCall:
    """Synthesise ``script`` into a call recording at ``path``; return its true turns."""
    rng = np.random.default_rng(seed)
    lines = [(role, _line(text, VOICES[role])) for role, text in script]
    total = int((sum(len(x) for _, x in lines) / RATE + gap_s * (len(lines) + 2)) * RATE)
    tracks = {Role.AGENT: np.zeros(total, np.float32), Role.CUSTOMER: np.zeros(total, np.float32)}
    turns: list[SpeakerTurn] = []
    cursor = int(gap_s * RATE)
    for role, audio in lines:
        tracks[role][cursor : cursor + len(audio)] += audio * 0.8
        lo, hi = _active_bounds(audio)
        turns.append(SpeakerTurn(role.value, (cursor + lo) / RATE, (cursor + hi) / RATE))
        cursor += len(audio) + int(gap_s * RATE)
    noise = rng.normal(0, 10 ** (-60 / 20), (2, total)).astype(np.float32)
    left, right = tracks[Role.AGENT] + noise[0], tracks[Role.CUSTOMER] + noise[1]
    channels = np.stack([left, right]) if stereo else ((left + right) / 2)[None]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_mulaw_wav(path, np.clip(channels, -1, 1))
    return SampleCall(path, tuple(turns), script)


_REASONS = (
    "I was charged twice for the same card payment yesterday.",
    "My new card has not arrived yet and it has been two weeks.",
    "I want to change the PIN on my debit card.",
    "My top up failed but the money left my account.",
    "I need a refund for a purchase that was cancelled.",
    "Why was my card declined at the supermarket this morning?",
)
_CUSTOMERS = ("+44 20 7946 0101", "+44 161 496 0202", "+44 113 496 0303", "+44 7700 900404")
_IDENTITIES = (
    "Sure, it is Alex Morgan, and the card ends in four two one seven.",
    "Yes, my name is Priya Shah, and the card ends in nine three eight one.",
    "It is Tom Evans, card ending five five zero two.",
    "Sure, Grace Lee, and the last four are six one one four.",
)


def call_script(reason: str, customer: int = 0) -> tuple[tuple[Role, str], ...]:
    """A short service call: greeting, the customer's reason, identification, resolution."""
    return (
        (Role.AGENT, "Good morning, thank you for calling First Bank. How can I help?"),
        (Role.CUSTOMER, f"Hi. {reason}"),
        (Role.AGENT, "I am sorry about that. Can I take your name and the last four digits?"),
        (Role.CUSTOMER, _IDENTITIES[customer % len(_IDENTITIES)]),
        (Role.AGENT, "Thank you. I have sorted that out for you. Have a good day."),
    )


@dataclass(frozen=True)
class PlannedCall:
    """One call of a generated night: its metadata row and what is said."""

    call_id: str
    started_at: datetime
    customer_id: str
    agent_id: str
    queue: str
    stereo: bool
    script: tuple[tuple[Role, str], ...]
    seed: int = 0


def write_night(folder: Path, calls: Sequence[PlannedCall]) -> list[Path]:
    """Synthesise ``calls`` into ``folder`` with the night's ``calls.csv``."""
    folder.mkdir(parents=True, exist_ok=True)
    rows, written = [], []
    for call in calls:
        sample = make_call(
            folder / f"{call.call_id}.wav", call.script, stereo=call.stereo, seed=call.seed
        )
        layout = "stereo: agent=left, customer=right" if call.stereo else "mono"
        rows.append(
            [
                call.call_id,
                call.started_at.isoformat(),
                call.customer_id,
                call.agent_id,
                call.queue,
                layout,
                sample.path.name,
            ]
        )
        written.append(sample.path)
    with (folder / "calls.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(METADATA_FIELDS)
        out.writerows(rows)
    return written


def make_archive(root: Path, nights: int = 2, calls_per_night: int = 3) -> list[Path]:
    """A small archive in the layout recording systems export: night folders with calls.csv.

    Calls alternate stereo (agent left) and mono; reasons and customers rotate, so the
    same customer calls back about the same reason on a later night.
    """
    written: list[Path] = []
    start = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    index = 0
    for night in range(nights):
        day = start + timedelta(days=night)
        planned = []
        for n in range(calls_per_night):
            at = day + timedelta(minutes=37 * n)
            planned.append(
                PlannedCall(
                    call_id=f"{at:%Y%m%d-%H%M%S}-{index:04x}",
                    started_at=at,
                    customer_id=_CUSTOMERS[index % len(_CUSTOMERS)],
                    agent_id=f"AG{1000 + index % 3}",
                    queue="CARDS_EN",
                    stereo=index % 2 == 0,
                    script=call_script(_REASONS[index % len(_REASONS)], index % len(_CUSTOMERS)),
                    seed=index,
                )
            )
            index += 1
        written += write_night(root / day.strftime("%Y-%m-%d"), planned)
    return written
