"""The sandbox toolkit, exercised through a toy vendor built on it."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio
import attrs
import httpx
import pytest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from coursegen import ConfigurationError
from coursegen.sandbox import (
    DEFAULT_EPOCH,
    VENDOR_DEFAULT,
    Faults,
    JobScript,
    RecordedRequest,
    Sandbox,
    SandboxTransport,
    serve,
)

if TYPE_CHECKING:
    from starlette.requests import Request

pytestmark = pytest.mark.anyio

KEY = "toy_secret_key_123"


class Toy(Sandbox):
    """A vendor with one create endpoint that may call back 30 s later."""

    name = "toy"
    base_url = "https://api.toy.example"
    supported_outcomes = frozenset({"succeed", "fail", "cancel"})

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.demo_key = "toy_demo"
        self.handled = 0

    def routes(self):
        return [Route("/things", self._create, methods=["POST"])]

    async def _create(self, request: Request) -> Response:
        self.handled += 1
        payload = await request.json()
        thing = {"id": "".join(self.random.choices("abcdefgh", k=8)), "at": self.vendor_now()}
        if "callback" in payload:
            self.schedule_webhook(
                payload["callback"], "thing.made", thing, due=self.vendor_now() + 30
            )
        return JSONResponse(thing, status_code=201)

    def internal_error(self, request: Request) -> Response:
        return JSONResponse({"oops": request.url.path}, status_code=500)


class RetryingToy(Toy):
    """A vendor that retries failed webhooks after 5 s and 25 s."""

    webhook_retry_delays = (5.0, 25.0)


def client_for(sandbox: Sandbox) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=sandbox.transport(),
        base_url=sandbox.base_url,
        headers={"Authorization": f"Bearer {KEY}"},
    )


class Receiver:
    """A webhook receiver: records what arrives, answers `status` after `delay` loop seconds."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.received: list[tuple[float, dict]] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.received.append((anyio.current_time(), json.loads(request.content)))
        await anyio.sleep(self.delay)
        return httpx.Response(self.status)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


# -- time -------------------------------------------------------------------------------


async def test_vendor_time_starts_on_first_use_and_scales_with_speed():
    """vendor_now() is 0 at first use, then runs `speed` times faster than the loop's clock."""
    sandbox = Toy(speed=4)
    await anyio.sleep(5)  # before first use: does not count
    assert sandbox.vendor_now() == 0
    await anyio.sleep(10)
    assert sandbox.vendor_now() == 40


async def test_wall_clock_is_epoch_plus_vendor_time():
    """wall_clock() is the fixed epoch plus vendor time, in UTC, so payloads repeat."""
    epoch = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    sandbox = Toy(epoch=epoch)
    assert sandbox.wall_clock() == epoch
    await sandbox.sleep(42)
    now = sandbox.wall_clock()
    assert now.tzinfo is not None
    assert now == epoch + timedelta(seconds=42)
    assert Toy().wall_clock(90) == DEFAULT_EPOCH + timedelta(seconds=90)


async def test_an_hour_of_vendor_time_passes_exactly_at_speed_1():
    """Sixty requests a vendor minute apart take exactly an hour of vendor time, at speed 1."""
    sandbox = Toy()
    async with client_for(sandbox) as client:
        for _ in range(60):
            assert (await client.post("/things", json={})).status_code == 201
            await sandbox.sleep(60)
    assert sandbox.vendor_now() == 3600


def test_bad_clock_settings_are_refused():
    """A non-positive speed or a naive epoch is refused at construction."""
    with pytest.raises(ValueError, match="speed"):
        Toy(speed=0)
    with pytest.raises(ValueError, match="timezone"):
        Toy(epoch=datetime(2026, 1, 1))  # noqa: DTZ001 - the naive datetime is the point


# -- transport and records ------------------------------------------------------------------


async def test_transport_serves_the_vendor_url_and_records_requests_without_keys():
    """Requests to the real base URL reach the app; the log keeps all but the credentials."""
    sandbox = Toy()
    assert isinstance(sandbox.transport(), SandboxTransport)
    async with client_for(sandbox) as client:
        response = await client.post("/things?x=1", json={"a": 1}, headers={"X-Api-Key": KEY})
    assert response.status_code == 201
    [record] = sandbox.requests
    assert isinstance(record, RecordedRequest)
    assert (record.method, record.path, record.query, record.status) == (
        "POST",
        "/things",
        "x=1",
        201,
    )
    assert record.json() == {"a": 1}
    assert record.fault is None
    assert "authorization" not in record.headers
    assert "x-api-key" not in record.headers
    assert record.headers["content-type"] == "application/json"
    assert KEY not in repr(sandbox.requests)


async def test_transport_refuses_other_hosts_like_a_dns_failure():
    """A request for another host fails with ConnectError: a wrong URL is caught, not served."""
    sandbox = Toy()
    async with httpx.AsyncClient(transport=sandbox.transport()) as client:
        with pytest.raises(httpx.ConnectError, match="no such host"):
            await client.post("https://api.toy.example.org/things", json={})
    assert sandbox.handled == 0


async def test_app_is_built_once():
    """`app` is one ASGI app for the sandbox's life, so state is shared by every transport."""
    sandbox = Toy()
    assert sandbox.app is sandbox.app


# -- faults -------------------------------------------------------------------------------


async def test_error_fault_answers_the_vendors_500_without_processing():
    """error_rate=1 answers with the subclass's 500 body, and the endpoint never runs."""
    sandbox = Toy(faults=Faults(error_rate=1.0))
    async with client_for(sandbox) as client:
        response = await client.post("/things", json={})
    assert response.status_code == 500
    assert response.json() == {"oops": "/things"}
    assert sandbox.handled == 0
    assert sandbox.requests[0].fault == "error"
    assert sandbox.requests[0].status == 500


async def test_reset_before_fault_fails_to_connect_and_processes_nothing():
    """reset_before_rate=1 raises ConnectError; the vendor never sees the request."""
    sandbox = Toy(faults=Faults(reset_before_rate=1.0))
    async with client_for(sandbox) as client:
        with pytest.raises(httpx.ConnectError, match="injected"):
            await client.post("/things", json={"a": 1})
    assert sandbox.handled == 0
    [record] = sandbox.requests
    assert (record.status, record.fault) == (None, "reset_before")
    assert record.json() == {"a": 1}
    assert "authorization" not in record.headers


async def test_reset_after_fault_processes_the_request_then_loses_the_answer():
    """reset_after_rate=1 raises ReadError after the vendor did the work."""
    sandbox = Toy(faults=Faults(reset_after_rate=1.0))
    async with client_for(sandbox) as client:
        with pytest.raises(httpx.ReadError, match="processed"):
            await client.post("/things", json={})
    assert sandbox.handled == 1
    assert (sandbox.requests[0].status, sandbox.requests[0].fault) == (201, "reset_after")


async def test_malformed_fault_sends_unreadable_200s_of_both_kinds():
    """malformed_rate=1 processes the request and answers 200 with HTML or cut-off JSON."""
    sandbox = Toy(faults=Faults(malformed_rate=1.0))
    kinds = set()
    async with client_for(sandbox) as client:
        for _ in range(12):
            response = await client.post("/things", json={})
            assert response.status_code == 200
            with pytest.raises(ValueError):  # noqa: PT011 - any JSON decoding error will do
                response.json()
            kinds.add(response.headers["content-type"].split(";")[0])
    assert kinds == {"text/html", "application/json"}
    assert sandbox.handled == 12
    assert {r.fault for r in sandbox.requests} == {"malformed"}
    assert {r.status for r in sandbox.requests} == {201}


async def test_latency_delays_each_answer_by_vendor_seconds():
    """latency=20 makes each answer take 20 vendor seconds."""
    sandbox = Toy(faults=Faults(latency=20))
    async with client_for(sandbox) as client:
        start = sandbox.vendor_now()
        await client.post("/things", json={})
    assert sandbox.vendor_now() - start >= 20


async def test_faults_can_be_switched_at_run_time():
    """Faults are mutable: a test turns one on for exactly the request it targets."""
    sandbox = Toy()
    async with client_for(sandbox) as client:
        assert (await client.post("/things", json={})).status_code == 201
        sandbox.faults.error_rate = 1.0
        assert (await client.post("/things", json={})).status_code == 500
        sandbox.faults = Faults()
        assert (await client.post("/things", json={})).status_code == 201


def test_fault_rates_are_validated():
    """A rate outside 0..1 or a negative latency is refused, on creation and on assignment."""
    with pytest.raises(ValueError, match="error_rate"):
        Faults(error_rate=1.5)
    with pytest.raises(ValueError, match="latency"):
        Faults(latency=-1)
    faults = Faults()
    with pytest.raises(ValueError, match="malformed_rate"):
        faults.malformed_rate = -0.1


async def test_faults_are_seeded_and_never_shift_the_vendors_draws():
    """Same seed, same faults; and the ids a vendor draws do not depend on the fault rates."""

    async def run(faults: Faults) -> tuple[list[str | None], list[str]]:
        sandbox = Toy(seed=7, faults=faults)
        ids = []
        async with client_for(sandbox) as client:
            for _ in range(20):
                response = await client.post("/things", json={})
                if response.status_code == 201:
                    ids.append(response.json()["id"])
        return [r.fault for r in sandbox.requests], ids

    faulty = Faults(error_rate=0.5)
    first_faults, first_ids = await run(faulty)
    again_faults, again_ids = await run(attrs.evolve(faulty))
    _, clean_ids = await run(Faults())
    assert first_faults == again_faults
    assert "error" in first_faults
    assert None in first_faults
    assert first_ids == again_ids
    assert first_ids == clean_ids[: len(first_ids)]


# -- scripts ------------------------------------------------------------------------------


def test_scripts_are_served_first_in_first_out():
    """script() queues fates in order; next_script() is None once the queue is empty."""
    sandbox = Toy()
    first, second = JobScript("fail", duration=5), JobScript("succeed")
    sandbox.script(first, second)
    assert sandbox.next_script() is first
    assert sandbox.next_script() is second
    assert sandbox.next_script() is None


def test_script_refuses_outcomes_the_vendor_cannot_produce():
    """An outcome outside supported_outcomes is refused up front, naming what is supported."""
    sandbox = Toy()
    with pytest.raises(ValueError, match="cannot expire a job; it supports cancel, fail, succeed"):
        sandbox.script(JobScript("succeed"), JobScript("expire"))
    assert sandbox.next_script() is None


def test_job_script_fields_are_validated_and_default_to_the_vendor():
    """JobScript checks its outcome and duration; unset error fields mean the vendor's choice."""
    script = JobScript("fail", statuses=["pending", "reticulating"])  # type: ignore[arg-type]
    assert script.statuses == ("pending", "reticulating")
    assert script.error_code is VENDOR_DEFAULT
    assert script.error_message is VENDOR_DEFAULT
    assert JobScript("fail", error_code=None).error_code is None
    with pytest.raises(ValueError, match="duration"):
        JobScript("succeed", duration=-1)
    with pytest.raises(ValueError, match="outcome"):
        JobScript("explode")  # type: ignore[arg-type]


# -- webhooks -----------------------------------------------------------------------------


async def test_webhooks_are_recorded_when_due_even_when_not_running():
    """Outside `async with`, a due webhook is recorded as not attempted; not before it is due."""
    sandbox = Toy()
    async with client_for(sandbox) as client:
        response = await client.post("/things", json={"callback": "https://hooks.example/x"})
    assert sandbox.webhooks == []
    await sandbox.sleep(35)
    [hook] = sandbox.webhooks
    assert (hook.url, hook.event) == ("https://hooks.example/x", "thing.made")
    assert hook.vendor_time == response.json()["at"] + 30
    assert (hook.delivered, hook.error, hook.status_code) == (False, None, None)
    assert json.loads(hook.content) == hook.body


async def test_webhooks_are_delivered_once_at_their_due_vendor_time():
    """Inside `async with`, a webhook reaches the receiver at its due time, exactly once."""
    receiver = Receiver()
    sandbox = Toy(webhook_transport=receiver.transport())
    async with sandbox, client_for(sandbox) as client:
        assert sandbox.running
        created = (
            await client.post("/things", json={"callback": "https://hooks.example/x"})
        ).json()
        start = anyio.current_time()
        await sandbox.sleep(60)
    assert not sandbox.running
    [(arrived, body)] = receiver.received
    assert body == created
    due = arrived - start
    assert due == 30
    [hook] = sandbox.webhooks
    assert (hook.delivered, hook.status_code, hook.error, hook.attempt) == (True, 200, None, 1)
    assert hook.headers["content-type"] == "application/json"


async def test_webhook_receiver_errors_and_timeouts_are_recorded_not_retried():
    """A 500 or a receiver slower than 10 vendor seconds fails the one delivery, no retry."""
    failing, slow = Receiver(status=500), Receiver(delay=30)
    for receiver, error in ((failing, "HTTP 500"), (slow, "no answer within 10 s")):
        sandbox = Toy(webhook_transport=receiver.transport())
        async with sandbox, client_for(sandbox) as client:
            await client.post("/things", json={"callback": "https://hooks.example/x"})
            await sandbox.sleep(60)
        [hook] = sandbox.webhooks
        assert not hook.delivered
        assert error in (hook.error or "")
        assert len(receiver.received) == 1


async def test_a_broken_receiver_is_recorded_and_the_sandbox_carries_on():
    """An exception from the receiver becomes the webhook's error; the sandbox keeps running."""

    def explode(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("receiver bug")

    sandbox = Toy(webhook_transport=httpx.MockTransport(explode))
    async with sandbox, client_for(sandbox) as client:
        await client.post("/things", json={"callback": "https://hooks.example/x"})
        await sandbox.sleep(40)
        assert (await client.post("/things", json={})).status_code == 201
    assert sandbox.webhooks[0].error == "RuntimeError: receiver bug"


async def test_vendors_that_retry_webhooks_get_their_retry_schedule():
    """webhook_retry_delays schedules each retry that many vendor seconds after a failure."""
    receiver = Receiver(status=503)
    sandbox = RetryingToy(webhook_transport=receiver.transport())
    async with sandbox, client_for(sandbox) as client:
        await client.post("/things", json={"callback": "https://hooks.example/x"})
        await sandbox.sleep(100)
    hooks = sandbox.webhooks
    assert [h.attempt for h in hooks] == [1, 2, 3]
    assert len(receiver.received) == 3
    assert [h.vendor_time for h in hooks] == [30, 35, 60]


async def test_a_sandbox_cannot_be_entered_twice():
    """Entering a running sandbox again is an error, not a second delivery loop."""
    sandbox = Toy()
    async with sandbox:
        with pytest.raises(RuntimeError, match="already running"):
            await sandbox.__aenter__()


# -- serve --------------------------------------------------------------------------------


@pytest.mark.real_clock
async def test_serve_puts_the_sandbox_on_loopback(anyio_backend_name):
    """serve() yields a loopback URL that answers real HTTP; on trio it says asyncio is needed."""
    sandbox = Toy(speed=1000.0)
    if anyio_backend_name != "asyncio":
        with pytest.raises(RuntimeError, match="asyncio"):
            async with serve(sandbox):
                pass
        return
    async with serve(sandbox) as url:
        assert url.startswith("http://127.0.0.1:")
        assert sandbox.running
        async with httpx.AsyncClient(base_url=url) as client:
            response = await client.post("/things", json={})
    assert response.status_code == 201
    assert sandbox.handled == 1
    assert not sandbox.running


async def test_serve_without_uvicorn_says_which_extra_to_install(monkeypatch):
    """Without uvicorn, serve() raises an ImportError that is also a ConfigurationError."""
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(ImportError, match=r"install coursegen\[serve\]") as caught:
        async with serve(Toy()):
            pass
    assert isinstance(caught.value, ConfigurationError)
