"""Keys stay secret: not in log lines, reprs, tokens, snapshots or errors."""

from __future__ import annotations

import logging

import pytest

import coursegen
from coursegen import CourseRequest, RetryPolicy
from coursegen.sandbox import Faults

pytestmark = pytest.mark.anyio


async def test_key_never_reaches_logs_reprs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    """A whole job, with retries and a failed create, logs at DEBUG without the key."""
    caplog.set_level(logging.DEBUG)
    client = coursegen.connect("sandbox+learningstudio://", retry=RetryPolicy(attempts=6))
    key = client.settings.api_key.reveal() if client.settings.api_key else ""
    assert key
    seen: list[str] = [repr(client), repr(client.settings)]
    async with client:
        sandbox = client.sandbox
        assert sandbox is not None
        job = await client.submit(CourseRequest(subject="Scaffolds"))
        sandbox.faults = Faults(error_rate=0.3, reset_before_rate=0.1)
        await job.result()
        seen += [repr(job), job.token, repr(job.snapshot)]
        sandbox.faults = Faults(error_rate=1.0)
        with pytest.raises(coursegen.ProviderUnavailable) as caught:
            await client.submit(CourseRequest(subject="Scaffolds"))
        seen += [str(caught.value), repr(caught.value)]
    logged = [record.getMessage() for record in caplog.records]
    assert any("retry" in line for line in logged)  # the retries were logged...
    assert all(key not in text for text in seen + logged)  # ...and nothing shows the key
