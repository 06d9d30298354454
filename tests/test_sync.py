"""coursegen.sync: the blocking facade, one client per process and target, on a portal thread.

The facade's engine runs its own event loop on a thread: these tests run that loop on
virtual time (`backend_options` from `coursegen.testing.virtual_backend`), on asyncio and
on trio, so no answer depends on the machine's speed.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import pytest

import coursegen
import coursegen.sync
from coursegen import CourseRequest, JobStatus
from coursegen.testing import virtual_backend

REQUEST = CourseRequest(subject="Workplace safety basics")


@pytest.fixture(params=["asyncio", "trio"])
def loop(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The facade's backend and options, on virtual time; every client closed afterwards."""
    backend, options = virtual_backend(request.param)
    yield {"backend": backend, "backend_options": options}
    coursegen.sync.close_all()


def connect(loop: dict[str, Any], provider: str = "learningstudio", **options: Any):
    return coursegen.sync.connect(provider, sandbox=True, seed=0, **loop, **options)


def test_one_client_per_process_and_target(loop) -> None:
    """The same arguments give the same open client; other arguments, or a close, a new one."""
    first = connect(loop)
    assert connect(loop) is first
    assert connect(loop, provider="tutorflow") is not first
    first.close()
    again = connect(loop)
    assert again is not first
    assert not again.closed


def test_a_job_is_followed_to_its_result_without_await(loop) -> None:
    """submit, status, done and result work from plain code; the token resumes the job."""
    client = connect(loop)
    job = client.submit(REQUEST)
    course = job.result()
    assert isinstance(course, coursegen.Course)
    assert job.done()
    assert job.status is JobStatus.SUCCEEDED
    assert client.resume(job.token).snapshot.status is JobStatus.SUCCEEDED


def test_errors_are_the_typed_ones_never_exception_groups(loop) -> None:
    """A wrong key, a bad token and an unknown provider raise their own typed errors."""
    with pytest.raises(coursegen.AuthenticationError):
        connect(loop, api_key="ls_wrong_key_0123456789").submit(REQUEST)
    with pytest.raises(coursegen.ConfigurationError):
        connect(loop).resume("not-a-token")
    with pytest.raises(coursegen.ConfigurationError):
        connect(loop, provider="no-such-vendor")


def test_a_deadline_is_a_job_timeout_carrying_the_token(loop) -> None:
    """result(timeout=) runs on the engine's clock and raises JobTimeout with the token.

    `keep_results=False`: nothing is polled between calls, so the facade's virtual clock
    cannot run past the job's end before `result` is called.
    """
    job = connect(loop, keep_results=False).submit(REQUEST)
    with pytest.raises(coursegen.JobTimeout) as caught:
        job.result(timeout=1.0)
    assert caught.value.token == job.token
    assert caught.value.snapshot is not None
    assert not caught.value.snapshot.status.is_terminal


def test_as_completed_yields_each_job_once_and_watch_ends_at_the_end(loop) -> None:
    """as_completed is a plain iterator over the given handles; watch ends terminal."""
    client = connect(loop)
    jobs = [client.submit(REQUEST) for _ in range(3)]
    done = list(client.as_completed(jobs))
    assert sorted(map(id, done)) == sorted(map(id, jobs))
    assert all(job.done() for job in done)
    seen = list(client.submit(REQUEST).watch())
    assert seen[-1].status is JobStatus.SUCCEEDED


def test_a_closed_client_says_so(loop) -> None:
    """After close, calls raise RuntimeError naming the closed client."""
    client = connect(loop)
    job = client.submit(REQUEST)
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        job.result()


def test_eight_threads_share_one_rate_budget(loop) -> None:
    """8 threads submit 200 jobs through one client on one key: 200 results, 0 x 429."""
    client = connect(loop)
    jobs: list[coursegen.sync.SyncJob] = []
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            mine = [client.submit(CourseRequest(subject=f"Course {n}")) for n in range(25)]
            jobs.extend(mine)
            for job in mine:
                job.result()
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len({job.id for job in jobs}) == 200
    assert all(job.status is JobStatus.SUCCEEDED for job in jobs)
    sandbox = client.sandbox
    assert sandbox is not None
    creates = [r for r in sandbox.requests if r.method == "POST"]
    assert len(creates) == 200
    assert [r for r in sandbox.requests if r.status == 429] == []


@pytest.mark.anyio
async def test_callable_from_a_thread_that_runs_an_event_loop(anyio_backend) -> None:
    """Inside a running event loop (an async view) the facade works; it blocks that thread."""
    backend, options = virtual_backend(anyio_backend[0])
    client = coursegen.sync.connect(
        "learningstudio", sandbox=True, backend=backend, backend_options=options
    )
    try:
        course = client.submit(REQUEST).result()
    finally:
        client.close()
    assert isinstance(course, coursegen.Course)


def test_clients_are_closed_at_interpreter_exit() -> None:
    """A script that never closes its client exits cleanly: atexit closes it."""
    script = (
        "import coursegen, coursegen.sync\n"
        "client = coursegen.sync.connect('learningstudio', sandbox=True, speed=1000)\n"
        "job = client.submit(coursegen.CourseRequest(subject='Ladders'))\n"
        "print(job.status.value)\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter, our own script
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in {"pending", "running"}
    assert done.stderr == ""
