"""The `coursegen` command: generate a course or an assessment, follow a job, list jobs and
providers, serve a sandbox.

Every job is recorded in a job store: `--store URL`, else `COURSEGEN_STORE`, else a SQLite
file in the user's data folder (`coursegen.store.default_store_url`). `jobs` lists it;
`status` and `wait` take a job's id from it as well as a token.

With no provider configured, `generate` runs on the built-in LearningStudioAI sandbox and
says so in one line: the first run needs no key and no network. Exit codes are stable and
listed in `coursegen --help` (`EXIT_CODES`).

This module is the grammar and the error report; what each command does is in
`_commands` (and `_batch`, `_worker_command`, `dashboard`), imported once a command has
parsed, so that `--help` and a usage error load no HTTP client, store or event loop.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeVar

from ._errors import (
    ConfigurationError,
    CourseGenError,
    ProviderError,
    UnsupportedFeature,
)
from ._exit import (
    BATCH_EXIT_CODES,
    EXIT_BROKEN_PIPE,
    EXIT_BROKEN_PLUGIN,
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_PROVIDER,
    EXIT_USAGE,
)
from ._models import JobStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["main"]

_T = TypeVar("_T")


# -- parsing --------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coursegen",
        description="Generate courses and assessments with any vendor, through one protocol.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="show program's version number and exit"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    generate = commands.add_parser("generate", help="generate a course and print it")
    generate.add_argument("subject", help="what the course is about")
    _add_provider_options(generate)
    generate.add_argument("--language", help="locale, e.g. en-US or pt-BR")
    generate.add_argument("--format", help="layout, e.g. onepage or classic")
    generate.add_argument(
        "--outline",
        action="append",
        default=[],
        metavar="CHAPTER",
        help="a chapter title (repeat for each chapter)",
    )
    generate.add_argument(
        "--add-on",
        action="append",
        default=[],
        dest="add_ons",
        metavar="NAME",
        help="an extra content block, e.g. assessment (repeatable)",
    )
    generate.add_argument("--level", help="beginner, intermediate or advanced")
    generate.add_argument("--lessons", type=int, dest="lesson_count", help="number of lessons")
    generate.add_argument("--title", help="course title, where the vendor takes one")
    generate.add_argument("--description", help="course description, where the vendor takes one")
    generate.add_argument("--callback-url", help="HTTPS URL the vendor calls when done")
    generate.add_argument("--idempotency-key", help="deduplicates the create at the vendor")
    generate.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a vendor field passed through unchanged (VALUE parsed as JSON if it can be)",
    )
    generate.add_argument("--no-wait", action="store_true", help="print the job token and stop")
    _add_strict_option(generate)
    _add_assessment_options(generate)
    _add_wait_options(generate)

    assess = commands.add_parser(
        "assess", help="generate an assessment (multiple-choice questions) and print it"
    )
    assess.add_argument("subject", metavar="topic", help="what the questions are about")
    _add_provider_options(assess)
    _add_assessment_options(assess)
    assess.add_argument("--callback-url", help="URL the vendor calls when done")
    assess.add_argument("--idempotency-key", help="deduplicates the create at the vendor")
    assess.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a vendor field passed through unchanged (VALUE parsed as JSON if it can be)",
    )
    assess.add_argument("--no-wait", action="store_true", help="print the job token and stop")
    _add_strict_option(assess)
    _add_wait_options(assess)

    status = commands.add_parser("status", help="show a job's current state")
    status.add_argument("token", help="the job token printed by generate, or the job's id")
    _add_provider_options(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")

    wait = commands.add_parser("wait", help="wait for a job to end and print its result")
    wait.add_argument("token", help="the job token printed by generate, or the job's id")
    _add_provider_options(wait)
    _add_wait_options(wait)

    _add_store_commands(commands, generate, assess, status, wait)

    providers = commands.add_parser("providers", help="list installed providers and plugin errors")
    providers.add_argument("--json", action="store_true", help="machine-readable output")
    providers.add_argument(
        "--check",
        action="store_true",
        help=f"exit {EXIT_BROKEN_PLUGIN} if any plugin failed to load (for CI and install checks)",
    )

    new = commands.add_parser(
        "new-provider", help="write a provider package that passes the contract, to start from"
    )
    new.add_argument("name", help="the provider's name: lowercase letters and digits")
    new.add_argument(
        "--dir", type=Path, default=None, help="where to write it (default: ./coursegen-NAME)"
    )

    _add_batch_parser(commands)
    _add_dashboard_parser(commands)
    _add_sandbox_commands(commands)
    return parser


def _add_sandbox_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`sandbox serve VENDOR`: a simulator on loopback."""
    sandbox = commands.add_parser("sandbox", help="run a vendor simulator")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True)
    serve = sandbox_commands.add_parser("serve", help="serve a simulator on loopback")
    serve.add_argument("vendor", help="provider name, e.g. learningstudio")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, loopback)"
    )
    serve.add_argument(
        "--port", type=_port, default=8000, help="TCP port to listen on; 0 picks a free one"
    )
    serve.add_argument(
        "--speed", type=_positive, default=1.0, help="vendor seconds per real second (default 1)"
    )
    serve.add_argument(
        "--latency", type=float, default=0.0, help="vendor seconds added before each answer"
    )


def _read(text: str, kind: Callable[[str], _T], what: str) -> _T:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def _positive(text: str) -> float:
    """argparse type: a number above zero (a speed, a timeout)."""
    value = _read(text, float, "a number")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def _port(text: str) -> int:
    """argparse type: a TCP port (0: any free one)."""
    value = _read(text, int, "a port number")
    if not 0 <= value <= 65535:  # noqa: PLR2004 - the TCP port range
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {value}")
    return value


def _add_strict_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-strict",
        dest="strict",
        action="store_false",
        help="drop the options this provider cannot honour, with a warning, instead of failing",
    )


def _add_store_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    *recording: argparse.ArgumentParser,
) -> None:
    """`jobs`, and `--store` on every command that records or reads jobs."""
    _add_worker_parser(commands)
    jobs = commands.add_parser("jobs", help="list the jobs in the job store")
    jobs.add_argument("--status", choices=[status.value for status in JobStatus])
    jobs.add_argument("--provider", help="only this provider's jobs (a name)")
    jobs.add_argument("--limit", type=int, default=50, help="at most this many, newest first")
    jobs.add_argument("--json", action="store_true", help="machine-readable output")
    for command in (*recording, jobs):
        command.add_argument(
            "--store", help="job store URL (default: COURSEGEN_STORE, else the data folder)"
        )


def _add_provider_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--provider",
        help="provider name or URL (default: COURSEGEN_URL, else the built-in sandbox)",
    )
    parser.add_argument(
        "--speed", type=_positive, help="sandbox only: vendor seconds per real second"
    )


def _add_assessment_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("assessments (providers that make them)")
    group.add_argument("--collection", help="the vendor's document collection to draw from")
    group.add_argument("--source", metavar="PATH", help="a document (PDF) to draw from")
    group.add_argument(
        "--bloom",
        action="append",
        default=[],
        metavar="LEVEL=N",
        help="questions per Bloom level, e.g. --bloom remember=5 --bloom apply=3",
    )


def _add_wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout", type=_positive, help="seconds to wait (default: until the job ends)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


class _VersionAction(argparse.Action):
    """`--version`, reading the installed version only when asked: finding it loads
    `importlib.metadata` (zip files, e-mail parsing), which `--help` has no use for."""

    def __init__(
        self,
        option_strings: Sequence[str],
        dest: str,
        help: str | None = None,  # noqa: A002 - the keyword argparse passes
    ) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from . import __version__  # noqa: PLC0415 - avoids a cycle at import time

        sys.stdout.write(f"{parser.prog} {__version__}\n")  # where argparse prints it
        parser.exit()


def _add_batch_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `coursegen batch` on the CLI's subcommands."""
    codes = "\n".join(f"  {code:<4} {meaning}" for code, meaning in BATCH_EXIT_CODES.items())
    batch = commands.add_parser(
        "batch",
        help="generate a whole catalogue: one request per line or row of a file",
        description=(
            "Submit every request of FILE through one client (one rate budget per key), "
            "follow them all, and write each outcome as it arrives. FILE is a text file "
            "(one subject per line), a CSV file with a header, or JSONL; columns are "
            "request fields: subject, language, format, outline, add_ons, level, lessons, "
            "title, description; topic, collection, bloom for assessments. In CSV, a list "
            "(outline, add_ons, bloom) is separated by '|': 'remember=5|apply=3'."
        ),
        epilog="exit status:\n" + codes,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    batch.add_argument("file", type=Path, help="the catalogue: .txt, .csv or .jsonl")
    _add_provider_options(batch)
    batch.add_argument("--out", type=Path, help="append each outcome to this JSONL file")
    batch.add_argument(
        "--store",
        help="job store URL a rerun resumes from (default: COURSEGEN_STORE, else the data folder)",
    )
    batch.add_argument(
        "--batch-id", help="the batch's name in the store (default: from the file's path)"
    )
    batch.add_argument(
        "--timeout", type=float, help="seconds to follow each job (default: vendor's)"
    )
    batch.add_argument("--json", action="store_true", help="JSON progress lines on stdout")
    batch.add_argument("--quiet", action="store_true", help="no progress display")


def _add_dashboard_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `coursegen dashboard` on the CLI's subcommands."""
    dashboard = commands.add_parser(
        "dashboard",
        help="watch the fleet on a web page (jobs, failures, budgets, ETA)",
        description=(
            "Serve the dashboard over a job store: jobs by status, each job's timeline "
            "and result, failures with their typed error, each rate budget's use and "
            "429s, and each batch's ETA. Read-only, except retrying a failed job, which "
            "needs --provider (the vendor to submit it to)."
        ),
    )
    dashboard.add_argument(
        "--store", help="job store URL (default: COURSEGEN_STORE, else the data folder)"
    )
    dashboard.add_argument("--host", default="127.0.0.1", help="default: loopback only")
    dashboard.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    dashboard.add_argument("--refresh", type=float, default=5.0, help="seconds between updates")
    _add_provider_options(dashboard)


def _add_worker_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`coursegen worker` (see `coursegen._worker_command`)."""
    worker = commands.add_parser(
        "worker", help="run a worker of a fleet on PostgreSQL (needs coursegen[fleet])"
    )
    worker.add_argument("--store", help="the fleet's store (default: COURSEGEN_STORE)")
    worker.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME",
        help="a key this worker may own; its URL is in COURSEGEN_TARGET_<NAME> (repeatable)",
    )
    worker.add_argument("--concurrency", type=int, default=10, help="scopes owned at once")
    worker.add_argument("--heartbeat", type=float, default=2.0, help="seconds between beats")
    worker.add_argument(
        "--stalled-after", type=float, default=6.0, help="seconds without a beat: stalled"
    )
    worker.add_argument("--grace", type=float, default=10.0, help="seconds a handover waits")
    worker.add_argument(
        "--db-timeout",
        type=float,
        default=5.0,
        help="seconds a statement waits for a database connection before it fails",
    )
    worker.add_argument("--speed", type=float, default=None, help="a served sandbox's speed")


# -- entry point ----------------------------------------------------------------------------


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the command line; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(argv)
    try:
        try:
            from . import _commands  # noqa: PLC0415 - the heavy part, only once a command runs

            code = _commands.run(args, out, err)
            out.flush()  # a closed pipe shows here, not in the interpreter's exit
        except BaseExceptionGroup as group:
            raise _single_error(group) from None
    except (CourseGenError, BrokenPipeError, KeyboardInterrupt) as exc:
        return _report(exc, out, err)
    return code


def _report(exc: BaseException, out: TextIO, err: TextIO) -> int:
    """Say what went wrong in one line, and return the exit code for it (`EXIT_CODES`)."""
    code, message = EXIT_PROVIDER, f"{type(exc).__name__}: {exc}"
    if isinstance(exc, UnsupportedFeature):
        code, message = EXIT_USAGE, _unsupported_message(exc)
    elif isinstance(exc, ConfigurationError):
        code, message = EXIT_USAGE, str(exc)
    elif isinstance(exc, ProviderError) and exc.provider == "coursegen":
        # Input found invalid before sending is ours to word: no provider prefix.
        code, message = EXIT_USAGE, exc.message
    elif isinstance(exc, ProviderError):
        message = str(exc)
    elif isinstance(exc, BrokenPipeError):
        _quiet_stdout(out)
        return EXIT_BROKEN_PIPE
    elif isinstance(exc, KeyboardInterrupt):
        err.write("\ncoursegen: interrupted\n")
        return EXIT_INTERRUPTED
    err.write(f"coursegen: {message}\n")
    return code


def _single_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error a task group wrapped (a failed start of a sandbox, say), else the group."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop()
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        else:
            leaves.append(exc)
    return leaves[0] if len(leaves) == 1 else group


def _unsupported_message(exc: UnsupportedFeature) -> str:
    if not exc.droppable:
        return str(exc)
    return (
        f"{exc.provider} does not support {', '.join(exc.fields)}: leave "
        f"{'it' if len(exc.fields) == 1 else 'them'} out, or pass --no-strict to drop "
        "such options with a warning"
    )


def _quiet_stdout(out: TextIO) -> None:
    """After a closed pipe, point stdout at /dev/null so the exit flush cannot fail again."""
    if out is not sys.stdout:
        return
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
