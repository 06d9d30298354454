"""The CLI's job store: `coursegen jobs` lists what was submitted, `status`/`wait` take an id."""

from __future__ import annotations

import json

import test_cli
from coursegen._job import JobToken
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


def test_status_by_id_of_an_in_process_sandbox_job_never_asks_for_a_key(
    tmp_path, monkeypatch
) -> None:
    """`status ID` / `wait ID` of a job the in-process sandbox ran: a finished one is
    shown from the store; an unfinished one is said to be unfollowable from another
    process. Neither asks for an API key."""
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    code, out, err = run("generate", "Knots", "--speed", "1000", "--json", "--store", store)
    assert code == 0, err
    done = json.loads(out)["job_id"]
    monkeypatch.setenv("COURSEGEN_SANDBOX_SEED", "1")  # another sandbox: other job ids
    code, out, err = run("generate", "Pulleys", "--no-wait", "--json", "--store", store)
    assert code == 0, err
    pending = json.loads(out)["job_id"]

    code, out, err = run("status", done, "--store", store)
    assert code == 0, err
    assert f"learningstudio job {done}: succeeded" in out
    code, out, err = run("wait", done, "--store", store)
    assert code == 0, err
    assert "Knots" in out

    for command in ("status", "wait"):
        code, out, err = run(command, pending, "--store", store)
        assert code == 2
        assert "lived in an in-process sandbox" in err
        assert "API key" not in err
        assert "API_KEY" not in err


def test_the_stored_token_of_an_in_process_sandbox_job_says_so(tmp_path) -> None:
    """A sandbox job is stored under its own endpoint (`sandbox:` and the vendor's host),
    apart from the real vendor's jobs: its stored token says it was in-process."""
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    code, out, err = run("generate", "Pulleys", "--no-wait", "--json", "--store", store)
    assert code == 0, err
    code, out, _ = run("jobs", "--store", store, "--json")
    (row,) = json.loads(out)
    token = JobToken.decode(row["token"])
    assert token.sandbox
    assert token.host == "learningstudioai.com"
