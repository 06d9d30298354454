"""The sync facade from Django: a test project's sync views and management command.

The project (`tests/djangoproject`) is what an LMS integrator writes: views and a command
that call `coursegen.sync.connect(...)` and block. Its coursegen client runs on a sandbox
whose loop is on virtual time (asyncio and trio).
"""

from __future__ import annotations

import io
import json
from typing import Any

import django
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings

import coursegen.sync
from coursegen.testing import virtual_backend
from coursegen_tutorflow.sandbox import (
    DEMO_WEBHOOK_SECRET,
    DEMO_WORKSPACE,
    TutorFlowSandbox,
    Workspace,
)


@pytest.fixture(scope="module", autouse=True)
def django_project() -> None:
    """Django configured once per process from the test project's settings module."""
    if not settings.configured:
        from djangoproject import settings as project  # noqa: PLC0415 - after the fixture starts

        settings.configure(
            **{name: getattr(project, name) for name in dir(project) if name.isupper()}
        )
        django.setup()


@pytest.fixture(params=["asyncio", "trio"])
def coursegen_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The project's COURSEGEN setting: a LearningStudioAI sandbox on virtual time."""
    backend, options = virtual_backend(request.param)
    conf = {
        "target": "learningstudio",
        "options": {"sandbox": True, "seed": 0, "backend": backend, "backend_options": options},
    }
    with override_settings(COURSEGEN=conf):
        yield conf
    coursegen.sync.close_all()


def project_client(conf: dict[str, Any]) -> coursegen.sync.SyncClient:
    return coursegen.sync.connect(conf["target"], **conf["options"])


def test_a_sync_view_submits_and_another_request_waits_for_the_result(coursegen_settings) -> None:
    """POST /courses/ answers a token at once; GET with ?wait gives the course's title."""
    web = Client()
    created = web.post("/courses/", {"subject": "Ladder Safety"})
    assert created.status_code == 202
    token = created.json()["token"]
    finished = web.get(f"/courses/{token}/", {"wait": "900"})
    assert finished.status_code == 200
    assert finished.json() == {"status": "succeeded", "title": "Ladder Safety"}


def test_a_management_command_and_the_views_share_one_client(coursegen_settings) -> None:
    """The command generates a course on the client the views use; a view reads its job."""
    out = io.StringIO()
    call_command("generate_course", "Forklift Basics", stdout=out)
    title, token = out.getvalue().splitlines()
    assert title == "Forklift Basics"
    looked = Client().get(f"/courses/{token}/")
    assert looked.json() == {"status": "succeeded"}
    sandbox = project_client(coursegen_settings).sandbox
    assert sandbox is not None
    assert [r.method for r in sandbox.requests].count("POST") == 1


def test_a_view_reports_a_typed_error(coursegen_settings) -> None:
    """A request the vendor refuses is a 400 naming why, not a 500."""
    answer = Client().post("/courses/", {"subject": "x", "callback_url": "http://not-https"})
    assert answer.status_code == 400
    assert "callback" in answer.json()["error"].lower()


async def _due_webhooks(sandbox: TutorFlowSandbox, count: int) -> list[Any]:
    while len(sandbox.webhooks) < count:
        await sandbox.sleep(1)
    return list(sandbox.webhooks)


@pytest.mark.parametrize("backend_name", ["asyncio", "trio"])
def test_a_webhook_view_accepts_a_signed_end_once_and_refuses_a_forgery(backend_name) -> None:
    """A TutorFlow course.deployed posted to the view ends the job; a copy is a duplicate;
    a bad signature is a 401; after the webhook nothing is asked of the vendor.

    `keep_results=False`: nothing is polled while nobody waits, so the facade's virtual
    clock stands still between the test's calls (the test holds the job's handle).
    """
    backend, options = virtual_backend(backend_name)
    workspace = Workspace(
        webhook_url="https://lms.example/webhooks/", webhook_secret=DEMO_WEBHOOK_SECRET
    )
    sandbox = TutorFlowSandbox(workspaces={DEMO_WORKSPACE: workspace})
    conf = {
        "target": "tutorflow",
        "options": {
            "sandbox": sandbox,
            "webhook_secret": DEMO_WEBHOOK_SECRET,
            "keep_results": False,
            "backend": backend,
            "backend_options": options,
        },
    }
    web = Client()
    try:
        with override_settings(COURSEGEN=conf):
            token = web.post("/courses/", {"subject": "Python basics"}).json()["token"]
            client = project_client(conf)
            job = client.resume(token)
            (hook,) = client.call(_due_webhooks, sandbox, 1)
            asked = len(sandbox.requests)
            headers = {name: value for name, value in hook.headers.items() if name.startswith("x-")}

            def deliver(body: bytes, **extra: str) -> Any:
                return web.post(
                    "/webhooks/",
                    body,
                    content_type="application/json",
                    headers={**headers, **extra},
                )

            forged = deliver(hook.content.replace(b"COMPLETED", b"FAILED"))
            first = deliver(hook.content)
            again = deliver(hook.content)
            status = web.get(f"/courses/{token}/").json()
            done = job.done()
    finally:
        coursegen.sync.close_all()
    assert forged.status_code == 401
    assert (first.status_code, first.json()["outcome"]) == (200, "accepted")
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
    assert status == {"status": "succeeded"}
    assert done
    assert len(sandbox.requests) == asked
    assert json.loads(hook.content)["event"] == "course.deployed"
