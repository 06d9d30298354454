"""A throwaway provider for core tests: a vendor whose jobs end after a set number of polls.

Registered through the hook like any plugin, never installed. Its "vendor" is a respx
router, so each test states exactly what the vendor answers.
"""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any, ClassVar, Self

import anyio
import httpx
import respx

import coursegen
from coursegen import (
    Capabilities,
    Course,
    CourseRequest,
    JobErrorInfo,
    JobStatus,
    MalformedResponse,
    Operation,
    PollPolicy,
    ProviderError,
    RateLimit,
    RateLimitState,
    Settings,
    Snapshot,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

BASE = "https://toy.example"
STATUSES = {
    "queued": JobStatus.PENDING,
    "working": JobStatus.RUNNING,
    "done": JobStatus.SUCCEEDED,
    "broken": JobStatus.FAILED,
}


class Toy:
    name: ClassVar[str] = "toy"
    default_base_url: ClassVar[str] = BASE
    env_vars: ClassVar[Mapping[str, str]] = {"api_key": "TOY_KEY"}
    option_names: ClassVar[frozenset[str]] = frozenset({"tier", "region"})
    capabilities: ClassVar[Capabilities] = Capabilities(
        request_kinds=frozenset({CourseRequest}),
        request_fields=frozenset({"subject", "extra"}),
        progress=True,
    )
    policy: ClassVar[PollPolicy] = PollPolicy(
        min_interval=5.0,
        interval=5.0,
        job_timeout=600.0,
        rate_limits={Operation.SUBMIT: RateLimit(10, 60), Operation.POLL: RateLimit(60, 60)},
    )

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        if settings.api_key is None:
            raise coursegen.ConfigurationError("toy needs TOY_KEY")
        return cls(settings)

    @property
    def rate_scope(self) -> str:
        return "k"

    def _headers(self) -> dict[str, str]:
        assert self.settings.api_key is not None
        return {"Authorization": f"Bearer {self.settings.api_key.reveal()}"}

    def submit(self, request: Any) -> httpx.Request:
        body = {"subject": request.subject, **request.extra}
        return httpx.Request(
            "POST", f"{self.settings.base_url}/jobs", json=body, headers=self._headers()
        )

    def read_submitted(self, response: httpx.Response) -> Snapshot:
        return self.read_snapshot("", response)

    def poll(self, job_id: str) -> httpx.Request:
        return httpx.Request(
            "GET", f"{self.settings.base_url}/jobs/{job_id}", headers=self._headers()
        )

    def read_snapshot(self, job_id: str, response: httpx.Response) -> Snapshot:
        try:
            data = response.json()
            status = data["status"]
        except (ValueError, KeyError) as exc:
            raise MalformedResponse("unreadable", provider="toy", raw=response.text) from exc
        result = Course(id=data["id"], title="Toy") if status == "done" else None
        error = JobErrorInfo(data.get("error", "?")) if status == "broken" else None
        return Snapshot(
            job_id=data["id"],
            provider="toy",
            status=STATUSES.get(status, JobStatus.RUNNING),
            vendor_status=status,
            progress=data.get("progress"),
            result=result,
            error=error,
            poll_after=data.get("poll_after"),
            raw=data,
        )

    def read_error(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        if status == 429:
            return coursegen.RateLimited(
                "slow down",
                provider="toy",
                status_code=status,
                raw=response.text,
                retry_after=float(response.headers["Retry-After"]),
            )
        cls = (
            coursegen.NotFound
            if status == 404
            else (coursegen.ProviderUnavailable if status >= 500 else coursegen.ProviderError)
        )
        return cls("no", provider="toy", status_code=status, raw=response.text)

    def read_rate_limit(self, response: httpx.Response) -> RateLimitState | None:
        return None


class ToyPlugin:
    @coursegen.hookimpl
    def coursegen_register_providers(self, register: coursegen.Register) -> None:
        register(Toy)


def registry() -> coursegen.Registry:
    """A registry with no installed plugins and the toy one."""
    reg = coursegen.Registry(entry_points=list, environ={})
    reg.register_plugin(ToyPlugin())
    return reg


class ToyVendor:
    """A scripted vendor: each job runs through `statuses`, one step per poll.

    `lengths` gives a job its own number of polls before it is done; `throttle_next` and
    `resets_next` make the next polls answer 429 (Retry-After: 20) or reset the connection.
    """

    def __init__(
        self,
        statuses: tuple[str, ...] = ("queued", "working", "done"),
        poll_after: float | None = None,
    ) -> None:
        self.statuses = statuses
        self.poll_after = poll_after
        self.lengths: dict[str, int] = {}
        self.jobs: dict[str, int] = {}
        self.poll_times: dict[str, list[float]] = {}
        self.all_poll_times: list[float] = []
        self.throttle_next = 0
        self.resets_next = 0
        self.ids = (f"j{n}" for n in itertools.count(1))
        self.router = respx.MockRouter(assert_all_called=False, base_url=BASE)
        self.router.post("/jobs").mock(side_effect=self._create)
        self.router.get(path__regex=r"^/jobs/(?P<job_id>[\w.]+)$").mock(side_effect=self._poll)

    def _create(self, request: httpx.Request) -> httpx.Response:
        job_id = next(self.ids)
        self.jobs[job_id] = 0
        return httpx.Response(202, json={"id": job_id, "status": self.statuses[0]})

    def _poll(self, request: httpx.Request, job_id: str) -> httpx.Response:
        now = anyio.current_time()
        self.all_poll_times.append(now)
        if self.resets_next:
            self.resets_next -= 1
            raise httpx.ReadError("connection reset by peer")
        if self.throttle_next:
            self.throttle_next -= 1
            return httpx.Response(429, headers={"Retry-After": "20"}, json={"error": "slow"})
        if job_id not in self.jobs:
            return httpx.Response(404, json={"error": "no"})
        self.poll_times.setdefault(job_id, []).append(now)
        self.jobs[job_id] += 1
        polls = self.jobs[job_id]
        if job_id in self.lengths:
            status = "done" if polls >= self.lengths[job_id] else "working"
            progress = min(polls / self.lengths[job_id], 1.0)
        else:
            step = min(polls, len(self.statuses) - 1)
            status = self.statuses[step]
            progress = step / (len(self.statuses) - 1)
        body: dict[str, Any] = {"id": job_id, "status": status, "progress": progress}
        if self.poll_after is not None:
            body["poll_after"] = self.poll_after
        return httpx.Response(200, content=json.dumps(body))

    def gaps(self, job_id: str) -> list[float]:
        """Vendor seconds between consecutive polls of one job (the client runs at speed 1)."""
        times = self.poll_times[job_id]
        return [b - a for a, b in itertools.pairwise(times)]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.router.async_handler)
