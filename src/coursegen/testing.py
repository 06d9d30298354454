"""Testing kit for providers and for integrators: a pytest plugin and the conformance suite.

`ProviderContract` is the contract every provider proves against its own simulator.
A provider's test module subclasses it and names its provider and a request:

```python
from coursegen import CourseRequest
from coursegen.testing import ProviderContract

class TestContract(ProviderContract):
    provider = "learningstudio"
    request = CourseRequest(subject="Workplace safety basics")
    unsupported_request = CourseRequest(subject="x", lesson_count=3)
```

Each test runs on asyncio and trio, both on virtual time (the class's own `anyio_backend`
fixture: trio with an autojumping `MockClock` and its scheduler seeded, asyncio on a
`VirtualClockEventLoop`), so minutes of vendor time pass in milliseconds, every timing
is exact at speed 1, and a test's run repeats exactly on both.

Integrators get the same simulators for their own tests: `pytest_plugins =
["coursegen.testing"]` adds the `coursegen_sandbox` fixture, a factory of sandboxed
clients (`async with coursegen_sandbox("learningstudio") as client: ...`).

A provider's own tests need the same scaffolding whoever writes them, and it is here:
`VendorFixtures` (the vendor's example payloads as canned answers), `answer`,
`sent_json`, the `no_requests_built` fixture, `vendor_client` (an HTTP client on a
simulator), `WebhookReceiver`, `mocked_client` (a client on a respx router) and
`simulator_imports`.
"""

from __future__ import annotations

import itertools
import random
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
import pytest

from ._adapter import Exporter, PublicPages, WebhookReader
from ._config import connect
from ._errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequest,
    JobFailed,
    MalformedResponse,
    ProviderUnavailable,
    UnsupportedFeature,
)
from ._features import UnsupportedFeatureWarning
from ._http import RetryPolicy
from ._models import Assessment, AssessmentRequest, Course, CourseRequest, JobStatus
from ._registry import default_registry
from ._settings import Settings
from ._testkit import (
    VendorFixtures,
    WebhookReceiver,
    answer,
    mocked_client,
    no_requests_built,
    sent_json,
    simulator_imports,
    vendor_client,
)
from ._virtual_time import VirtualClockEventLoop

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._client import Client
    from ._models import Request
    from .sandbox import Sandbox

__all__ = [
    "ProviderContract",
    "VendorFixtures",
    "VirtualClockEventLoop",
    "WebhookReceiver",
    "answer",
    "coursegen_sandbox",
    "mocked_client",
    "no_requests_built",
    "real_backend",
    "sent_json",
    "simulator_imports",
    "vendor_client",
    "virtual_backend",
]


# Any fixed value: what matters is that every test's trio run starts from the same one.
_TRIO_SCHEDULER_SEED = 0


def virtual_backend(name: str) -> tuple[str, dict[str, Any]]:
    """anyio's `anyio_backend` value for `name` ("asyncio" or "trio") on virtual time.

    trio gets an autojumping `MockClock`, asyncio a `VirtualClockEventLoop`: on both, the
    clock moves only when every task is idle, so vendor minutes pass in microseconds and
    no answer depends on how fast the machine is. Use it in your own `anyio_backend`
    fixture::

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return coursegen.testing.virtual_backend(request.param)
    """
    if name == "trio":
        import trio.testing  # noqa: PLC0415 - trio is only needed when a test asks for it

        _seed_trio_scheduler()
        # A new clock per test: a clock carries its virtual time with it.
        return "trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}
    if name == "asyncio":
        return "asyncio", {"loop_factory": VirtualClockEventLoop}
    raise ValueError(f"unknown anyio backend {name!r}: expected 'asyncio' or 'trio'")


def _seed_trio_scheduler() -> None:
    """Seed the RNG trio shuffles each batch of runnable tasks with, so that a test's
    trio run repeats exactly, as its asyncio run does.

    Unseeded, tasks woken at one virtual instant run in a new order each time, and a
    figure such as a fleet's polls per job moves from run to run. trio has no public
    seed for it; where its internals differ, the order stays trio's own.
    """
    try:
        from trio._core._run import _r as scheduler_rng  # noqa: PLC0415 - see above
    except ImportError:
        return
    if isinstance(scheduler_rng, random.Random):
        scheduler_rng.seed(_TRIO_SCHEDULER_SEED)


def real_backend(name: str) -> tuple[str, dict[str, Any]]:
    """anyio's `anyio_backend` value for `name` on the real clock (tests across processes)."""
    return name, {}


@pytest.fixture
def coursegen_sandbox() -> Callable[..., Client]:
    """A factory of clients on a provider's in-process simulator: no network, no key."""

    def factory(provider: str, **settings: Any) -> Client:
        return connect(provider, sandbox=True, **settings)

    return factory


class ProviderContract:
    """The behaviour every provider must show against its sandbox. Subclass per provider."""

    provider: ClassVar[str]
    """The provider's registered name."""
    request: ClassVar[Request]
    """A request the provider accepts."""
    unsupported_request: ClassVar[Request | None] = None
    """A request setting a field the provider cannot honour, if there is such a field."""
    invalid_request: ClassVar[Request | None] = None
    """A request of a supported kind whose input the vendor would refuse (a blank
    subject): the adapter must refuse it before anything is sent."""
    webhook_request: ClassVar[Request | None] = None
    """With webhooks declared: a request whose job the vendor reports by webhook (one
    with a `callback_url`, for a vendor that takes one per request); None: `request`."""
    speed: ClassVar[float] = 1.0
    """Sandbox time factor. Tests run on virtual time on both backends: 1.0 is exact."""
    attempts: ClassVar[int] = 3
    """Attempts per request in these tests (the retry policy's)."""

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
        """asyncio, and trio on a virtual clock that jumps over every sleep."""
        return virtual_backend(request.param)

    # -- helpers ------------------------------------------------------------------------

    def connect(self, sandbox: Sandbox | None = None, **settings: Any) -> Client:
        """A client on this provider's sandbox (a new one unless `sandbox` is given)."""
        return connect(
            self.provider,
            sandbox=sandbox if sandbox is not None else True,
            speed=self.speed,
            retry=RetryPolicy(attempts=self.attempts, initial=0.5, maximum=2.0),
            seed=0,
            **settings,
        )

    @staticmethod
    def simulator(client: Client) -> Sandbox:
        """The simulator behind a client made by `connect`."""
        assert client.sandbox is not None  # noqa: S101 - connect() above always makes one
        return client.sandbox

    def script(self, client: Client, outcome: str, **options: Any) -> None:
        """Make the simulator's next job end with `outcome` (a `JobScript`'s options)."""
        from .sandbox import JobScript  # noqa: PLC0415 - Starlette only for sandbox tests

        self.simulator(client).script(JobScript(outcome=outcome, **options))  # type: ignore[arg-type]

    def prepare_webhooks(self, simulator: Sandbox) -> dict[str, Any]:
        """Make `simulator` send webhooks where the vendor configures them per account,
        and return the client settings that read them (a webhook secret). By default
        nothing: the vendor calls back per request (`webhook_request`)."""
        del simulator
        return {}

    @staticmethod
    def assert_result_kind(result: object, request: Request) -> None:
        """Fail unless `result` is what `request` asks for: a `Course` or an `Assessment`."""
        expected = Course if isinstance(request, CourseRequest) else Assessment
        assert isinstance(result, expected), f"a {type(request).__name__} must give a {expected}"  # noqa: S101

    # -- the contract -------------------------------------------------------------------

    def test_registered_as_a_plugin(self) -> None:
        """The provider is found through the `coursegen` entry-point group, with a sandbox."""
        info = default_registry().get(self.provider)
        assert info.sandbox is not None  # noqa: S101
        policy = self.connect().policy
        assert 0 < policy.min_interval <= policy.interval  # noqa: S101
        assert policy.job_timeout > policy.interval  # noqa: S101
        assert type(self.request) in info.adapter.capabilities.request_kinds  # noqa: S101

    def test_the_simulator_imports_only_the_toolkit(self) -> None:
        """The simulator imports nothing of coursegen but `coursegen.sandbox`: it cannot
        mirror its adapter's bugs, only the vendor's documented behaviour."""
        info = default_registry().get(self.provider)
        assert info.sandbox is not None  # noqa: S101
        assert simulator_imports(info.sandbox()) == {"coursegen.sandbox"}  # noqa: S101

    def adapter_for(self, **settings: Any) -> Any:
        """The provider's adapter made from `settings` alone (sans-I/O: nothing is sent);
        the vendor's default base URL and a made-up key unless given."""
        adapter = default_registry().get(self.provider).adapter
        settings.setdefault("base_url", adapter.default_base_url)
        settings.setdefault("api_key", "contract-key-0123456789")
        return adapter.from_settings(Settings(provider=self.provider, **settings))

    def test_another_request_kind_is_unsupported(self) -> None:
        """`submit` of a request kind the provider does not make raises UnsupportedFeature
        naming the provider, before anything is built."""
        kinds = default_registry().get(self.provider).adapter.capabilities.request_kinds
        others = [
            request
            for request in (CourseRequest(subject="Knots"), AssessmentRequest(topic="Knots"))
            if type(request) not in kinds
        ]
        if not others:
            pytest.skip("this provider makes every kind of request")
        for request in others:
            with pytest.raises(UnsupportedFeature) as caught:
                self.adapter_for().submit(request)
            assert caught.value.provider == self.provider  # noqa: S101

    def test_a_base_url_of_another_scheme_is_refused(self) -> None:
        """Only http and https bases are accepted: `ConfigurationError` saying so."""
        with pytest.raises(ConfigurationError, match="http or https"):
            self.adapter_for(base_url="ftp://vendor.example")

    @pytest.mark.parametrize("missing", [None, ""])
    def test_a_missing_key_names_every_way_to_set_it(self, missing: str | None) -> None:
        """Without a key, `from_settings` raises ConfigurationError naming the vendor's
        variable, coursegen's `COURSEGEN_<NAME>_API_KEY` and the URL form."""
        adapter = default_registry().get(self.provider).adapter
        if not adapter.capabilities.requires_key:
            pytest.skip("this provider takes no key")
        with pytest.raises(ConfigurationError) as caught:
            self.adapter_for(api_key=missing)
        message = str(caught.value)
        host = httpx.URL(adapter.default_base_url).host
        expected = [f"COURSEGEN_{self.provider.upper()}_API_KEY", f"{self.provider}://KEY@{host}"]
        expected += [name for setting, name in adapter.env_vars.items() if setting == "api_key"]
        missing_names = [name for name in expected if name not in message]
        assert not missing_names, f"{message!r} does not name {missing_names}"  # noqa: S101

    def test_the_key_is_not_in_the_adapters_repr(self) -> None:
        """The adapter's repr (in tracebacks and logs) never shows the key."""
        key = "contract-key-0123456789"
        assert key not in repr(self.adapter_for(api_key=key))  # noqa: S101

    def test_capabilities_match_what_the_adapter_implements(self) -> None:
        """Each optional capability is announced exactly when its protocol is implemented."""
        adapter = self.connect()._adapter  # noqa: SLF001 - the contract inspects the adapter
        caps = adapter.capabilities
        assert bool(caps.export_formats) == isinstance(adapter, Exporter)  # noqa: S101
        assert caps.webhooks == isinstance(adapter, WebhookReader)  # noqa: S101
        assert caps.public_pages == isinstance(adapter, PublicPages)  # noqa: S101
        assert not caps.signed_webhooks or caps.webhooks  # noqa: S101

    @pytest.mark.anyio
    async def test_job_runs_to_success(self) -> None:
        """A submitted job is followed to SUCCEEDED and gives the result of its kind."""
        async with self.connect() as client:
            self.script(client, "succeed")
            job = await client.submit(self.request)
            first = job.snapshot
            result = await job.result()
        assert not first.status.is_terminal  # noqa: S101
        self.assert_result_kind(result, self.request)
        assert job.snapshot.status is JobStatus.SUCCEEDED  # noqa: S101
        if client.capabilities.progress:
            assert job.snapshot.progress == 1.0  # noqa: S101

    @pytest.mark.anyio
    async def test_job_runs_to_failure(self) -> None:
        """A job the vendor fails ends FAILED, and `result()` raises JobFailed saying why."""
        async with self.connect() as client:
            self.script(client, "fail")
            job = await client.submit(self.request)
            with pytest.raises(JobFailed) as caught:
                await job.result()
        snapshot = caught.value.snapshot
        assert snapshot is not None  # noqa: S101
        assert snapshot.status is JobStatus.FAILED  # noqa: S101
        assert snapshot.error is not None  # noqa: S101
        assert snapshot.error.message  # noqa: S101
        assert caught.value.token == job.token  # noqa: S101

    @pytest.mark.anyio
    async def test_watch_yields_each_change_then_ends(self) -> None:
        """`watch()` yields distinct states in the vendor's order and stops at the end."""
        async with self.connect() as client:
            self.script(client, "succeed")
            job = await client.submit(self.request)
            seen = [snapshot async for snapshot in job.watch()]
        assert seen[-1].status is JobStatus.SUCCEEDED  # noqa: S101
        assert all(not s.status.is_terminal for s in seen[:-1])  # noqa: S101
        assert all(not a.same_state(b) for a, b in itertools.pairwise(seen))  # noqa: S101
        progress = [s.progress for s in seen if s.progress is not None]
        assert progress == sorted(progress)  # noqa: S101

    @pytest.mark.anyio
    async def test_unknown_vendor_status_is_tolerated(self) -> None:
        """A status string the adapter has never seen reads as RUNNING, keeping the word."""
        async with self.connect() as client:
            self.script(client, "succeed", statuses=("reticulating-splines",))
            job = await client.submit(self.request)
            seen = [snapshot async for snapshot in job.watch()]
        odd = [s for s in seen if s.vendor_status == "reticulating-splines"]
        assert odd, "the sandbox should have reported the unknown status"  # noqa: S101
        assert all(s.status is JobStatus.RUNNING for s in odd)  # noqa: S101
        assert seen[-1].status is JobStatus.SUCCEEDED  # noqa: S101

    @pytest.mark.anyio
    async def test_malformed_body_is_a_typed_error_with_the_raw_body(self) -> None:
        """A poll answered with an unreadable body ends in MalformedResponse, raw attached."""
        async with self.connect() as client:
            job = await client.submit(self.request)
            self.simulator(client).faults.malformed_rate = 1.0
            with pytest.raises(MalformedResponse) as caught:
                await job.wait()
        assert caught.value.raw is not None  # noqa: S101
        assert caught.value.provider == self.provider  # noqa: S101

    @pytest.mark.anyio
    async def test_server_errors_are_retried_then_reported(self) -> None:
        """Polls failing with 5xx are retried; when every attempt fails the error is typed
        (a refresh raises it; a wait sits the outage out)."""
        async with self.connect() as client:
            job = await client.submit(self.request)
            simulator = self.simulator(client)
            simulator.faults.error_rate = 1.0
            before = len(simulator.requests)
            with pytest.raises(ProviderUnavailable):
                await job.refresh()
            assert len(simulator.requests) - before == self.attempts  # noqa: S101
            simulator.faults.error_rate = 0.0
            result = await job.result()  # the job was never lost
        self.assert_result_kind(result, self.request)

    @pytest.mark.anyio
    async def test_connection_faults_are_retried(self) -> None:
        """Connection resets on polls are retried and the job still completes."""
        async with self.connect() as client:
            job = await client.submit(self.request)
            self.simulator(client).faults.reset_before_rate = 0.3
            result = await job.result()
        self.assert_result_kind(result, self.request)

    @pytest.mark.anyio
    async def test_resume_by_token_in_another_client(self) -> None:
        """A job's token resumes it in a second client and gives the same result."""
        async with self.connect() as first:
            simulator = self.simulator(first)
            job = await first.submit(self.request)
            token = job.token
        async with self.connect(sandbox=simulator) as second:
            again = await second.resume(token)
            assert again.id == job.id  # noqa: S101
            result = await again.result()
        self.assert_result_kind(result, self.request)

    @pytest.mark.anyio
    async def test_as_completed_yields_every_job_once(self) -> None:
        """`as_completed` yields each of several jobs exactly once, each one ended."""
        async with self.connect() as client:
            jobs = [await client.submit(self.request) for _ in range(3)]
            done = [job async for job in client.as_completed(jobs)]
        assert sorted(j.id for j in done) == sorted(j.id for j in jobs)  # noqa: S101
        assert all(j.snapshot.status.is_terminal for j in done)  # noqa: S101

    @pytest.mark.anyio
    async def test_polls_respect_the_vendor_floor(self) -> None:
        """No job is polled more often than the provider's minimum interval (vendor time)."""
        async with self.connect() as client:
            floor = client.policy.min_interval
            job = await client.submit(self.request)
            await job.wait()
            polls = [
                r.vendor_time
                for r in self.simulator(client).requests
                if r.method == "GET" and job.id in r.path + "?" + r.query
            ]
        assert len(polls) >= 1  # noqa: S101
        gaps = [b - a for a, b in itertools.pairwise(polls)]
        assert all(gap >= floor * 0.999 for gap in gaps), gaps  # noqa: S101

    @pytest.mark.anyio
    async def test_wrong_key_is_an_authentication_error(self) -> None:
        """A key the vendor does not know ends in AuthenticationError, naming no key."""
        info = default_registry().get(self.provider)
        if not info.adapter.capabilities.requires_key:
            pytest.skip("this provider takes no key")
        secret = "not-a-real-key-0123456789"  # noqa: S105 - a wrong key, on purpose
        async with self.connect(api_key=secret) as client:
            with pytest.raises(AuthenticationError) as caught:
                await client.submit(self.request)
        assert secret not in str(caught.value)  # noqa: S101
        assert secret not in repr(caught.value)  # noqa: S101
        assert caught.value.raw is not None  # noqa: S101

    @pytest.mark.anyio
    async def test_unsupported_field_is_refused_or_dropped(self) -> None:
        """A field the provider cannot honour raises UnsupportedFeature; strict=False warns."""
        if self.unsupported_request is None:
            pytest.skip("this provider honours every request field")
        async with self.connect() as client:
            with pytest.raises(UnsupportedFeature):
                await client.submit(self.unsupported_request)
        async with self.connect(strict=False) as client:
            with pytest.warns(UnsupportedFeatureWarning):
                job = await client.submit(self.unsupported_request)
            assert job.id  # noqa: S101

    @pytest.mark.anyio
    async def test_invalid_input_is_refused_before_anything_is_sent(self) -> None:
        """Input the vendor would refuse raises InvalidRequest, and nothing is sent."""
        if self.invalid_request is None:
            pytest.skip("no invalid_request given: the adapter checks nothing itself")
        async with self.connect() as client:
            with pytest.raises(InvalidRequest) as caught:
                await client.submit(self.invalid_request)
            sent = list(self.simulator(client).requests)
        assert caught.value.provider == self.provider  # noqa: S101
        assert sent == [], "submit() must refuse bad input before building a request"  # noqa: S101

    @pytest.mark.anyio
    async def test_polls_name_the_job_in_their_url(self) -> None:
        """Every poll carries the job's id in its URL (path or query), where the engine,
        the request log and this suite find it."""
        async with self.connect() as client:
            self.script(client, "succeed")
            job = await client.submit(self.request)
            await job.wait()
            gets = [r for r in self.simulator(client).requests if r.method == "GET"]
        assert gets, "the job was never polled"  # noqa: S101
        assert any(job.id in f"{r.path}?{r.query}" for r in gets), (  # noqa: S101
            f"no poll named job {job.id!r} in its URL: poll(job_id) must put it there"
        )

    @pytest.mark.anyio
    async def test_rate_limited_answer_is_waited_out(self) -> None:
        """A 429 telling the client to wait is honoured: nothing more is sent to the
        vendor before that time, then the job goes on to its result."""
        wait = 30.0
        async with self.connect() as client:
            simulator = self.simulator(client)
            simulator.faults.retry_after = wait
            job = await client.submit(self.request)
            simulator.faults.rate_limited = 1
            result = await job.result()
        self.assert_result_kind(result, self.request)
        requests = simulator.requests
        refused = [i for i, r in enumerate(requests) if r.fault == "rate_limited"]
        assert len(refused) == 1, "the simulator must answer one request with its 429"  # noqa: S101
        assert requests[refused[0]].status == 429  # noqa: S101, PLR2004 - the status itself
        later = requests[refused[0] + 1 :]
        assert later, "the refused request was never retried"  # noqa: S101
        waited = later[0].vendor_time - requests[refused[0]].vendor_time
        assert waited >= wait * 0.999, f"retried {waited} vendor seconds after a 429 of {wait}"  # noqa: S101

    @pytest.mark.anyio
    async def test_webhooks_of_the_simulator_are_read(self) -> None:
        """With webhooks declared, the vendor's own delivery for a finished job reads as
        that job's end, verified exactly when the vendor signs its webhooks."""
        from .sandbox import Sandbox  # noqa: PLC0415 - Starlette only for sandbox tests

        info = default_registry().get(self.provider)
        caps = info.adapter.capabilities
        if not caps.webhooks:
            pytest.skip("this provider declares no webhooks")
        simulator = self.connect().sandbox
        assert isinstance(simulator, Sandbox)  # noqa: S101
        settings = self.prepare_webhooks(simulator)
        async with self.connect(sandbox=simulator, **settings) as client:
            self.script(client, "succeed")
            job = await client.submit(self.webhook_request or self.request)
            await job.result()
            await simulator.sleep(1.0)  # the delivery falls due with the job's end
            events = [client.read_webhook(w.headers, w.content) for w in simulator.webhooks]
        ends = [e for e in events if e.job_id == job.id and e.snapshot is not None]
        assert ends, "no webhook of the simulator named the job: see webhook_request"  # noqa: S101
        assert ends[-1].snapshot is not None  # noqa: S101
        assert ends[-1].snapshot.status is JobStatus.SUCCEEDED  # noqa: S101
        assert all(e.verified == caps.signed_webhooks for e in ends)  # noqa: S101

    @pytest.mark.anyio
    async def test_export_gives_each_declared_format(self) -> None:
        """With export declared, a finished course exports in each declared format."""
        info = default_registry().get(self.provider)
        formats = info.adapter.capabilities.export_formats
        if not formats:
            pytest.skip("this provider declares no export")
        async with self.connect() as client:
            self.script(client, "succeed")
            job = await client.submit(self.request)
            course = await job.result()
            assert isinstance(course, Course)  # noqa: S101
            exported = [await client.export(course, name) for name in formats]
        assert [e.format for e in exported] == list(formats)  # noqa: S101
        assert all(e.course_id == course.id and e.download_url for e in exported)  # noqa: S101
