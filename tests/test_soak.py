"""The fault-injection soak (`tests/soak.py`), small, with its promises asserted.

`COURSEGEN_SOAK_JOBS` sets the number of jobs (default 99, a third per provider);
`nox -s soak` runs 1,000 and prints the table (`-s` shows it here too).
"""

from __future__ import annotations

import os

import pytest

from soak import soak, table

JOBS = int(os.environ.get("COURSEGEN_SOAK_JOBS", "99"))
REPEAT_JOBS = 150
"""Jobs of each of the two soaks compared: enough that many requests fall due together."""


@pytest.mark.anyio
async def test_a_fault_soak_loses_doubles_and_hangs_nothing(anyio_backend_name: str) -> None:
    """Under 10% 5xx, 5% resets before and after processing, 2% unreadable bodies and 1%
    stalls, every job across the providers ends with its result or a typed error: no
    untyped error, no hang, no duplicate, and no orphan at TutorFlow (idempotent)."""
    reports = await soak(JOBS)
    print("\n" + table(reports, anyio_backend_name))  # noqa: T201 - the soak's report
    # Every error a user saw is one the soak allows: a create's answer lost or unreadable
    # (the vendor may hold a job), or a 5xx to a create that may not be repeated blindly.
    # A PDF job's generation create (sent by the engine) whose answer was lost or
    # unreadable ends its job so, never re-sent.
    allowed = {
        "SubmitOutcomeUnknown",
        "MalformedResponse",
        "ProviderUnavailable",
        "JobFailed:submit_outcome_unknown",
    }
    for report in reports:
        assert sum(report.outcomes.values()) == report.jobs, report.provider
        assert report.untyped == 0, report.outcomes
        assert report.hangs == 0, report.provider
        assert report.duplicates == 0, report.provider
        assert set(report.typed) <= allowed, report
        # An orphan is only a create whose answer was lost or unreadable: the user was
        # told so.
        told = (
            report.typed["SubmitOutcomeUnknown"]
            + report.typed["MalformedResponse"]
            + report.typed["JobFailed:submit_outcome_unknown"]
        )
        assert report.orphans <= told, report.provider
    tutorflow = next(report for report in reports if report.provider == "tutorflow")
    assert tutorflow.orphans == 0
    assert tutorflow.results == tutorflow.jobs
    assert sum(report.faults["stall"] for report in reports) > 0


@pytest.mark.anyio
async def test_a_soak_run_twice_with_one_seed_gives_the_same_run(anyio_backend_name: str) -> None:
    """Two soaks with the same seed on one backend match to the last request: the same
    requests at the same vendor times, the same faults drawn for them, the same figures
    (trio's scheduling pinned, every draw seeded, time virtual)."""
    first = await soak(REPEAT_JOBS)
    second = await soak(REPEAT_JOBS)
    for one, other in zip(first, second, strict=True):
        assert one.log == other.log, one.provider
        assert one.outcomes == other.outcomes, one.provider
        assert (one.orphans, one.duplicates, one.requests) == (
            other.orphans,
            other.duplicates,
            other.requests,
        )
    assert table(first, anyio_backend_name) == table(second, anyio_backend_name)
