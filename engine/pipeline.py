"""One call, end to end: file -> audio -> words -> turns -> roles -> utterances.

Stereo recordings (agent and customer on separate channels) are transcribed per
channel and diarised by channel activity; a "stereo" file whose two channels carry
the same signal is treated as the mono mix it is. Mono recordings are transcribed
once and diarised by pyannote (re-split at the pauses between turns when one speaker holds
almost all the speech; see engine.stages.resegment); roles then come from what each speaker
says. When the caller asks, PII is redacted from the utterances (engine.stages.redact) before
the signals (embeddings, sentiment, reasons) are computed from their text.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.audio import AudioDecoder
from engine.config import (
    CPU_BEAM_SIZE,
    CPU_CHANNELS_BATCH_SIZE,
    CUDA_BATCH_SIZE,
    CUDA_BEAM_SIZE,
    AudioOptions,
    ChannelMap,
    DiariseOptions,
    TranscribeOptions,
)
from engine.errors import ConfigError
from engine.progress import NullProgress, ProgressHook
from engine.stages.attribute import Attributor
from engine.stages.channel_diarise import ChannelDiariser
from engine.stages.diarise import MonoDiariser
from engine.stages.redact import PiiRedactor, RedactOptions
from engine.stages.resegment import PauseResegmenter
from engine.stages.roles import ChannelRoleAssigner, PhraseRoleAssigner
from engine.stages.signals import CallSignals
from engine.stages.transcribe import ChannelTranscriber, Transcriber
from engine.types import CallAnalysis, DecodedAudio, Diarisation, Speaker, Transcript, Word
from models.device import DeviceChoice

log = logging.getLogger(__name__)

# Channels this similar are one signal recorded twice (a mono mix saved as stereo).
_DUAL_MONO_CORRELATION = 0.98


@dataclass(frozen=True)
class PipelineSettings:
    """Everything needed to build a CallPipeline, with offline defaults.

    whisper_model: "base" (multilingual, default), "tiny.en", a local folder or hub:owner/name.
    device / compute_type: "auto" picks CUDA float16 on a GPU, else CPU int8.
    mono_diarisation: "pyannote" (default) or "off" (one speaker).
    overlap_diarisation: diarise a mono call in a second thread while it is transcribed.
    sentence_model: utterance embeddings ("minilm", default; "use-multilingual"; a local
    sentence-transformers folder; hub:owner/name; "off" for none).
    signals: compute VoC signals per call (embeddings, reasons, sentiment, prosody, spikes).
    redact: how PII is redacted when a caller asks for it (a batch into a store whose
    ``redact_pii`` setting is on; ``callscope transcribe --redact``).
    """

    whisper_model: str = "base"
    segmentation_model: str = "segmentation-3.0"
    embedding_model: str = "campplus"
    device: str = "auto"
    compute_type: str = "auto"
    cpu_threads: int = 0
    mono_diarisation: str = "pyannote"
    overlap_diarisation: bool = True
    sentence_model: str = "minilm"
    signals: bool = True
    audio: AudioOptions = field(default_factory=AudioOptions)
    transcribe: TranscribeOptions = field(default_factory=TranscribeOptions)
    diarise: DiariseOptions = field(default_factory=DiariseOptions)
    channel_map: ChannelMap = field(default_factory=ChannelMap)
    redact: RedactOptions = field(default_factory=RedactOptions)
    cache_dir: Path | None = None


ALL_STAGES = frozenset({"transcribe", "diarise", "signals"})


class NotLoaded:
    """Stands for a stage whose model this pipeline did not load; calling it is a bug."""

    def __init__(self, stage: str):
        self.stage = stage

    def __call__(self, *args: object, **kwargs: object) -> Any:
        raise ConfigError(f"the {self.stage!r} stage's model is not loaded in this pipeline")

    def channels(self, *args: object, **kwargs: object) -> Any:
        return self(*args, **kwargs)


def build_signals(settings: PipelineSettings, choice: DeviceChoice) -> CallSignals:
    """The per-call VoC signals stage with its sentence encoder loaded (unless "off")."""
    from engine.analytics.emotion import SpikeDetector
    from engine.analytics.reasons import SCAFFOLD_PROTOTYPES, ReasonSelector
    from engine.stages.embed import EmbedOptions, UtteranceEmbedder, embed_texts
    from engine.stages.prosody import ProsodyExtractor
    from engine.stages.sentiment import VaderSentiment
    from models.sentence import load_sentence_encoder

    sentiment = VaderSentiment()
    if settings.sentence_model == "off":
        return CallSignals(
            None,
            ReasonSelector(np.zeros((0, 0))),
            sentiment,
            ProsodyExtractor(),
            SpikeDetector(lexicon=sentiment),
        )
    encoder = load_sentence_encoder(settings.sentence_model, choice)
    options = EmbedOptions(batch_size=256 if choice.is_cuda else EmbedOptions().batch_size)
    prototypes = embed_texts(encoder, SCAFFOLD_PROTOTYPES, options.batch_size)
    return CallSignals(
        UtteranceEmbedder(encoder, options),
        ReasonSelector(prototypes),
        sentiment,
        ProsodyExtractor(),
        SpikeDetector(lexicon=sentiment),
    )


def transcribe_options_for(options: TranscribeOptions, choice: DeviceChoice) -> TranscribeOptions:
    """Fill in what depends on the device: batch sizes and beam (see TranscribeOptions)."""
    batch = options.batch_size or (CUDA_BATCH_SIZE if choice.is_cuda else 1)
    channels = options.channels_batch_size or (
        CUDA_BATCH_SIZE if choice.is_cuda else CPU_CHANNELS_BATCH_SIZE
    )
    beam = options.beam_size or (CUDA_BEAM_SIZE if choice.is_cuda else CPU_BEAM_SIZE)
    return replace(options, batch_size=batch, channels_batch_size=channels, beam_size=beam)


def is_dual_mono(samples: np.ndarray) -> bool:
    """True when a two-channel recording carries one signal on both channels."""
    if samples.shape[0] != 2:
        return False
    left, right = samples[0].astype(np.float64), samples[1].astype(np.float64)
    energy = np.sqrt(np.sum(left**2) * np.sum(right**2))
    if energy == 0:
        return True
    return bool(np.sum(left * right) / energy > _DUAL_MONO_CORRELATION)


class CallPipeline:
    """Analyse one recording. Stages are injected; ``build`` loads the real models."""

    def __init__(
        self,
        decoder: AudioDecoder,
        transcriber: ChannelTranscriber,
        mono_diariser: MonoDiariser,
        channel_diariser: ChannelDiariser,
        attributor: Attributor,
        phrase_roles: PhraseRoleAssigner,
        channel_map: ChannelMap = ChannelMap(),
        overlap_diarisation: bool = False,
        signals: CallSignals | None = None,
        resegmenter: PauseResegmenter | None = None,
        redactor: PiiRedactor | None = None,
    ):
        self.decoder = decoder
        self.transcriber = transcriber
        self.mono_diariser = mono_diariser
        self.channel_diariser = channel_diariser
        self.attributor = attributor
        self.phrase_roles = phrase_roles
        self.channel_map = channel_map
        self.signals = signals
        self.resegmenter = resegmenter
        self.redactor = redactor or PiiRedactor()
        # Whisper's decoding leaves CPU cores idle part of the time (beam bookkeeping,
        # alignment); diarising in a second thread meanwhile measured 1.06x the time of
        # transcription alone on 2 cores, against 1.27x one after the other.
        self._background = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="callscope-diarise")
            if overlap_diarisation
            else None
        )

    def close(self) -> None:
        if self._background is not None:
            self._background.shutdown(wait=True)

    def __enter__(self) -> CallPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def build(
        cls, settings: PipelineSettings = PipelineSettings(), stages: frozenset[str] = ALL_STAGES
    ) -> CallPipeline:
        """Load the models of ``stages`` once (device resolved once) and wire the stages.

        stages: "transcribe" (Whisper), "diarise" (pyannote + CAM++), "signals" (sentence
        encoder, sentiment, prosody); a batch that keeps one model in memory at a time builds
        a pipeline for transcription, then one for the rest.
        """
        unknown = stages - ALL_STAGES
        if unknown:
            raise ConfigError(f"unknown stages {sorted(unknown)}; choose from {sorted(ALL_STAGES)}")
        from engine.stages.diarise import PyannoteDiariser, SingleSpeakerDiariser
        from engine.stages.speaker_embedding import CamPlusPlusEmbedding
        from models.device import resolve_device
        from models.loaders import load_segmentation, load_speaker_embedding, load_whisper

        choice = resolve_device(settings.device, settings.compute_type, None, settings.cpu_threads)
        if choice.device == "cpu":
            import torch

            # with diarisation overlapped, torch gets the cores Whisper leaves idle
            share = max(1, choice.cpu_threads // 2) if settings.overlap_diarisation else 0
            torch.set_num_threads(share or choice.cpu_threads)
        transcribe = transcribe_options_for(settings.transcribe, choice)
        transcriber: ChannelTranscriber = NotLoaded("transcribe")
        if "transcribe" in stages:
            whisper = load_whisper(settings.whisper_model, choice, settings.cache_dir)
            transcriber = Transcriber.build(whisper, transcribe)
        mono: MonoDiariser
        resegmenter: PauseResegmenter | None = None
        if "diarise" not in stages:
            mono = NotLoaded("diarise")
        elif settings.mono_diarisation == "off":
            mono = SingleSpeakerDiariser()
        else:
            segmentation = load_segmentation(
                settings.segmentation_model, choice, settings.cache_dir
            )
            network = load_speaker_embedding(settings.embedding_model, choice, settings.cache_dir)
            embedding = CamPlusPlusEmbedding(
                network,
                settings.diarise.embedding_max_seconds,
                settings.diarise.embedding_min_seconds,
            )
            mono = PyannoteDiariser(segmentation, embedding, settings.diarise)
            resegmenter = PauseResegmenter(embedding)
        signals = (
            build_signals(settings, choice) if "signals" in stages and settings.signals else None
        )
        return cls(
            decoder=AudioDecoder(settings.audio),
            transcriber=transcriber,
            mono_diariser=mono,
            channel_diariser=ChannelDiariser(settings.diarise),
            attributor=Attributor(),
            phrase_roles=PhraseRoleAssigner(),
            channel_map=settings.channel_map,
            overlap_diarisation=settings.overlap_diarisation,
            signals=signals,
            resegmenter=resegmenter,
            redactor=PiiRedactor(settings.redact),
        )

    def __call__(
        self,
        path: str | Path,
        call_id: str | None = None,
        channel_map: ChannelMap | None = None,
        progress: ProgressHook | None = None,
        redact: bool = False,
    ) -> CallAnalysis:
        hook = progress or NullProgress()
        name = call_id or Path(path).stem
        hook.stage(name, "decode")
        audio = self.decoder(path)
        return self.analyse(audio, name, channel_map or self.channel_map, hook, redact=redact)

    def is_stereo(self, audio: DecodedAudio) -> bool:
        """Two channels carrying different signals (a dual-mono file is a mono mix)."""
        return audio.num_channels == 2 and not is_dual_mono(audio.samples)

    def transcribe(self, audio: DecodedAudio) -> tuple[Transcript, ...]:
        """Transcription alone: one transcript per channel of a stereo call, else one."""
        if self.is_stereo(audio):
            return self.transcriber.channels([audio.channel(0), audio.channel(1)])
        return (self.transcriber(audio.mono(), channel=0),)

    def analyse(
        self,
        audio: DecodedAudio,
        call_id: str,
        channel_map: ChannelMap,
        hook: ProgressHook | None = None,
        transcripts: tuple[Transcript, ...] | None = None,
        redact: bool = False,
    ) -> CallAnalysis:
        """Analyse audio already decoded (the batch decodes ahead of inference).

        transcripts: the result of ``transcribe`` from an earlier pass (a batch that keeps
        one model in memory at a time); then no transcription happens here.
        redact: replace PII in the utterances and words (``self.redactor``) after speaker
        attribution, before the signals are computed from the text.
        """
        hook = hook or NullProgress()
        if self.is_stereo(audio):
            call = self._stereo(audio, call_id, channel_map, hook, transcripts)
        else:
            if audio.num_channels == 2:
                log.info("%s: both channels carry the same signal; treating it as mono", call_id)
            call = self._mono(audio, call_id, hook, transcripts)
        if redact:
            hook.stage(call_id, "redact")
            call = self.redactor(call).call
        if self.signals is None:
            return call
        hook.stage(call_id, "signals")
        return self.signals(call, audio)

    def _stereo(
        self,
        audio: DecodedAudio,
        call_id: str,
        channel_map: ChannelMap,
        hook: ProgressHook,
        transcripts: tuple[Transcript, ...] | None,
    ) -> CallAnalysis:
        hook.stage(call_id, "transcribe")
        if transcripts is None:
            transcripts = self.transcribe(audio)
        hook.stage(call_id, "diarise")
        diarisation = self.channel_diariser(audio, channel_map)
        assigner = ChannelRoleAssigner(channel_map)
        speakers = assigner(diarisation)
        words = sorted((w for t in transcripts for w in t.words), key=lambda w: (w.start, w.end))
        channel_speakers = assigner.channel_speakers()
        return self._finish(
            audio, call_id, list(transcripts), diarisation, speakers, words, channel_speakers, hook
        )

    def _mono(
        self,
        audio: DecodedAudio,
        call_id: str,
        hook: ProgressHook,
        transcripts: tuple[Transcript, ...] | None,
    ) -> CallAnalysis:
        samples = audio.mono()
        pending = (
            self._background.submit(self.mono_diariser, samples, call_id)
            if self._background is not None and transcripts is None
            else None
        )
        hook.stage(call_id, "transcribe")
        try:
            transcript = transcripts[0] if transcripts else self.transcriber(samples, channel=0)
        finally:
            if pending is not None:
                wait([pending])  # never leave a diarisation running behind a failure
        hook.stage(call_id, "diarise")
        diarisation = (
            pending.result() if pending is not None else self.mono_diariser(samples, call_id)
        )
        if self.resegmenter is not None:
            diarisation = self.resegmenter(samples, diarisation)
        speakers = self.phrase_roles(diarisation, transcript.words)
        return self._finish(
            audio, call_id, [transcript], diarisation, speakers, list(transcript.words), None, hook
        )

    def _finish(
        self,
        audio: DecodedAudio,
        call_id: str,
        transcripts: list[Transcript],
        diarisation: Diarisation,
        speakers: tuple[Speaker, ...],
        words: list[Word],
        channel_speakers: dict[int, str] | None,
        hook: ProgressHook,
    ) -> CallAnalysis:
        hook.stage(call_id, "attribute")
        roles = {s.label: s.role for s in speakers}
        utterances = self.attributor(words, diarisation, roles, channel_speakers=channel_speakers)
        main = max(transcripts, key=lambda t: len(t.words))
        return CallAnalysis(
            call_id=call_id,
            audio=audio.info,
            language=main.language,
            language_probability=main.language_probability,
            diarisation_method=diarisation.method,
            speakers=speakers,
            turns=diarisation.turns,
            utterances=utterances,
            words=tuple(words),
        )
