"""The ``callscope`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine.config import AudioOptions, ChannelMap, TranscribeOptions
from engine.errors import CallscopeError, ModelError
from engine.progress import NullProgress, ProgressHook
from engine.writers import FORMATS

if TYPE_CHECKING:
    from engine.pipeline import CallPipeline, PipelineSettings

log = logging.getLogger("callscope")


class TerminalProgress(NullProgress):
    """Calls done/total, current call and stage, audio seconds and rate, on stderr."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.task = self.progress.add_task("calls", total=0, status="")
        self.audio = 0.0
        self.failures = 0
        self.started = time.monotonic()

    def start(self, total: int) -> None:
        self.progress.start()
        self.progress.update(self.task, total=total)

    def stage(self, call_id: str, stage: str) -> None:
        self.progress.update(self.task, status=f"{call_id}: {stage}")

    def _advance(self) -> None:
        rate = self.audio / max(time.monotonic() - self.started, 1e-9)
        self.progress.update(
            self.task,
            advance=1,
            status=f"{self.audio / 60:.1f} audio min, {rate:.1f}x real time, "
            f"{self.failures} failed",
        )

    def done(self, call_id: str, audio_seconds: float) -> None:
        self.audio += audio_seconds
        self._advance()

    def failed(self, call_id: str, reason: str) -> None:
        self.failures += 1
        self.progress.console.print(f"[red]failed[/red] {call_id}: {reason}")
        self._advance()

    def close(self) -> None:
        self.progress.stop()


def _settings(args: argparse.Namespace) -> PipelineSettings:
    from engine.pipeline import PipelineSettings

    return PipelineSettings(
        whisper_model=args.model,
        device=args.device,
        compute_type=args.compute_type,
        cpu_threads=args.threads,
        mono_diarisation="off" if args.no_diarisation else "pyannote",
        audio=AudioOptions(max_duration_s=args.max_duration),
        transcribe=TranscribeOptions(
            language=args.language, beam_size=args.beam_size, batch_size=args.batch_size
        ),
        channel_map=ChannelMap.parse(args.channel_map),
    )


def _transcribe_files(
    files: Sequence[Path], out: Path, args: argparse.Namespace, progress: ProgressHook
) -> int:
    from engine.pipeline import CallPipeline

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise CallscopeError(
            f"unknown output formats {sorted(unknown)}; choose from {tuple(FORMATS)}"
        )
    with CallPipeline.build(_settings(args)) as pipeline:
        failures = _run_files(pipeline, files, out, formats, progress)
    return 1 if failures else 0


def _run_files(
    pipeline: CallPipeline,
    files: Sequence[Path],
    out: Path,
    formats: tuple[str, ...],
    progress: ProgressHook,
) -> int:
    from engine.writers import write_outputs

    failures = 0
    progress.start(len(files))
    try:
        for path in files:
            try:
                call = pipeline(path, progress=progress)
            except CallscopeError as exc:
                failures += 1
                log.error("%s", exc)
                progress.failed(path.name, str(exc))
                continue
            written = write_outputs(call, out, formats)
            log.info("%s -> %s", path, ", ".join(str(p) for p in written))
            progress.done(call.call_id, call.duration)
    finally:
        progress.close()
    return failures


def cmd_transcribe(args: argparse.Namespace) -> int:
    progress: ProgressHook = NullProgress() if args.quiet else TerminalProgress()
    return _transcribe_files([Path(f) for f in args.files], Path(args.out), args, progress)


def cmd_demo(args: argparse.Namespace) -> int:
    from engine.sample import make_call
    from engine.writers import from_json

    out = Path(args.out)
    sample = make_call(out / "sample-call.wav", stereo=not args.mono)
    log.info("generated %s", sample.path)
    code = _transcribe_files([sample.path], out, args, NullProgress())
    if code == 0:
        call = from_json((out / "sample-call.json").read_text())
        sys.stdout.write(
            f"{sample.path}: {call.duration:.1f} s, language {call.language}, "
            f"diarisation {call.diarisation_method}, speakers "
            + ", ".join(f"{s.label}={s.role.value} ({s.confidence:.2f})" for s in call.speakers)
            + "\n"
        )
        for u in call.utterances:
            sys.stdout.write(f"[{u.start:7.2f} - {u.end:7.2f}] {u.role.value:8s} {u.text}\n")
        sys.stdout.write(f"outputs in {out}/ (json, rttm, srt, vtt)\n")
    return code


def cmd_models(args: argparse.Namespace) -> int:
    from models.cache import materialise
    from models.registry import REGISTRY

    for spec in REGISTRY.values():
        if args.action == "list":
            sys.stdout.write(f"{spec.name:28s} {spec.kind:18s} {spec.description}\n")
        else:
            folder = materialise(spec, verify=True)
            sys.stdout.write(f"{spec.name:28s} ok  {folder}\n")
    return 0


def _add_pipeline_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="callscope-out", help="output folder")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--compute-type", default="auto", help="auto: float16 on CUDA, int8 on CPU")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    p.add_argument("--model", default="base", help="base, tiny.en, a folder, or hub:owner/name")
    p.add_argument("--language", default=None, help="force a language (default: detect)")
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="batched inference (default: 16 on CUDA, 1 on CPU)",
    )
    p.add_argument("--formats", default=",".join(FORMATS), help="json,rttm,srt,vtt")
    p.add_argument("--channel-map", default="agent=left,customer=right")
    p.add_argument("--max-duration", type=float, default=4 * 3600.0, help="seconds")
    p.add_argument("--no-diarisation", action="store_true", help="mono calls: one speaker")
    p.add_argument("--quiet", action="store_true", help="no progress display")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="callscope", description=__doc__)
    top.add_argument("-v", "--verbose", action="count", default=0)
    sub = top.add_subparsers(dest="command", required=True)
    t = sub.add_parser("transcribe", help="transcribe and diarise recordings")
    t.add_argument("files", nargs="+")
    _add_pipeline_options(t)
    t.set_defaults(func=cmd_transcribe)
    d = sub.add_parser("demo", help="generate a sample call (espeak-ng) and analyse it")
    d.add_argument("--mono", action="store_true", help="a mono mix instead of stereo")
    _add_pipeline_options(d)
    d.set_defaults(func=cmd_demo, out="demo-out")
    m = sub.add_parser("models", help="list, or prepare and verify, the offline models")
    m.add_argument("action", choices=("list", "prepare"))
    m.set_defaults(func=cmd_models)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    level = logging.WARNING - 10 * args.verbose
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("pytorch_lightning", "lightning", "lightning_fabric", "speechbrain"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        code: int = args.func(args)
    except (CallscopeError, ModelError) as exc:
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
