"""The fault-injection soak (`tests/soak.py`), small, with its promises asserted.

`COURSEGEN_SOAK_JOBS` sets the number of jobs (default 99, a third per provider);
`nox -s soak` runs 1,000 and prints the table (`-s` shows it here too).
"""

from __future__ import annotations

import os

import pytest

from soak import soak, table

JOBS = int(os.environ.get("COURSEGEN_SOAK_JOBS", "99"))


@pytest.mark.anyio
async def test_a_fault_soak_loses_doubles_and_hangs_nothing(anyio_backend_name: str) -> None:
    """Under 10% 5xx, 5% resets before and after processing, 2% unreadable bodies and 1%
    stalls, every job across the providers ends with its result or a typed error: no
    untyped error, no hang, no duplicate, and no orphan at TutorFlow (idempotent)."""
    reports = await soak(JOBS)
    print("\n" + table(reports, anyio_backend_name))  # noqa: T201 - the soak's report
    # Every error a user saw is one the soak allows: a create's answer lost or unreadable
    # (the vendor may hold a job), or a 5xx to a create that may not be repeated blindly.
    allowed = {"SubmitOutcomeUnknown", "MalformedResponse", "ProviderUnavailable"}
    for report in reports:
        assert sum(report.outcomes.values()) == report.jobs, report.provider
        assert report.untyped == 0, report.outcomes
        assert report.hangs == 0, report.provider
        assert report.duplicates == 0, report.provider
        assert set(report.typed) <= allowed, report
        # An orphan is only a create whose answer was lost or unreadable: the user was
        # told so.
        told = report.typed["SubmitOutcomeUnknown"] + report.typed["MalformedResponse"]
        assert report.orphans <= told, report.provider
    tutorflow = next(report for report in reports if report.provider == "tutorflow")
    assert tutorflow.orphans == 0
    assert tutorflow.results == tutorflow.jobs
    assert sum(report.faults["stall"] for report in reports) > 0
