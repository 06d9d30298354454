"""The provider test kit of `coursegen.testing`: canned answers, clients and receivers."""

from __future__ import annotations

import inspect
import json
from typing import TYPE_CHECKING

import httpx
import pytest

from coursegen import CourseRequest
from coursegen.testing import (
    VendorFixtures,
    WebhookReceiver,
    answer,
    mocked_client,
    sent_json,
    simulator_imports,
    vendor_client,
)
from coursegen_learningstudio.sandbox import DEMO_KEY, LearningStudioSandbox

if TYPE_CHECKING:
    from pathlib import Path


pytestmark = pytest.mark.anyio


@pytest.fixture
def fixtures(tmp_path: Path) -> VendorFixtures:
    (tmp_path / "job.json").write_bytes(b'{"id": "j1", "status": "running"}')
    return VendorFixtures(tmp_path)


def test_fixtures_read_as_bytes_json_and_canned_answers(fixtures: VendorFixtures) -> None:
    """A payload file comes back byte for byte, parsed, changed, and as a JSON answer."""
    assert fixtures.bytes("job") == b'{"id": "j1", "status": "running"}'
    assert fixtures.json("job") == {"id": "j1", "status": "running"}
    assert fixtures.changed("job", status="done", id=...) == {"status": "done"}
    response = fixtures.response(200, "job", {"Date": "x"})
    assert response.content == fixtures.bytes("job")
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Date"] == "x"


def test_answer_and_sent_json() -> None:
    """A canned answer carries its body as JSON, and its request when given one."""
    request = httpx.Request("POST", "https://vendor.example/jobs", json={"a": 1})
    response = answer(201, {"id": "j1"}, request=request)
    assert (response.status_code, response.json()) == (201, {"id": "j1"})
    assert response.request is request
    assert sent_json(request) == {"a": 1}


def test_no_requests_built_refuses_every_request(no_requests_built: None) -> None:
    """With the fixture on, building any httpx.Request fails the test."""
    del no_requests_built
    with pytest.raises(pytest.fail.Exception, match="before validation finished"):
        httpx.Request("GET", "https://vendor.example/")


async def test_vendor_client_reaches_the_simulator_with_the_key() -> None:
    """The client talks to the simulator in process, keyed like a caller of the vendor."""
    sandbox = LearningStudioSandbox()
    async with vendor_client(sandbox, DEMO_KEY) as client:
        response = await client.post("/api/v1/courses", json={"subject": "Knots"})
    assert response.status_code == 202
    async with vendor_client(sandbox) as client:
        assert (await client.post("/api/v1/courses", json={"subject": "Knots"})).status_code == 401


def test_webhook_receiver_records_and_fails_the_first_deliveries() -> None:
    """The first `failures` deliveries get 503, the rest 204; each is kept, body readable."""
    receiver = WebhookReceiver(failures=1)
    with httpx.Client(transport=receiver.transport()) as client:
        codes = [client.post("https://hooks.example/", json={"n": n}).status_code for n in (1, 2)]
    assert codes == [503, 204]
    assert receiver.bodies == [{"n": 1}, {"n": 2}]
    assert len(receiver.received) == 2


async def test_mocked_client_sends_every_request_to_the_handler() -> None:
    """A coursegen client whose vendor is a handler: the create goes there and nowhere else."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"jobId": "j1", "status": "pending", "pollUrl": "/api/v1/courses/jobs/j1"}
        return httpx.Response(202, json=body)

    async with mocked_client("learningstudio://ls_test@learningstudioai.com", handler) as client:
        job = await client.submit(CourseRequest(subject="Knots"))
    assert job.id == "j1"
    assert [request.url.host for request in seen] == ["learningstudioai.com"]
    assert json.loads(seen[0].content)["subject"] == "Knots"


def test_simulator_imports_names_what_a_simulator_takes_from_coursegen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Our simulators import only the toolkit; a relative import is refused outright."""
    assert simulator_imports(LearningStudioSandbox()) == {"coursegen.sandbox"}
    monkeypatch.setattr(inspect, "getsource", lambda _: "from ._adapter import Thing\n")
    with pytest.raises(AssertionError, match="no relative imports"):
        simulator_imports(LearningStudioSandbox())
