"""`CourseJob`, the neutral handle users hold, and `Job`, its one implementation."""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import anyio
import attrs

from ._errors import ConfigurationError, CourseGenError, JobExpired, JobFailed, JobTimeout
from ._models import JobStatus, Result, Snapshot

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ._engine import Engine, Tracked

__all__ = ["CourseJob", "Job", "JobToken"]

_TOKEN_PREFIX = "cg1."  # noqa: S105 - a format marker, not a secret
SANDBOX_ENDPOINT = "sandbox:"
"""The prefix of a store endpoint whose jobs lived in an in-process sandbox."""
DEFAULT = object()
"""`timeout=DEFAULT` means the provider's own job timeout (its `PollPolicy.job_timeout`)."""


def origin(scheme: str, host: str, port: int | None) -> str:
    """`scheme://host[:port]`, an IPv6 host in brackets."""
    bracketed = f"[{host}]" if ":" in host else host
    return f"{scheme}://{bracketed}" + (f":{port}" if port else "")


@attrs.frozen
class JobToken:
    """What a token carries: enough to find the job again, never a credential.

    It names the endpoint the job lives at (scheme, host, port) and whether that was an
    in-process sandbox, so `coursegen status TOKEN` can find it with nothing else, or say
    why it cannot. Tokens written before these fields existed read as https, default port.
    """

    provider: str
    job_id: str
    host: str
    scheme: str = "https"
    port: int | None = None
    sandbox: bool = False

    @property
    def origin(self) -> str:
        """`scheme://host[:port]`: where the job's vendor (or simulator) answers."""
        return origin(self.scheme, self.host, self.port)

    def encode(self) -> str:
        data: dict[str, object] = {"p": self.provider, "j": self.job_id, "h": self.host}
        data["s"] = self.scheme
        if self.port is not None:
            data["o"] = self.port
        if self.sandbox:
            data["x"] = True
        payload = json.dumps(data).encode()
        return _TOKEN_PREFIX + base64.urlsafe_b64encode(payload).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> JobToken:
        if not token.startswith(_TOKEN_PREFIX):
            raise ConfigurationError("not a coursegen job token (they start with 'cg1.')")
        body = token[len(_TOKEN_PREFIX) :]
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            port = data.get("o")
            return cls(
                provider=data["p"],
                job_id=data["j"],
                host=data["h"],
                scheme=data.get("s", "https"),
                port=None if port is None else int(port),
                sandbox=bool(data.get("x", False)),
            )
        except (binascii.Error, ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError("the job token is damaged and cannot be read") from exc


@runtime_checkable
class CourseJob(Protocol):
    """A job at a vendor, followed to its end. Type your code against this, not `Job`."""

    @property
    def id(self) -> str:
        """The vendor's id of the job."""
        ...

    @property
    def provider(self) -> str:
        """The name of the provider running the job."""
        ...

    @property
    def snapshot(self) -> Snapshot:
        """The latest snapshot, read without a request."""
        ...

    @property
    def token(self) -> str:
        """A string that resumes the job in another process (`Client.resume`)."""
        ...

    async def refresh(self) -> Snapshot:
        """Ask the vendor now, and return the job's new snapshot."""
        ...

    async def wait(self, timeout: float | object | None = DEFAULT) -> Snapshot:
        """The terminal snapshot, once the job ends; `JobTimeout` after `timeout` seconds."""
        ...

    async def result(self, timeout: float | object | None = DEFAULT) -> Result:
        """The `Course` or `Assessment`; `JobFailed`, `JobExpired` or `JobTimeout` else."""
        ...

    def watch(self) -> AsyncIterator[Snapshot]:
        """Every change of the job's snapshot, until it ends."""
        ...


class Job:
    """The handle of one job in one client. Cheap: the engine owns the state."""

    __slots__ = ("_engine", "_tracked")

    def __init__(self, engine: Engine, tracked: Tracked) -> None:
        self._engine = engine
        self._tracked = tracked

    def __repr__(self) -> str:
        snap = self._tracked.snapshot
        return f"<Job {self.provider}:{self.id} {snap.status.value}>"

    @property
    def id(self) -> str:
        """The vendor's id of the job."""
        return self._tracked.job_id

    @property
    def provider(self) -> str:
        """The name of the provider running the job."""
        return self._tracked.runtime.name

    @property
    def snapshot(self) -> Snapshot:
        """The latest snapshot; no request is sent to read it."""
        return self._tracked.snapshot

    @property
    def token(self) -> str:
        """Resume this job elsewhere with `Client.resume(token)`; it holds no secret."""
        return self._tracked.runtime.token(self.id)

    @property
    def following(self) -> bool:
        """True while the client follows the job to its end (without anyone waiting):
        False once it ended, or outlived its deadline (`PollPolicy.job_timeout`), unless
        a `wait(timeout=None)` is on it: that keeps it followed past the deadline."""
        return self._tracked.following

    @property
    def last_error(self) -> CourseGenError | None:
        """Why the last poll failed, while polls fail (an outage); None once one succeeds.
        Following goes on meanwhile, with backoff.

        Past the job's deadline, while a `wait(timeout=None)` keeps it followed, a
        `JobTimeout` saying so (the vendor still answers "running"; polls back off)."""
        return self._tracked.last_error

    async def refresh(self) -> Snapshot:
        """Ask the vendor now (as soon as its per-job floor allows) and return the answer."""
        tracked = self._tracked
        if tracked.snapshot.status.is_terminal:
            return tracked.snapshot
        changed = tracked.changed
        seen, failures = tracked.last_polled, tracked.failures
        with self._engine.interest(tracked, now_ok=True):
            # Until an answer, or this one ask failing (an outage included: a refresh
            # is one question, and its answer is the failure).
            while tracked.last_polled == seen and tracked.failures == failures:
                if tracked.error is not None:
                    break
                await changed.wait()
                changed = tracked.changed
        failed = tracked.error or (tracked.last_error if tracked.last_polled == seen else None)
        if failed is not None:
            raise failed
        return tracked.snapshot

    async def wait(self, timeout: float | object | None = DEFAULT) -> Snapshot:
        """Wait until the job ends and return its last snapshot, whatever the outcome.

        `timeout` is in seconds (None: no deadline; default: the provider's job timeout).
        On the deadline it raises `JobTimeout`; the job itself goes on at the vendor.
        With None, a job that outlives its own deadline (`PollPolicy.job_timeout`) is
        still followed, at a backed-off cadence, and `following`/`last_error` say so.
        A vendor outage (network faults, 5xx, 429 past a poll's retries) is waited out:
        `last_error` says what fails meanwhile, and `JobTimeout` carries it as its cause.
        Any other poll failure (a revoked key, an unreadable answer) is raised at once.
        """
        tracked = self._tracked
        seconds = self._deadline(timeout)
        try:
            patient = math.isinf(seconds)
            with anyio.fail_after(seconds), self._engine.interest(tracked, patient=patient):
                while not tracked.snapshot.status.is_terminal:
                    await tracked.until_settled().wait()
                    if tracked.error is not None and not tracked.snapshot.status.is_terminal:
                        raise tracked.error
        except TimeoutError:
            failing = tracked.last_error
            why = (
                f"; its polls have failed since the vendor stopped answering "
                f"({type(failing).__name__}: {failing})"
                if failing is not None
                else ""
            )
            raise JobTimeout(
                f"{self.provider} job {self.id} did not end within {seconds:g} s "
                f"(last seen {tracked.snapshot.status.value}){why}; it goes on at the "
                "vendor: resume it later with its token",
                snapshot=tracked.snapshot,
                token=self.token,
            ) from failing
        return tracked.snapshot

    async def result(self, timeout: float | object | None = DEFAULT) -> Result:
        """Wait for the job and return its result, or raise why there is none.

        Raises `JobFailed` (failed or cancelled, `.snapshot.error` says why),
        `JobExpired` (the result was not fetched in time) or `JobTimeout`.
        """
        snapshot = await self.wait(timeout)
        return self._outcome(snapshot)

    async def watch(self) -> AsyncIterator[Snapshot]:
        """Yield the job's snapshot each time it changes, ending with the terminal one.

        A consumer slower than the vendor sees the latest state, not every step between,
        except the end of each stage of a staged job (a PDF chunked), which it always sees.
        To stop early, iterate inside `contextlib.aclosing(job.watch())`, so that the job
        stops being polled on your behalf at once rather than when the iterator is
        collected.
        """
        tracked = self._tracked
        seen: Snapshot | None = None
        ends = len(tracked.stage_ends)
        with self._engine.interest(tracked):
            while True:
                changed = tracked.changed
                # A staged job's stage that ended while we slept is a step shown too.
                for ended in tracked.stage_ends[ends:]:
                    ends += 1
                    if not ended.same_state(seen):
                        seen = ended
                        yield ended
                snapshot = tracked.snapshot
                if not snapshot.same_state(seen):
                    seen = snapshot
                    yield snapshot
                if snapshot.status.is_terminal:
                    return
                if tracked.error is not None:
                    raise tracked.error
                await changed.wait()

    def _deadline(self, timeout: float | object | None) -> float:
        if timeout is DEFAULT:
            runtime = self._tracked.runtime
            return runtime.to_loop(runtime.policy.job_timeout)
        if timeout is None:
            return float("inf")
        if isinstance(timeout, int | float):
            return float(timeout)
        raise TypeError(f"timeout must be seconds or None, not {type(timeout).__name__}")

    def _outcome(self, snapshot: Snapshot) -> Result:
        if snapshot.status is JobStatus.SUCCEEDED and snapshot.result is not None:
            return snapshot.result
        why = snapshot.error.message if snapshot.error else "no reason given"
        if snapshot.status is JobStatus.EXPIRED:
            raise JobExpired(
                f"{self.provider} job {self.id} expired: {why}",
                snapshot=snapshot,
                token=self.token,
            )
        raise JobFailed(
            f"{self.provider} job {self.id} {snapshot.status.value}: {why}",
            snapshot=snapshot,
            token=self.token,
        )
