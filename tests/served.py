"""A LearningStudioAI sandbox served by its own process, the vendor's log of it, and
the stopping of any served process the tests start."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from collections.abc import Iterator


def serve_learningstudio(speed: float, latency: float = 0.0) -> tuple[subprocess.Popen[str], str]:
    """`coursegen sandbox serve learningstudio` on a free port; the process and the target
    URL to connect to. The caller terminates the process."""
    process = subprocess.Popen(  # noqa: S603 - our own module, run by our own interpreter
        [
            *(sys.executable, "-m", "coursegen", "sandbox", "serve", "learningstudio"),
            *("--port", "0", "--speed", str(speed), "--latency", str(latency)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert "learningstudio sandbox on http://127.0.0.1:" in first, first
    target = process.stdout.readline().split("Connect with: ", 1)[1].strip()
    return process, target


def vendor_log(target: str) -> dict[str, Any]:
    """The served sandbox's own record of every request and webhook (`/_sandbox/log`)."""
    base = "http://" + target.rsplit("@", 1)[1]
    log: dict[str, Any] = httpx.get(base + "/_sandbox/log", timeout=10).json()
    return log


def stop(process: subprocess.Popen[str]) -> None:
    """Terminate a served process, wait for it, and close its output pipe."""
    process.terminate()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


@contextlib.contextmanager
def learningstudio_served(speed: float, latency: float = 0.0) -> Iterator[str]:
    """`serve_learningstudio` for the length of a `with`: the target URL to connect to."""
    process, target = serve_learningstudio(speed, latency)
    try:
        yield target
    finally:
        stop(process)
