"""The CLI's job store: `coursegen jobs` lists what was submitted, `status`/`wait` take an id."""

from __future__ import annotations

import json

import test_cli
from test_cli import run

served = test_cli.served  # the served-sandbox fixture, shared with the CLI tests


def test_jobs_lists_a_submitted_job_and_status_and_wait_take_its_id(served: str, tmp_path) -> None:
    """A job made by `generate` is listed by `jobs`, and followed by id from the store."""
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    code, out, err = run(
        "generate", "Pulleys", "--provider", served, "--no-wait", "--json", "--store", store
    )
    assert code == 0, err
    job_id = json.loads(out)["job_id"]
    code, out, _ = run("jobs", "--store", store)
    assert code == 0
    assert job_id in out
    assert "Pulleys" in out
    code, out, _ = run("status", job_id, "--provider", served, "--store", store)
    assert code == 0
    assert f"learningstudio job {job_id}" in out
    code, out, err = run(
        "wait", job_id, "--provider", served, "--speed", "200", "--quiet", "--store", store
    )
    assert code == 0, err
    assert "Pulleys" in out
    code, out, _ = run("jobs", "--store", store, "--status", "succeeded", "--json")
    assert [row["job_id"] for row in json.loads(out)] == [job_id]


def test_an_id_the_store_does_not_know_is_a_usage_error(tmp_path) -> None:
    """`status` with neither a token nor a stored id says so, with the usage exit code."""
    code, _, err = run("status", "no-such-job", "--store", f"sqlite:///{tmp_path / 'j.db'}")
    assert code == 2
    assert "no job 'no-such-job' in the job store" in err
