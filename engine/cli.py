"""The ``callscope`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from engine.config import AudioOptions, ChannelMap, TranscribeOptions
from engine.errors import CallscopeError, ModelError
from engine.progress import NullProgress, ProgressHook
from engine.types import RunSummary
from engine.writers import FORMATS

if TYPE_CHECKING:
    from engine.analytics.analyse import AnalysisReport
    from engine.batch import BatchOptions
    from engine.executor import Executor
    from engine.pipeline import CallPipeline, PipelineSettings
    from engine.store.repo import Store
    from models.sentence import SentenceEncoder

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
    from engine.stages.redact import RedactOptions

    region = None if args.phone_region.lower() == "none" else args.phone_region
    return PipelineSettings(
        whisper_model=args.model,
        device=args.device,
        compute_type=args.compute_type,
        cpu_threads=args.threads,
        mono_diarisation="off" if args.no_diarisation else "pyannote",
        audio=AudioOptions(max_duration_s=args.max_duration),
        transcribe=TranscribeOptions(
            language=args.language,
            language_guess=args.language_guess,
            beam_size=args.beam_size,
            batch_size=args.batch_size,
            channels_batch_size=args.channels_batch_size,
        ),
        channel_map=ChannelMap.parse(args.channel_map),
        sentence_model=args.sentence_model,
        redact=RedactOptions(phone_region=region),
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
        failures = _run_files(pipeline, files, out, formats, progress, redact=args.redact)
    return 1 if failures else 0


def _run_files(
    pipeline: CallPipeline,
    files: Sequence[Path],
    out: Path,
    formats: tuple[str, ...],
    progress: ProgressHook,
    redact: bool = False,
) -> int:
    from engine.writers import write_outputs

    failures = 0
    progress.start(len(files))
    try:
        for path in files:
            try:
                call = pipeline(path, progress=progress, redact=redact)
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


def print_summary(summary: RunSummary, out: TextIO | None = None) -> None:
    """The end-of-batch summary a scheduler log or an operator reads."""
    out = out or sys.stdout
    out.write(
        f"run {summary.run_id}: {summary.discovered} recordings found, "
        f"{summary.processed} processed, {summary.skipped} skipped as already done, "
        f"{len(summary.quarantined)} quarantined\n"
        f"audio {summary.audio_seconds / 3600:.3f} h in {summary.wall_seconds:.1f} s wall: "
        f"{summary.realtime_factor:.2f}x real time, {summary.calls_per_hour:.0f} calls/hour\n"
    )
    for q in summary.quarantined:
        out.write(f"  quarantined {q.path} [{q.stage}: {q.problem}] {q.detail}\n")


def _batch(args: argparse.Namespace, archive: Path) -> int:
    from engine.archive import MetadataSchema
    from engine.batch import BatchOptions, NightlyBatch
    from engine.pipeline import CallPipeline
    from engine.store.repo import Store

    options = BatchOptions(
        since=date.fromisoformat(args.since) if args.since else None,
        retry_quarantined=args.retry_quarantined,
        one_model_at_a_time=args.one_model_at_a_time,
        schema=MetadataSchema.parse(args.schema) if args.schema else MetadataSchema(),
    )
    progress: ProgressHook = NullProgress() if args.quiet else TerminalProgress()
    settings = _settings(args)
    executor, recorded = _executor(args, options)
    if executor is not None and not args.threads:
        # each worker's threads are its CPU share (not every core of its machine)
        settings = replace(settings, cpu_threads=max(1, int(args.cpus_per_worker)))
    build = partial(CallPipeline.build, settings)
    with Store.open(args.store) as store:
        summary = NightlyBatch(build, store, options, progress, executor).run(
            archive, {"pipeline": repr(settings), **recorded}
        )
        print_summary(summary)
        if not args.no_analyse and settings.sentence_model != "off":
            _analyse(store, args, recluster=False, until=None)
    return 1 if summary.quarantined else 0


def _executor(
    args: argparse.Namespace, options: BatchOptions
) -> tuple[Executor | None, dict[str, str]]:
    """The executor ``--executor`` names (None: the batch's local default), and how to record it."""
    if args.executor == "local":
        return None, {}
    from engine.ray_executor import RayExecutor, RayOptions, import_ray

    if options.one_model_at_a_time:
        raise CallscopeError("--one-model-at-a-time is for the local executor only")
    import_ray()  # a clear error now if Ray is not installed
    ray = RayOptions(
        address=args.ray_address,
        workers=args.workers,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.gpus_per_worker,
    )
    return RayExecutor(ray), {"executor": repr(ray)}


def _analyse(
    store: Store,
    args: argparse.Namespace,
    recluster: bool,
    until: datetime | None,
    reselect: bool = False,
) -> None:
    from engine.analytics.analyse import AnalyseOptions, VocAnalysis
    from engine.analytics.metrics import MetricsOptions
    from models.device import resolve_device
    from models.sentence import encoder_name, load_sentence_encoder

    def encoder() -> SentenceEncoder:
        return load_sentence_encoder(args.sentence_model, resolve_device(args.device, "auto"))

    options = AnalyseOptions(
        sentence_model=encoder_name(args.sentence_model),
        recluster=recluster,
        reselect=reselect,
        until=until,
        metrics=MetricsOptions(cost_per_minute=args.cost_per_minute),
    )
    report = VocAnalysis(store, encoder, options).run()
    print_analysis(report, store)


def print_analysis(report: AnalysisReport, store: Store, out: TextIO | None = None) -> None:
    """The analysis summary: drivers, unassigned share, repeats and alerts."""
    out = out or sys.stdout
    drivers = {d.id: d for d in store.voc.drivers()}
    out.write(
        f"analysis ({report.mode}): {report.reason_utterances} reason utterances, "
        f"{report.active_drivers} drivers ({report.new_drivers} new), "
        f"{100 * report.unassigned:.1f}% unassigned, {len(report.repeats)} repeat contacts, "
        f"{len(report.alerts)} alerts, {report.wall_seconds:.1f} s\n"
    )
    if report.scaffolding is not None:
        out.write(f"  {report.scaffolding.summary()}\n")
    top = sorted(
        (d for d in drivers.values() if d.status == "active" and d.size),
        key=lambda d: -d.size,
    )
    for d in top[:10]:
        out.write(f"  driver {d.id:4d} {d.name:40s} {d.size:5d} calls\n")
    for group in ("agent", "queue"):
        figures = report.fcr.get(group, {})
        if figures:
            shown = ", ".join(
                f"{key} {f.rate:.0%} of {f.contacts}" for key, f in sorted(figures.items())[:8]
            )
            out.write(f"  first-contact resolution by {group}: {shown}\n")
    for a in report.alerts:
        name = drivers[a.driver_id].name if a.driver_id in drivers else str(a.driver_id)
        out.write(
            f"  ALERT {a.day} {a.kind} {a.metric} of {name}: {a.observed:g} vs "
            f"baseline {a.baseline:.2f} (p={a.p_value:.4f})\n"
        )


def cmd_analyse(args: argparse.Namespace) -> int:
    from engine.store.repo import Store

    try:
        until = datetime.fromisoformat(args.until) if args.until else None
    except ValueError as exc:
        raise CallscopeError(f"--until {args.until!r}: not an ISO date or time") from exc
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    with Store.open(args.store) as store:
        _analyse(store, args, recluster=args.recluster, until=until, reselect=args.reselect)
    return 0


def cmd_drivers(args: argparse.Namespace) -> int:
    from engine.analytics.edits import DriverEditor
    from engine.store.repo import Store
    from models.sentence import encoder_name

    with Store.open(args.store) as store:
        editor = DriverEditor(store, encoder_name(args.sentence_model))
        if args.action == "rename":
            editor.rename(args.driver, " ".join(args.name))
        elif args.action == "merge":
            editor.merge(args.target, args.sources)
        elif args.action == "split":
            editor.split(args.driver, args.parts)
        shown = ("active",) if not getattr(args, "all", False) else None
        for d in store.voc.drivers(shown):
            extra = f" -> {d.merged_into}" if d.merged_into else ""
            words = ", ".join(d.keywords[:5])
            sys.stdout.write(f"{d.id:5d} {d.status:8s} {d.size:6d}  {d.name}{extra}  [{words}]\n")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    archive = Path(args.archive)
    if not archive.is_dir():
        raise CallscopeError(f"{archive}: not a folder")
    return _batch(args, archive)


def cmd_demo(args: argparse.Namespace) -> int:
    from engine.sample import make_archive
    from engine.store.repo import Store

    archive = Path(args.archive)
    if not archive.exists():
        written = make_archive(archive, nights=2, calls_per_night=3)
        log.warning("generated a sample archive of %d calls in %s", len(written), archive)
    code = _batch(args, archive)
    with Store.open(args.store) as store:
        for call_id in store.call_ids()[:2]:
            call = store.load_call(call_id)
            if call is None:
                continue
            sys.stdout.write(f"\n{call_id} ({call.duration:.1f} s, {call.diarisation_method}):\n")
            for u in call.utterances:
                sys.stdout.write(f"  [{u.start:6.2f}] {u.role.value:8s} {u.text}\n")
    return code


def cmd_export(args: argparse.Namespace) -> int:
    from engine.export import export, export_call_files
    from engine.store.repo import Store

    out = Path(args.out)
    with Store.open(args.store) as store:
        written = export(store, out, args.format)
        if args.per_call:
            written += export_call_files(store, out / "calls")
    for path in written:
        sys.stdout.write(f"{path}\n")
    return 0


def _day(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CallscopeError(f"{option} {text!r}: not a date (YYYY-MM-DD)") from exc


def cmd_report(args: argparse.Namespace) -> int:
    from engine.analytics.metrics import MetricsOptions
    from engine.report.build import VocReport
    from engine.report.data import ReportOptions, check_period
    from engine.store.repo import Store

    first, last = _day("--from", args.first), _day("--to", args.last)
    options = ReportOptions(metrics=MetricsOptions(cost_per_minute=args.cost_per_minute))
    check_period(first, last, options.max_days)
    with Store.open(args.store) as store:
        path = VocReport(store, options).write(first, last, Path(args.out))
    sys.stdout.write(f"{path}\n")
    return 0


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


def _add_batch_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default=None, help="store URL (default: the embedded SQLite store)")
    p.add_argument("--since", default=None, help="only nights on or after YYYY-MM-DD")
    p.add_argument("--schema", default=None, help="metadata columns: field=column,...")
    p.add_argument("--retry-quarantined", action="store_true")
    p.add_argument(
        "--one-model-at-a-time",
        action="store_true",
        help="transcribe all calls, free Whisper, then diarise (memory for one model only)",
    )
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="where calls are analysed: this process, or Ray actors (pip install callscope[ray])",
    )
    p.add_argument(
        "--ray-address",
        default=None,
        help="Ray cluster: auto (this machine's, after `ray start`), ray://head:10001 "
        "(default: $RAY_ADDRESS, else a local cluster for the run)",
    )
    p.add_argument("--workers", type=int, default=2, help="Ray actors (models loaded once each)")
    p.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs each Ray actor holds")
    p.add_argument(
        "--gpus-per-worker", type=float, default=0.0, help="GPUs each Ray actor holds (1: one each)"
    )


def cmd_keys(args: argparse.Namespace) -> int:
    from engine.store.repo import Store

    with Store.open(args.store) as store:
        if args.action == "create":
            key, text = store.keys.create(" ".join(args.name), args.role)
            sys.stdout.write(f"{key.id} {key.role} {key.name}\n{text}\n")
            sys.stderr.write("store this key now: it is shown only once\n")
            return 0
        if args.action == "revoke" and not store.keys.revoke(args.id):
            raise CallscopeError(f"no active key {args.id}")
        for k in store.keys.list():
            state = "active" if k.active else f"revoked {k.revoked_at:%Y-%m-%d}"
            sys.stdout.write(f"{k.id:4d} {k.role:8s} cs_{k.prefix}_…  {state:18s} {k.name}\n")
    return 0


def cmd_store(args: argparse.Namespace) -> int:
    from engine.store.repo import STORE_SETTINGS, Store

    with Store.open(args.store) as store:
        if args.action == "set":
            store.set_setting(args.key, args.value)
        for key, values in STORE_SETTINGS.items():
            value = store.setting(key) or "(unset)"
            sys.stdout.write(f"{key:12s} {value:8s} ({', '.join(values)})\n")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.main import create_app
    from api.settings import ApiSettings
    from engine.jobs import PipelineBatchRunner

    settings = ApiSettings(
        store_url=args.store,
        search_preload=True,
        archive_roots=tuple(Path(r) for r in args.archive_root),
        upload_dir=Path(args.upload_dir) if args.upload_dir else None,
        max_audio_seconds=args.max_duration,
        job_worker=not args.no_jobs,
    )
    runner = PipelineBatchRunner(partial(_settings, args))  # models load at the first job
    uvicorn.run(create_app(settings, runner), host=args.host, port=args.port)
    return 0


def _add_analysis_options(p: argparse.ArgumentParser, batch: bool) -> None:
    if batch:
        p.add_argument(
            "--no-analyse", action="store_true", help="skip drivers/repeats/alerts after the batch"
        )
    else:
        p.add_argument("--store", default=None, help="store URL (default: embedded SQLite)")
        p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
        p.add_argument(
            "--sentence-model", default="minilm", help="minilm, use-multilingual, a folder, hub:"
        )
    p.add_argument(
        "--cost-per-minute", type=float, default=1.0, help="handle cost per minute for driver cost"
    )


def _add_pipeline_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--compute-type", default="auto", help="auto: float16 on CUDA, int8 on CPU")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    p.add_argument("--model", default="base", help="base, tiny.en, a folder, or hub:owner/name")
    p.add_argument("--language", default=None, help="force a language (default: detect)")
    p.add_argument(
        "--language-guess",
        default="en",
        help="the language most calls are in: saves their second decoding (never forces it)",
    )
    p.add_argument("--beam-size", type=int, default=None, help="default: 5 on CUDA, 2 on CPU")
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="batched inference (default: 16 on CUDA, 1 on CPU)",
    )
    p.add_argument(
        "--channels-batch-size",
        type=int,
        default=None,
        help="batch of the joint pass over a stereo call's channels (default: 16 CUDA, 8 CPU)",
    )
    p.add_argument("--channel-map", default="agent=left,customer=right")
    p.add_argument("--max-duration", type=float, default=4 * 3600.0, help="seconds")
    p.add_argument("--no-diarisation", action="store_true", help="mono calls: one speaker")
    p.add_argument(
        "--sentence-model",
        default="minilm",
        help="utterance embeddings: minilm, use-multilingual, a folder, hub:owner/name, off",
    )
    p.add_argument(
        "--phone-region",
        default="US",
        help="PII redaction: region of phone numbers said without a country code (GB, ...; none)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress display")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="callscope", description=__doc__)
    top.add_argument("-v", "--verbose", action="count", default=0)
    sub = top.add_subparsers(dest="command", required=True)
    t = sub.add_parser("transcribe", help="transcribe and diarise recordings")
    t.add_argument("files", nargs="+")
    t.add_argument("--out", default="callscope-out", help="output folder")
    t.add_argument("--formats", default=",".join(FORMATS), help="json,rttm,srt,vtt")
    t.add_argument(
        "--redact",
        action="store_true",
        help="replace card and phone numbers, e-mail addresses and spoken digit runs",
    )
    _add_pipeline_options(t)
    t.set_defaults(func=cmd_transcribe)
    r = sub.add_parser("run", help="the nightly batch over a recording archive")
    r.add_argument("archive")
    _add_batch_options(r)
    _add_pipeline_options(r)
    _add_analysis_options(r, batch=True)
    r.set_defaults(func=cmd_run)
    d = sub.add_parser("demo", help="generate a small sample archive (espeak-ng) and run the batch")
    d.add_argument("--archive", default="callscope-sample", help="where the sample archive goes")
    _add_batch_options(d)
    _add_pipeline_options(d)
    _add_analysis_options(d, batch=True)
    d.set_defaults(func=cmd_demo)
    a = sub.add_parser("analyse", help="drivers, repeat contacts and alerts over the store")
    a.add_argument("--recluster", action="store_true", help="re-cluster all (IDs kept by lineage)")
    a.add_argument("--until", default=None, help="only calls that started before this time")
    a.add_argument(
        "--reselect", action="store_true", help="mark every call's reason utterances again"
    )
    _add_analysis_options(a, batch=False)
    a.set_defaults(func=cmd_analyse)
    dr = sub.add_parser("drivers", help="list drivers; rename, merge or split them")
    dr_sub = dr.add_subparsers(dest="action", required=True)
    dl = dr_sub.add_parser("list", help="the active drivers")
    dl.add_argument("--all", action="store_true", help="also merged, split and retired ones")
    rn = dr_sub.add_parser("rename", help="give a driver a name that analyses keep")
    rn.add_argument("driver", type=int)
    rn.add_argument("name", nargs="+")
    mg = dr_sub.add_parser("merge", help="merge drivers into a target driver")
    mg.add_argument("target", type=int)
    mg.add_argument("sources", type=int, nargs="+")
    sp = dr_sub.add_parser("split", help="split a driver in parts by its members' embeddings")
    sp.add_argument("driver", type=int)
    sp.add_argument("--parts", type=int, default=2)
    for p in (dl, rn, mg, sp):
        p.add_argument("--store", default=None, help="store URL (default: embedded SQLite)")
        p.add_argument("--sentence-model", default="minilm")
    dr.set_defaults(func=cmd_drivers)
    k = sub.add_parser("keys", help="API keys: create, list, revoke")
    k_sub = k.add_subparsers(dest="action", required=True)
    kc = k_sub.add_parser("create", help="a new key (shown once)")
    kc.add_argument("name", nargs="+")
    kc.add_argument("--role", choices=("analyst", "admin"), default="analyst")
    kl = k_sub.add_parser("list")
    kr = k_sub.add_parser("revoke")
    kr.add_argument("id", type=int)
    for p in (kc, kl, kr):
        p.add_argument("--store", default=None, help="store URL (default: embedded SQLite)")
    k.set_defaults(func=cmd_keys)
    so = sub.add_parser("store", help="store-wide settings: show them, or set one")
    so_sub = so.add_subparsers(dest="action", required=True)
    so_show = so_sub.add_parser("show", help="the settings and their allowed values")
    so_set = so_sub.add_parser("set", help="change a setting: redact_pii on|off")
    so_set.add_argument("key")
    so_set.add_argument("value")
    for p in (so_show, so_set):
        p.add_argument("--store", default=None, help="store URL (default: embedded SQLite)")
    so.set_defaults(func=cmd_store)
    sv = sub.add_parser("serve", help="the HTTP API over the store")
    sv.add_argument("--store", default=None, help="store URL (default: embedded SQLite)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument(
        "--archive-root",
        action="append",
        default=[],
        help="a server folder archive jobs may name (repeat; none: archive jobs are refused)",
    )
    sv.add_argument("--upload-dir", default=None, help="upload area (default: beside the store)")
    sv.add_argument("--no-jobs", action="store_true", help="run no jobs in this process")
    _add_pipeline_options(sv)
    sv.set_defaults(func=cmd_serve)
    e = sub.add_parser("export", help="export stored results")
    e.add_argument("--store", default=None, help="store URL (default: the embedded SQLite store)")
    e.add_argument("--format", choices=("parquet", "csv", "jsonl"), default="parquet")
    e.add_argument("--out", default="callscope-export")
    e.add_argument("--per-call", action="store_true", help="also JSON/RTTM/SRT/VTT per call")
    e.set_defaults(func=cmd_export)
    rp = sub.add_parser("report", help="a self-contained HTML VoC report of a period")
    rp.add_argument("--from", dest="first", required=True, help="first UTC day, YYYY-MM-DD")
    rp.add_argument("--to", dest="last", required=True, help="last UTC day (inclusive)")
    rp.add_argument("--out", default="callscope-report", help="folder for report.html")
    rp.add_argument("--store", default=None, help="store URL (default: embedded SQLite)")
    rp.add_argument(
        "--cost-per-minute", type=float, default=1.0, help="handle cost per minute for driver cost"
    )
    rp.set_defaults(func=cmd_report)
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
