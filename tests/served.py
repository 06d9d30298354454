"""A LearningStudioAI sandbox served by its own process, and the vendor's log of it."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx


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
    assert "sandbox on http://127.0.0.1:" in first, first
    target = process.stdout.readline().split("Connect with: ", 1)[1].strip()
    return process, target


def vendor_log(target: str) -> dict[str, Any]:
    """The served sandbox's own record of every request and webhook (`/_sandbox/log`)."""
    base = "http://" + target.rsplit("@", 1)[1]
    log: dict[str, Any] = httpx.get(base + "/_sandbox/log", timeout=10).json()
    return log
