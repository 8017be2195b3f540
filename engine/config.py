"""Per-stage options: frozen dataclasses with documented defaults."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import ConfigError
from engine.types import Role


@dataclass(frozen=True)
class AudioOptions:
    """How recordings are probed and decoded.

    max_duration_s: recordings longer than this are refused (default 4 h).
    max_size_bytes: files larger than this are refused before decoding (default 2 GiB).
    min_rate_hz / max_rate_hz: accepted source sample rates (8–48 kHz).
    max_channels: more channels than this are refused (telephony is mono or stereo).
    partial_tolerance: a decode shorter than the container's stated duration by more
        than this share (and by more than `partial_min_gap_s`) is reported as partial.
    target_rate_hz: every channel is resampled to this rate (Whisper and pyannote use 16 kHz).
    """

    max_duration_s: float = 4 * 3600.0
    max_size_bytes: int = 2 * 1024**3
    min_rate_hz: int = 8000
    max_rate_hz: int = 48000
    max_channels: int = 2
    partial_tolerance: float = 0.05
    partial_min_gap_s: float = 0.5
    target_rate_hz: int = 16000

    def __post_init__(self) -> None:
        if self.max_duration_s <= 0:
            raise ConfigError(f"max_duration_s must be positive, got {self.max_duration_s}")
        if not 0 < self.partial_tolerance < 1:
            raise ConfigError(f"partial_tolerance must be in (0, 1), got {self.partial_tolerance}")


CUDA_BATCH_SIZE = 16
CPU_CHANNELS_BATCH_SIZE = 8
CUDA_BEAM_SIZE = 5
CPU_BEAM_SIZE = 2


@dataclass(frozen=True)
class TranscribeOptions:
    """faster-whisper settings.

    language: ISO code to force, or None to detect per call.
    window_language: with language None, detect it from each decoding window's own encoder
        output (faster-whisper's ``multilingual``) instead of a separate detection pass over
        the first 30 s, which re-encodes audio the transcription encodes anyway (a third of
        the encoder's work on a 20 s call). The windows are decoded in ``language_guess``'s
        prompt slot replaced by their own language; a call whose windows do not all agree
        with ``language_guess`` is decoded again in the language most windows were heard in,
        so every call is decoded in one language. On a call whose language is borderline
        between two (probabilities near 0.5) the windows may side with the other one than
        the first-30-s pass. Off: faster-whisper's detection pass.
    language_guess: the language most calls are in (a contact centre's main language); only
        saves the second decoding of calls in it, never forces it.
    beam_size: None lets the pipeline choose once the device is known: CUDA_BEAM_SIZE (5,
        Whisper's reference setting) on CUDA, CPU_BEAM_SIZE (2) on CPU. On the archive (138
        calls, 2-core CPU) beam 2 scored the WER of beam 5 (0.117) at 1.15x its speed (8.8x
        against 7.6x real time); greedy (1) ran at 10.8x for WER 0.119. A Transcriber used
        alone, without the pipeline, takes 5.
    vad_filter: skip non-speech with Silero VAD before decoding (saves time on silence and
        hold music, and stops Whisper inventing text there).
    batch_size: >1 uses faster-whisper's BatchedInferencePipeline (pays on GPU); None lets the
        pipeline choose once the device is known (CUDA_BATCH_SIZE on CUDA, 1 on CPU: a mono
        call is diarised in a second thread while it is transcribed, and batching beside it
        measured slower, 5.6x against 6.0x real time on the archive's mono calls).
    channels_batch_size: the same for the joint pass over a stereo call's channels (see
        joint_channels); None: CUDA_BATCH_SIZE on CUDA, CPU_CHANNELS_BATCH_SIZE on CPU (8:
        7.1x against 6.1x real time unbatched on the archive's stereo calls).
    word_timestamps: needed for speaker attribution; keep on.
    joint_channels: transcribe a stereo call's two channels in one pass, laid end to end with
        silence between (one language detection instead of two, fuller windows and batches);
        off: one pass per channel.
    condition_on_previous_text: off by default, it lets one hallucination seed the next.
    no_speech_threshold / log_prob_threshold / compression_ratio_threshold: Whisper's own
        guards; a segment that fails them is dropped as hallucinated.
    hallucination_max_word_prob: drop a segment whose mean word probability is below this
        when it also falls where VAD heard no speech.
    """

    language: str | None = None
    window_language: bool = True
    language_guess: str = "en"
    beam_size: int | None = None
    vad_filter: bool = True
    vad_min_silence_ms: int = 500
    vad_speech_pad_ms: int = 400
    batch_size: int | None = None
    channels_batch_size: int | None = None
    word_timestamps: bool = True
    joint_channels: bool = True
    condition_on_previous_text: bool = False
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    hallucination_max_word_prob: float = 0.35
    initial_prompt: str | None = None

    def __post_init__(self) -> None:
        if self.beam_size is not None and self.beam_size < 1:
            raise ConfigError(f"beam_size must be >= 1, got {self.beam_size}")
        for name in ("batch_size", "channels_batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")


@dataclass(frozen=True)
class ChannelMap:
    """Which channel of a stereo recording holds which role (default agent=left, customer=right)."""

    left: Role = Role.AGENT
    right: Role = Role.CUSTOMER

    @classmethod
    def parse(cls, text: str) -> ChannelMap:
        """Parse 'agent=left,customer=right' (the form recording systems export)."""
        roles: dict[str, Role] = {}
        for part in text.replace("stereo:", "").split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise ConfigError(f"channel map part {part!r} is not role=channel")
            role, side = (p.strip().lower() for p in part.split("=", 1))
            if side not in ("left", "right"):
                raise ConfigError(f"channel map side {side!r} is not left or right")
            try:
                roles[side] = Role(role)
            except ValueError as exc:
                raise ConfigError(f"channel map role {role!r} is not agent or customer") from exc
        if set(roles) != {"left", "right"}:
            raise ConfigError(f"channel map {text!r} must name both left and right")
        return cls(left=roles["left"], right=roles["right"])


@dataclass(frozen=True)
class DiariseOptions:
    """Speaker diarisation settings.

    min_speakers / max_speakers: the prior for calls (usually 2; 3 with a transfer).
    segmentation_step: sliding-window step as a share of pyannote's 10 s window; 0.1 is
        pyannote's default, larger is faster and a little coarser.
    embedding_batch_size / segmentation_batch_size: inference batch sizes.
    embedding_max_seconds: speech per speaker embedding (CAM++ costs ~0.02 s per second
        of audio on a CPU; more is slower and a little steadier).
    embedding_min_seconds: a speaker with less speech in a window gets no embedding there.
    clustering_threshold: pyannote's agglomerative threshold (kept for its parameter set).
    same_speaker_similarity: when the centroids of the best two-speaker split are more
        alike than this (cosine), the recording has one speaker.
    min_duration_off: gaps shorter than this inside one speaker's speech are filled.
    channel_*: energy VAD used on stereo recordings (one speaker per channel; see
        engine/stages/channel_diarise.py; defaults chosen by DER with
        benchmarks/channel_diarisation_eval.py):
        channel_frame_s: analysis frame (20 ms).
        channel_threshold_db / channel_threshold_low_db: hysteresis, in dB above the adaptive
            noise floor: a region starts at 14 dB and lasts while above 8 dB.
        channel_min_speech_s: shorter regions are dropped (clicks).
        channel_min_silence_s: gaps shorter than this are bridged (pauses inside an utterance
            count as speech; 1.0 s).
        channel_pad_s: added to both ends of each region (30 ms).
        channel_floor_window_s: the noise floor is the larger of the minimum energy over the
            preceding and the following 10 s, so a steady sound lasting longer than this (hold
            music, hum) becomes floor, not speech.
        channel_floor_smooth_s: energy smoothing before taking that minimum (60 ms).
        channel_floor_min_db / channel_floor_range_db: the floor is never below
            max(-90 dBFS, the channel's 99th-percentile frame energy - 55 dB), so dither on a
            digitally silent or very quiet line is not speech.
        channel_echo_spread_s: the other channel's energy is maximised over this span before
            predicting leakage (echo lag).
        channel_leak_db: a frame more than this below the other channel's simultaneous energy
            is leakage, never speech.
        channel_echo_margin_db / channel_echo_margin_low_db: hysteresis margins (10 / 6 dB)
            over the leakage expected from the other channel (its energy plus the coupling
            measured on the call).
    """

    min_speakers: int = 1
    max_speakers: int = 3
    segmentation_step: float = 0.5
    segmentation_batch_size: int = 32
    embedding_batch_size: int = 32
    embedding_max_seconds: float = 3.0
    embedding_min_seconds: float = 0.4
    clustering_threshold: float = 0.6
    same_speaker_similarity: float = 0.85
    min_cluster_size: int = 4
    min_duration_off: float = 1.5
    channel_frame_s: float = 0.02
    channel_threshold_db: float = 14.0
    channel_min_speech_s: float = 0.12
    channel_min_silence_s: float = 1.0
    channel_pad_s: float = 0.03
    channel_threshold_low_db: float = 8.0
    channel_floor_window_s: float = 10.0
    channel_floor_smooth_s: float = 0.06
    channel_floor_min_db: float = -90.0
    channel_floor_range_db: float = 55.0
    channel_echo_spread_s: float = 0.06
    channel_leak_db: float = 25.0
    channel_echo_margin_db: float = 10.0
    channel_echo_margin_low_db: float = 6.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_speakers <= self.max_speakers:
            raise ConfigError(
                "need 1 <= min_speakers <= max_speakers, "
                f"got {self.min_speakers}..{self.max_speakers}"
            )
        if not 0 < self.segmentation_step <= 1:
            raise ConfigError(f"segmentation_step must be in (0, 1], got {self.segmentation_step}")
        if self.channel_frame_s <= 0:
            raise ConfigError(f"channel_frame_s must be positive, got {self.channel_frame_s}")
        if self.channel_threshold_low_db > self.channel_threshold_db:
            raise ConfigError(
                "channel_threshold_low_db must not exceed channel_threshold_db, got "
                f"{self.channel_threshold_low_db} > {self.channel_threshold_db}"
            )
        if self.channel_echo_margin_low_db > self.channel_echo_margin_db:
            raise ConfigError(
                "channel_echo_margin_low_db must not exceed channel_echo_margin_db, got "
                f"{self.channel_echo_margin_low_db} > {self.channel_echo_margin_db}"
            )
