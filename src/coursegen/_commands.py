"""What each `coursegen` command does, once `coursegen.cli` has parsed its arguments.

Imported only when a command runs, so that `coursegen --help` (and a usage error) loads
no HTTP client, job store or event loop: the grammar and the exit codes live in `cli`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import warnings
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import anyio
import attrs

from . import _batch, _worker_command
from ._config import connect
from ._errors import ConfigurationError, StoreError
from ._exit import EXIT_BROKEN_PLUGIN, EXIT_JOB_FAILED, EXIT_OK
from ._features import UnsupportedFeatureWarning
from ._fleet import local
from ._job import SANDBOX_ENDPOINT, JobToken
from ._json import converter
from ._models import (
    Assessment,
    AssessmentRequest,
    BloomLevel,
    Course,
    CourseRequest,
    JobStatus,
    Request,
    Snapshot,
)
from ._registry import default_registry, install_command
from ._scaffold import new_provider
from .store import JobRecord, default_store_url, open_store

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    from ._client import Client
    from ._job import Job

__all__ = ["DEFAULT_SANDBOX", "DEFAULT_SANDBOX_SPEED", "Progress", "run"]

# The simulator each command falls back to when no provider is configured.
DEFAULT_SANDBOX = {"generate": "learningstudio", "assess": "edumate", "batch": "learningstudio"}
# Sandbox jobs take one to two vendor minutes; at this speed they take a few seconds.
DEFAULT_SANDBOX_SPEED = 20.0


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run the command `args` names; returns its exit status (errors propagate)."""
    handlers: dict[str, Callable[[], int]] = {
        "generate": lambda: anyio.run(_generate, args, out, err),
        "assess": lambda: anyio.run(_generate, args, out, err),
        "status": lambda: anyio.run(_status, args, out, err),
        "wait": lambda: anyio.run(_wait, args, out, err),
        "jobs": lambda: anyio.run(_jobs, args, out),
        "providers": lambda: _providers(args, out),
        "sandbox": lambda: anyio.run(_serve, args, out),
        "batch": lambda: _batch.main(args, out, err, partial(_client_for, recover=True)),
        "dashboard": lambda: _dashboard(args, out, err),
        "worker": lambda: _worker_command.run_command(args, out),
        "new-provider": lambda: _new_provider(args, out),
    }
    return handlers[args.command]()


def _to_json(value: Any) -> Any:
    return converter.unstructure(value)


# -- connecting -----------------------------------------------------------------------------


def _client_for(
    args: argparse.Namespace,
    err: TextIO,
    token: JobToken | None = None,
    *,
    recover: bool = False,
) -> Client:
    settings: dict[str, Any] = {}
    if getattr(args, "strict", True) is False:
        settings["strict"] = False
    target: str | None
    if args.provider:
        target = args.provider
    elif os.environ.get("COURSEGEN_URL") or os.environ.get("COURSEGEN_CONFIG"):
        target = None  # connect() reads them
    elif token is not None:
        target = _token_target(token, settings)
    else:
        default = DEFAULT_SANDBOX[args.command]
        if default not in default_registry().providers:
            raise ConfigurationError(
                f"no provider configured, and the {default} sandbox this command uses by "
                f"default is not installed: {install_command(default)} (every vendor: "
                'pip install "coursegen[all]"), or pass --provider'
            )
        target = f"sandbox+{default}://"
        print(
            f"No provider configured: using the built-in {default} sandbox (simulated, "
            "no network). Set COURSEGEN_URL or pass --provider for a real vendor.",
            file=err,
        )
        settings["speed"] = args.speed or DEFAULT_SANDBOX_SPEED
    if args.speed and "speed" not in settings:
        settings["speed"] = args.speed
    # A one-off command records its job, and leaves other processes' jobs to them; a
    # batch (`recover=True`) owns its fleet and takes up what a killed run left.
    return connect(target, store=_store_url(args), recover=recover, **settings)


def _store_url(args: argparse.Namespace) -> str:
    return args.store or os.environ.get("COURSEGEN_STORE") or default_store_url()


def _token_target(token: JobToken, settings: dict[str, Any]) -> str:
    """Where a token's job lives, as a provider URL; fills in a served sandbox's demo key."""
    if token.sandbox:
        raise ConfigurationError(
            f"{token.provider} job {token.job_id} lived in an in-process sandbox, which ended "
            "with the command that made it: nothing can follow it now. To follow jobs "
            f"across commands, serve one (coursegen sandbox serve {token.provider}) and "
            "pass --provider with the URL it prints"
        )
    if not _is_loopback(token.host):
        return token.provider  # a real vendor: its base URL and key come from settings
    # A simulator served on this machine (`coursegen sandbox serve`): its own demo key,
    # unless the environment names one.
    info = default_registry().get(token.provider)
    variable = info.adapter.env_vars.get("api_key")
    if info.sandbox is not None and not (variable and os.environ.get(variable)):
        settings["api_key"] = info.sandbox().demo_key or None
    return f"{token.provider}+{token.origin}"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


# -- output ---------------------------------------------------------------------------------


class Progress:
    """A one-line progress bar on a terminal; one line per change elsewhere."""

    width = 30

    def __init__(self, stream: TextIO, *, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.live = enabled and stream.isatty()
        self.last: str | None = None

    def show(self, snapshot: Snapshot) -> None:
        if not self.enabled:
            return
        fraction = snapshot.progress
        # A vendor that reports no progress gets an empty bar and no figure, not a guess.
        bar = ("#" * round((fraction or 0.0) * self.width)).ljust(self.width, ".")
        percent = f"{fraction:4.0%}" if fraction is not None else "  --"
        line = f"[{bar}] {percent} {snapshot.status.value} ({snapshot.vendor_status})"
        if line == self.last:
            return
        self.last = line
        if self.live:
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.live and self.last is not None:
            self.stream.write("\n")
            self.stream.flush()


def _print_course(course: Course, out: TextIO) -> None:
    out.write(f"{course.title}\n")
    if course.description:
        out.write(f"  {course.description}\n")
    facts = [
        ("id", course.id),
        ("language", course.language),
        ("format", course.format),
        ("share URL", course.share_url),
        ("preview URL", course.preview_url),
        ("public URL", course.public_url),
        ("created", course.created_at.isoformat() if course.created_at else None),
    ]
    for label, value in facts:
        if value:
            out.write(f"  {label + ':':13} {value}\n")
    for chapter in course.chapters:
        out.write(f"  {chapter.sequence}. {chapter.title}\n")
        for lesson in course.lessons:
            if lesson.chapter_title == chapter.title:
                kind = f" [{lesson.type}]" if lesson.type else ""
                out.write(f"     - {lesson.title}{kind}\n")


def _print_assessment(assessment: Assessment, out: TextIO) -> None:
    for number, question in enumerate(assessment.questions, 1):
        level = f" [{question.bloom_level.value}]" if question.bloom_level else ""
        out.write(f"{question.number or number}. {question.text}{level}\n")
        for index, option in enumerate(question.options):
            mark = "*" if index == question.correct_index else " "
            out.write(f"   {mark} {chr(ord('A') + index)}) {option}\n")
        if question.explanation:
            out.write(f"     {question.explanation}\n")
    out.writelines(f"warning: {warning}\n" for warning in assessment.warnings)


def _print_snapshot(snapshot: Snapshot, token: str, out: TextIO, *, as_json: bool) -> None:
    if as_json:
        out.write(json.dumps(_snapshot_json(snapshot, token), indent=2) + "\n")
        return
    progress = f" {snapshot.progress:.0%}" if snapshot.progress is not None else ""
    out.write(f"{snapshot.provider} job {snapshot.job_id}: {snapshot.status.value}{progress}")
    out.write(f" (vendor: {snapshot.vendor_status})\n")
    if snapshot.error:
        code = f" [{snapshot.error.code}]" if snapshot.error.code else ""
        out.write(f"  error{code}: {snapshot.error.message}\n")
    if snapshot.cost:
        out.write(f"  cost: {snapshot.cost.amount} {snapshot.cost.currency}\n")
    out.write(f"  token: {token}\n")


def _snapshot_json(snapshot: Snapshot, token: str) -> dict[str, Any]:
    data = _to_json(snapshot)
    data.pop("raw", None)
    data["token"] = token
    return dict(data)


# -- commands -------------------------------------------------------------------------------


def _parse_extra(pairs: Sequence[str]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"--extra takes KEY=VALUE, not {pair!r}")
        try:
            extra[key] = json.loads(value)
        except json.JSONDecodeError:
            extra[key] = value
    return extra


def _parse_bloom(pairs: Sequence[str]) -> dict[BloomLevel, int]:
    mix: dict[BloomLevel, int] = {}
    for pair in pairs:
        level, sep, count = pair.partition("=")
        try:
            mix[BloomLevel(level.strip().lower())] = int(count)
        except ValueError:
            levels = ", ".join(level.value for level in BloomLevel)
            raise ConfigurationError(
                f"--bloom takes LEVEL=N with LEVEL one of {levels}, not {pair!r}"
            ) from None
        if not sep:
            raise ConfigurationError(f"--bloom takes LEVEL=N, not {pair!r}")
    return mix


def _request(args: argparse.Namespace, provider: str, kinds: frozenset[type]) -> Request:
    """The request the command line describes, of the kind the provider makes."""
    if kinds and args.command == "generate" and CourseRequest not in kinds:
        raise ConfigurationError(
            f"{provider} makes assessments, not courses: use `coursegen assess`"
        )
    if kinds and args.command == "assess" and AssessmentRequest not in kinds:
        raise ConfigurationError(
            f"{provider} makes courses, not assessments: use `coursegen generate`"
        )
    if args.command == "assess":  # its parser has no course options to refuse
        return AssessmentRequest(
            topic=args.subject,
            collection=args.collection,
            source=args.source,
            bloom_mix=_parse_bloom(args.bloom),
            callback_url=args.callback_url,
            idempotency_key=args.idempotency_key,
            extra=_parse_extra(args.extra),
        )
    if args.collection or args.source or args.bloom:
        raise ConfigurationError(
            "--collection, --source and --bloom are for assessments: use `coursegen assess`"
        )
    return CourseRequest(
        subject=args.subject,
        language=args.language,
        format=args.format,
        outline=tuple(args.outline),
        add_ons=frozenset(args.add_ons),
        level=args.level,
        lesson_count=args.lesson_count,
        title=args.title,
        description=args.description,
        callback_url=args.callback_url,
        idempotency_key=args.idempotency_key,
        extra=_parse_extra(args.extra),
    )


def _check_source(source: str | None) -> None:
    """A --source that is no file fails before anything starts, naming the path once."""
    if source is None or Path(source).is_file():
        return
    what = "is a directory, not a file" if Path(source).is_dir() else "does not exist"
    raise ConfigurationError(f"--source {source}: {what}")


async def _generate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _check_source(args.source)
    async with _client_for(args, err) as client:
        request = _request(args, client.provider, client.capabilities.request_kinds)
        demo = client.sandbox.demo_collection if client.sandbox is not None else None
        if isinstance(request, AssessmentRequest) and not (request.collection or request.source):
            if demo is None:
                raise ConfigurationError("an assessment needs --collection NAME or --source FILE")
            err.write(f"No --collection or --source: using the sandbox's collection {demo}.\n")
            request = attrs.evolve(request, collection=demo)
        with warnings.catch_warnings(record=True) as dropped:
            warnings.simplefilter("always", UnsupportedFeatureWarning)
            job = await client.submit(request)
        err.writelines(f"coursegen: warning: {warning.message}\n" for warning in dropped)
        if not args.json:
            err.write(f"Submitted {client.provider} job {job.id}\n")
        if args.no_wait:
            _print_snapshot(job.snapshot, job.token, out, as_json=args.json)
            return EXIT_OK
        return await _follow(local(job), args, out, err)


async def _follow(job: Job, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    progress = Progress(err, enabled=not (args.quiet or args.json))
    try:
        with anyio.fail_after(args.timeout) if args.timeout else contextlib.nullcontext():
            async for snapshot in job.watch():
                progress.show(snapshot)
    except TimeoutError:
        progress.done()
        err.write(f"Still running after {args.timeout:g} s; follow it with:\n")
        err.write(f"  coursegen wait {job.token}\n")
        return EXIT_JOB_FAILED
    progress.done()
    return _print_outcome(job.snapshot, job.token, args, out, err)


def _print_outcome(
    snapshot: Snapshot, token: str, args: argparse.Namespace, out: TextIO, err: TextIO
) -> int:
    """A job's end: its result (or why there is none), and the exit code for it."""
    if args.json:
        _print_snapshot(snapshot, token, out, as_json=True)
        return EXIT_OK if snapshot.status is JobStatus.SUCCEEDED else EXIT_JOB_FAILED
    result = snapshot.result
    if snapshot.status is not JobStatus.SUCCEEDED or result is None:
        why = snapshot.error.message if snapshot.error else "no reason given"
        err.write(f"{snapshot.provider} job {snapshot.job_id} {snapshot.status.value}: {why}\n")
        return EXIT_JOB_FAILED
    if isinstance(result, Course):
        _print_course(result, out)
    else:
        _print_assessment(result, out)
    if snapshot.cost:
        out.write(f"  {'cost:':13} {snapshot.cost.amount} {snapshot.cost.currency}\n")
    out.write(f"  {'token:':13} {token}\n")
    return EXIT_OK


async def _token(args: argparse.Namespace) -> str:
    """The token the argument is, or the token of the stored job whose id it is."""
    if args.token.startswith("cg1."):
        return str(args.token)
    async with open_store(_store_url(args)) as store:
        found = await store.lookup(args.token)
    if not found:
        raise ConfigurationError(
            f"no job {args.token!r} in the job store, and it is not a job token (cg1....)"
        )
    record = found[0]
    if record.token is None:
        raise ConfigurationError(
            f"job {args.token!r} has no vendor id: its create is {record.state.value}"
            + (f" ({record.last_error})" if record.last_error else "")
        )
    return record.token


async def _ended_in_a_sandbox(args: argparse.Namespace, token: JobToken) -> Snapshot | None:
    """The stored end of a job an in-process sandbox ran, if the store has it: such a job
    can be shown from the store, never followed (its sandbox ended with its command)."""
    if not token.sandbox or args.provider:
        return None
    try:
        async with open_store(_store_url(args)) as store:
            record = await store.find(token.provider, SANDBOX_ENDPOINT + token.host, token.job_id)
    except StoreError:
        return None  # no store to read: say the job cannot be followed, as without one
    snapshot = record.snapshot if record is not None else None
    return snapshot if snapshot is not None and snapshot.status.is_terminal else None


async def _status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    text = await _token(args)
    token = JobToken.decode(text)
    ended = await _ended_in_a_sandbox(args, token)
    if ended is not None:
        _print_snapshot(ended, text, out, as_json=args.json)
        return EXIT_OK
    async with _client_for(args, err, token) as client:
        job = await client.resume(text)
        _print_snapshot(job.snapshot, job.token, out, as_json=args.json)
    return EXIT_OK


async def _wait(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    text = await _token(args)
    token = JobToken.decode(text)
    ended = await _ended_in_a_sandbox(args, token)
    if ended is not None:
        return _print_outcome(ended, text, args, out, err)
    async with _client_for(args, err, token) as client:
        job = await client.resume(text)
        return await _follow(job, args, out, err)


def _age(record: JobRecord) -> str:
    seconds = max((datetime.now(UTC) - record.created_at).total_seconds(), 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit}"
    return f"{seconds:.0f}s"


async def _jobs(args: argparse.Namespace, out: TextIO) -> int:
    async with open_store(_store_url(args)) as store:
        records = await store.jobs(provider=args.provider, status=args.status, limit=args.limit)
    if args.json:
        data = [
            {
                "id": record.id,
                "job_id": record.job_id,
                "provider": record.provider,
                "state": record.state.value,
                "status": record.status.value if record.status else None,
                "title": record.title,
                "created_at": record.created_at.isoformat(),
                "following": record.following,
                "last_error": record.last_error,
                "token": record.token,
            }
            for record in records
        ]
        out.write(json.dumps(data, indent=2) + "\n")
        return EXIT_OK
    if not records:
        out.write("No jobs in the store.\n")
        return EXIT_OK
    out.write(f"{'ID':32}  {'STATUS':10} {'PROVIDER':15} {'AGE':>4}  TITLE\n")
    for record in records:
        status = record.status.value if record.status else record.state.value
        out.write(
            f"{record.job_id or record.id:32.32}  {status:10} {record.provider:15} "
            f"{_age(record):>4}  {record.title or ''}\n"
        )
    return EXIT_OK


def _providers(args: argparse.Namespace, out: TextIO) -> int:
    registry = default_registry()
    providers = registry.providers
    failures = registry.failures
    if args.json:
        data = {
            "providers": [
                {
                    "name": info.name,
                    "plugin": info.plugin,
                    "version": info.version,
                    "sandbox": info.sandbox is not None,
                    "capabilities": _capabilities_json(info.adapter),
                }
                for info in providers.values()
            ],
            "failures": [{"plugin": f.plugin, "error": f.error} for f in failures],
        }
        out.write(json.dumps(data, indent=2) + "\n")
        return EXIT_BROKEN_PLUGIN if args.check and failures else EXIT_OK
    if not providers:
        out.write('No providers installed: pip install "coursegen[all]" installs every vendor.\n')
    for info in sorted(providers.values(), key=lambda i: i.name):
        caps = info.adapter.capabilities
        version = f" {info.version}" if info.version else ""
        out.write(f"{info.name}  (plugin {info.plugin}{version})\n")
        kinds = ", ".join(sorted(k.__name__ for k in caps.request_kinds)) or "-"
        out.write(f"  makes:     {kinds}\n")
        out.write(f"  base URL:  {info.adapter.default_base_url}\n")
        features = [
            name
            for name, on in (
                ("progress", caps.progress),
                ("cost", caps.cost),
                ("webhooks" + (" (signed)" if caps.signed_webhooks else ""), caps.webhooks),
                ("idempotent submit", caps.idempotent_submit),
                ("public pages", caps.public_pages),
                ("sandbox", info.sandbox is not None),
            )
            if on
        ]
        if caps.export_formats:
            features.append("export " + "/".join(caps.export_formats))
        out.write(f"  features:  {', '.join(features) or '-'}\n")
    out.writelines(f"BROKEN plugin {failure.plugin}: {failure.error}\n" for failure in failures)
    return EXIT_BROKEN_PLUGIN if args.check and failures else EXIT_OK


def _capabilities_json(adapter: type[Any]) -> dict[str, Any]:
    caps = adapter.capabilities
    data = _to_json(caps)
    data["request_kinds"] = sorted(k.__name__ for k in caps.request_kinds)
    data["request_fields"] = sorted(caps.request_fields)
    return dict(data)


async def _serve(args: argparse.Namespace, out: TextIO) -> int:
    from .sandbox import serve  # noqa: PLC0415 - Starlette and uvicorn only when serving

    info = default_registry().get(args.vendor)
    if info.sandbox is None:
        raise ConfigurationError(f"provider {args.vendor!r} ships no sandbox simulator")
    try:
        import uvicorn  # noqa: F401, PLC0415 - only to say, before starting, that it is missing
    except ImportError:
        raise ConfigurationError(
            'serving a sandbox needs uvicorn: pip install "coursegen[serve]"'
        ) from None
    simulator = info.sandbox(speed=args.speed)
    simulator.faults.latency = args.latency
    async with simulator, serve(simulator, host=args.host, port=args.port) as url:
        out.write(f"{args.vendor} sandbox on {url} (speed {args.speed:g}x); key: ")
        out.write(f"{simulator.demo_key}\n")
        scheme = "http"
        out.write(f"Connect with: {args.vendor}+{scheme}://{simulator.demo_key}@")
        out.write(f"{str(url).split('://', 1)[1]}\n")
        out.flush()
        await anyio.sleep_forever()
    return EXIT_OK


def _new_provider(args: argparse.Namespace, out: TextIO) -> int:
    """Write the template package and say what to do next."""
    target = new_provider(args.name, args.dir)
    print(f"wrote the coursegen-{args.name} provider in {target}", file=out)
    print(f'next: pip install -e "{target}[testing]" && pytest {target / "tests"}', file=out)
    return EXIT_OK


def _dashboard(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .dashboard._command import run_command  # noqa: PLC0415 - Starlette only when used

    try:
        return anyio.run(run_command, args, out, err, _client_for, _store_url)
    except KeyboardInterrupt:
        return EXIT_OK
