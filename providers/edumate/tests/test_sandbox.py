"""The EduMate simulator, spoken to in plain HTTP as the real server is.

No adapter here: these tests pin the simulator to what the server does (VENDORS.md
section 3, and seed 003 where the two agree), so that adapter tests run against an
independent reading.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import pytest

from coursegen.sandbox import Faults, JobScript
from coursegen.testing import vendor_client
from coursegen_edumate.sandbox import (
    DEFAULT_BLOOMS,
    DEMO_COLLECTION,
    EduMateSandbox,
    make_sandbox,
)

if TYPE_CHECKING:
    import httpx

pytestmark = pytest.mark.anyio

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
PDF = b"%PDF-1.7\n" + b"x" * 2500 + b"\n%%EOF\n"
ENDED = {"finished", "failed", "canceled", "stopped", "chunked", None}
SERVER_KEYS = ["question_no", "bloom_level", "question", "answer_options", "correct_answer"]
SERVER_KEYS.append("explaination")  # sic: the server's spelling
TIMEOUT_LINE = "rq.timeouts.JobTimeoutException: Task exceeded maximum timeout value (600 seconds)"


@pytest.fixture
def sandbox():
    return EduMateSandbox()


def connect(sandbox: EduMateSandbox) -> httpx.AsyncClient:
    return vendor_client(sandbox)


async def generate(
    client: httpx.AsyncClient, collection: str = DEMO_COLLECTION, **params: str
) -> httpx.Response:
    query = {"query": "Photosynthesis", "collection_name": collection, **params}
    return await client.post("/chat", params=query)


async def upload(
    client: httpx.AsyncClient, content: bytes = PDF, name: str = "leaf.pdf"
) -> httpx.Response:
    return await client.post("/chunking", files={"file": (name, content, "application/pdf")})


async def follow(
    sandbox: EduMateSandbox, client: httpx.AsyncClient, job_id: str, path: str = "/job_status"
) -> list[dict[str, Any]]:
    """Poll every 2.5 vendor seconds until the job ends or is gone; every body, in order."""
    seen = []
    while True:
        response = await client.get(path, params={"job_id": job_id})
        assert response.status_code == 200
        seen.append(response.json())
        if seen[-1]["status"] in ENDED:
            return seen
        await sandbox.sleep(2.5)


# -- generation ----------------------------------------------------------------------------


async def test_generation_takes_query_parameters_and_answers_queued(sandbox):
    """POST /chat?query&collection_name -> 200 {status: queued, job_id: <uuid4>}."""
    async with connect(sandbox) as client:
        response = await generate(client, blooms_requirements="2 apply")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "job_id"}
    assert body["status"] == "queued"
    assert UUID4.fullmatch(body["job_id"])
    job = sandbox.jobs[body["job_id"]]
    assert job.kind == "generation"
    assert dict(job.params) == {
        "query": "Photosynthesis",
        "collection_name": DEMO_COLLECTION,
        "blooms_requirements": "2 apply",
    }


async def test_blooms_requirements_defaults_to_the_servers_mix(sandbox):
    """Without blooms_requirements, the default mix of 20 questions is generated."""
    async with connect(sandbox) as client:
        job_id = (await generate(client)).json()["job_id"]
        final = (await follow(sandbox, client, job_id))[-1]
    assert sandbox.jobs[job_id].params["blooms_requirements"] == DEFAULT_BLOOMS
    levels = [q["bloom_level"] for q in final["result"]["mcqs"]]
    assert (
        levels
        == ["remember"] * 5
        + ["understand"] * 3
        + ["apply"] * 4
        + ["analyze"] * 3
        + ["evaluate"] * 2
        + ["create"] * 3
    )


@pytest.mark.parametrize(
    ("params", "missing"),
    [
        ({}, ["query", "collection_name"]),
        ({"query": "x"}, ["collection_name"]),
        ({"collection_name": "c"}, ["query"]),
    ],
)
async def test_missing_parameters_get_fastapis_422_and_create_nothing(sandbox, params, missing):
    """Each missing required query parameter is one `missing` entry of `detail`."""
    async with connect(sandbox) as client:
        response = await client.post("/chat", params=params)
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"type": "missing", "loc": ["query", name], "msg": "Field required", "input": None}
            for name in missing
        ]
    }
    assert sandbox.jobs == {}


async def test_a_json_body_is_no_substitute_for_query_parameters(sandbox):
    """The server reads query parameters only: the same fields as JSON are missing."""
    async with connect(sandbox) as client:
        response = await client.post(
            "/chat", json={"query": "x", "collection_name": DEMO_COLLECTION}
        )
    assert response.status_code == 422


async def test_no_authentication_is_asked_or_checked(sandbox):
    """Any Authorization header, or none, makes no difference."""
    async with connect(sandbox) as client:
        plain = await generate(client)
        odd = await client.post(
            "/chat",
            params={"query": "x", "collection_name": DEMO_COLLECTION},
            headers={"Authorization": "Bearer nonsense"},
        )
    assert plain.status_code == odd.status_code == 200


async def test_a_job_goes_queued_started_finished_in_the_servers_shape():
    """Polled every 2.5 s: queued, then started, then finished with the server's MCQs."""
    sandbox = EduMateSandbox(pickup_delay=(10.0, 10.0))
    sandbox.script(JobScript("succeed", duration=60))
    async with connect(sandbox) as client:
        job_id = (await generate(client, blooms_requirements="2 remember, 1 analyze")).json()[
            "job_id"
        ]
        seen = await follow(sandbox, client, job_id)
    words = [body["status"] for body in seen]
    assert words[0] == "queued"
    assert "started" in words
    assert words[-1] == "finished"
    assert words == sorted(words, key=["queued", "started", "finished"].index)
    assert all(set(body) == {"status"} for body in seen[:-1])
    mcqs = seen[-1]["result"]["mcqs"]
    assert [list(q) for q in mcqs] == [SERVER_KEYS] * 3
    assert [q["question_no"] for q in mcqs] == [1, 2, 3]
    assert [q["bloom_level"] for q in mcqs] == ["remember", "remember", "analyze"]
    for q in mcqs:
        assert len(q["answer_options"]) == 4
        assert "Photosynthesis" in q["question"]
    assert sandbox.jobs[job_id].ends_at == pytest.approx(60.0)


async def test_letter_answers_come_with_lettered_options():
    """letter_answer_rate=1: options read "A) ..." or "A. ...", answers are letters."""
    sandbox = EduMateSandbox(letter_answer_rate=1.0)
    async with connect(sandbox) as client:
        job_id = (await generate(client, blooms_requirements="4 apply")).json()["job_id"]
        mcqs = (await follow(sandbox, client, job_id))[-1]["result"]["mcqs"]
    for q in mcqs:
        assert re.fullmatch(r"[ABCD]", q["correct_answer"])
        assert [option[:1] for option in q["answer_options"]] == ["A", "B", "C", "D"]
        assert q["answer_options"][0][1:3] in {") ", ". "}


async def test_full_text_answers_name_an_option():
    """letter_answer_rate=0: every correct_answer is one of its options, word for word."""
    sandbox = EduMateSandbox(letter_answer_rate=0.0)
    async with connect(sandbox) as client:
        job_id = (await generate(client, blooms_requirements="4 create")).json()["job_id"]
        mcqs = (await follow(sandbox, client, job_id))[-1]["result"]["mcqs"]
    assert all(q["correct_answer"] in q["answer_options"] for q in mcqs)


async def test_an_unknown_collection_fails_with_the_servers_value_error(sandbox):
    """As on the real server: the job fails, its traceback ending `ValueError:
    Collection <name> not found`."""
    async with connect(sandbox) as client:
        job_id = (await generate(client, collection="edu_mate_nope")).json()["job_id"]
        final = (await follow(sandbox, client, job_id))[-1]
    assert final["status"] == "failed"
    assert final["error"].startswith("Traceback (most recent call last):")
    assert final["error"].rstrip().endswith("ValueError: Collection edu_mate_nope not found")


async def test_results_expire_500_s_after_finishing_and_unknown_jobs_are_null(sandbox):
    """A finished job reads null once its 500 s are up, like a job that never existed."""
    sandbox.script(JobScript("succeed", duration=60))
    async with connect(sandbox) as client:
        job_id = (await generate(client)).json()["job_id"]
        await sandbox.sleep(60 + 499)
        kept = (await client.get("/job_status", params={"job_id": job_id})).json()
        await sandbox.sleep(2)
        gone = (await client.get("/job_status", params={"job_id": job_id})).json()
        unknown = (await client.get("/job_status", params={"job_id": "no-such-job"})).json()
    assert kept["status"] == "finished"
    assert gone == unknown == {"status": None}


async def test_a_failure_is_a_whole_traceback_kept_a_year(sandbox):
    """A failed job reports the Python traceback, long after a result would have expired."""
    sandbox.script(JobScript("fail", duration=30))
    async with connect(sandbox) as client:
        job_id = (await generate(client)).json()["job_id"]
        final = (await follow(sandbox, client, job_id))[-1]
        await sandbox.sleep(600)
        later = (await client.get("/job_status", params={"job_id": job_id})).json()
    assert set(final) == {"status", "error"}
    assert final["status"] == "failed"
    lines = final["error"].strip().splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert any(line.startswith('  File "') for line in lines)
    assert lines[-1] == "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)"
    assert later == final
    job = sandbox.jobs[job_id]
    assert job.kept_until - job.ends_at == 365 * 24 * 3600


async def test_scripted_failures_choose_their_last_line(sandbox):
    """error_code names the exception, error_message the text; no code leaves it bare."""
    sandbox.script(
        JobScript("fail", duration=10, error_code="ValueError", error_message="bad mix"),
        JobScript("fail", duration=10, error_code=None, error_message="Connection timeout"),
    )
    async with connect(sandbox) as client:
        first = (await generate(client)).json()["job_id"]
        second = (await generate(client)).json()["job_id"]
        one = (await follow(sandbox, client, first))[-1]["error"]
        two = (await follow(sandbox, client, second))[-1]["error"]
    assert one.strip().splitlines()[-1] == "ValueError: bad mix"
    assert two.strip().splitlines()[-1] == "Connection timeout"


async def test_a_job_over_600_s_fails_with_rqs_timeout(sandbox):
    """A job that would run 700 s fails 600 s after it started, with JobTimeoutException."""
    sandbox.script(JobScript("succeed", duration=700))
    async with connect(sandbox) as client:
        job_id = (await generate(client)).json()["job_id"]
        final = (await follow(sandbox, client, job_id))[-1]
    job = sandbox.jobs[job_id]
    assert final["status"] == "failed"
    assert final["error"].strip().splitlines()[-1] == TIMEOUT_LINE
    assert job.ends_at == pytest.approx(job.started_at + 600)


async def test_scripted_statuses_include_rqs_intermediate_words(sandbox):
    """deferred and scheduled (or any word) are reported in order before the outcome."""
    statuses = ("deferred", "scheduled", "queued", "started")
    sandbox.script(JobScript("succeed", duration=40, statuses=statuses))
    async with connect(sandbox) as client:
        job_id = (await generate(client)).json()["job_id"]
        words = [body["status"] for body in await follow(sandbox, client, job_id)]
    reported = [word for word in words if word != "finished"]
    assert [w for i, w in enumerate(reported) if i == 0 or reported[i - 1] != w] == list(statuses)
    assert words[-1] == "finished"


async def test_cancel_and_expire_outcomes(sandbox):
    """A cancel outcome ends `canceled`; an expire outcome is null the moment it ends."""
    sandbox.script(JobScript("cancel", duration=20), JobScript("expire", duration=20))
    async with connect(sandbox) as client:
        cancelled = (await generate(client)).json()["job_id"]
        expired = (await generate(client)).json()["job_id"]
        assert (await follow(sandbox, client, cancelled))[-1] == {"status": "canceled"}
        seen = await follow(sandbox, client, expired)
    assert seen[-1] == {"status": None}
    assert "finished" not in [body["status"] for body in seen]


async def test_cancel_is_canceled_while_queued_and_stopped_once_started():
    """`cancel()`: a queued job reads canceled, a started one stopped."""
    sandbox = EduMateSandbox(pickup_delay=(5.0, 5.0))
    async with connect(sandbox) as client:
        queued = (await generate(client)).json()["job_id"]
        sandbox.cancel(queued)  # which frees the one worker for the next job
        started = (await generate(client)).json()["job_id"]
        await sandbox.sleep(10)
        sandbox.cancel(started)
        await sandbox.sleep(1)
        one = (await client.get("/job_status", params={"job_id": queued})).json()
        two = (await client.get("/job_status", params={"job_id": started})).json()
    assert one == {"status": "canceled"}
    assert two == {"status": "stopped"}


async def test_one_worker_runs_jobs_one_after_another():
    """With one worker a second job waits queued until the first ends; two run together."""
    for workers, overlap in ((1, False), (2, True)):
        sandbox = EduMateSandbox(workers=workers)
        async with connect(sandbox) as client:
            first = sandbox.jobs[(await generate(client)).json()["job_id"]]
            second = sandbox.jobs[(await generate(client)).json()["job_id"]]
        assert (second.started_at < first.ends_at) is overlap
        if not overlap:
            assert second.started_at == first.ends_at


async def test_random_failures_follow_failure_rate():
    """failure_rate=1 fails every unscripted job."""
    sandbox = EduMateSandbox(failure_rate=1.0, workers=3)
    async with connect(sandbox) as client:
        ids = [(await generate(client)).json()["job_id"] for _ in range(3)]
        finals = [(await follow(sandbox, client, job_id))[-1] for job_id in ids]
    assert [final["status"] for final in finals] == ["failed"] * 3


# -- chunking ------------------------------------------------------------------------------


async def test_an_upload_is_chunked_into_a_new_collection(sandbox):
    """POST /chunking (multipart file) -> queued with edu_mate_<hex>; status ends chunked."""
    async with connect(sandbox) as client:
        answer = await upload(client)
        body = answer.json()
        seen = await follow(sandbox, client, body["job_id"], "/chunking/status")
    assert answer.status_code == 200
    assert set(body) == {"status", "job_id", "collection_name"}
    assert body["status"] == "queued"
    assert UUID4.fullmatch(body["job_id"])
    assert re.fullmatch(r"edu_mate_[0-9a-f]{12}", body["collection_name"])
    assert seen[-1] == {
        "status": "chunked",
        "result": {
            "stored": True,
            "chunks": 3,
            "source": "leaf.pdf",
            "collection_name": body["collection_name"],
        },
    }
    assert sandbox.chunking_jobs[0].id == body["job_id"]
    assert body["collection_name"] in sandbox.collections


async def test_a_chunked_collection_can_be_generated_from_and_not_before():
    """Generating from a new collection fails (not found) before it is chunked, gives
    MCQs after."""
    # Two workers: with one, the generation job would wait for the chunking job.
    sandbox = EduMateSandbox(workers=2)
    sandbox.script(JobScript("succeed", duration=20))
    async with connect(sandbox) as client:
        chunking = (await upload(client)).json()
        collection = chunking["collection_name"]
        early = (await generate(client, collection=collection)).json()["job_id"]
        await follow(sandbox, client, chunking["job_id"], "/chunking/status")
        late = (await generate(client, collection=collection)).json()["job_id"]
        early_final = (await follow(sandbox, client, early))[-1]
        late_final = (await follow(sandbox, client, late))[-1]
    assert early_final["status"] == "failed"
    assert f"Collection {collection} not found" in early_final["error"]
    assert late_final["result"]["mcqs"]


async def test_a_file_that_is_not_a_pdf_is_chunked_into_nothing(sandbox):
    """As on the real server: the upload is queued, ends `chunked` with 0 chunks, and a
    generation from its collection finishes with a null result."""
    async with connect(sandbox) as client:
        response = await upload(client, b"plain notes", "notes.txt")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "queued"
        chunked = (await follow(sandbox, client, body["job_id"], "/chunking/status"))[-1]
        job_id = (await generate(client, collection=body["collection_name"])).json()["job_id"]
        final = (await follow(sandbox, client, job_id))[-1]
    assert chunked["status"] == "chunked"
    assert chunked["result"]["chunks"] == 0
    assert chunked["result"]["source"] == "notes.txt"
    assert final == {"status": "finished", "result": None}


@pytest.mark.parametrize(
    "send",
    [
        {"data": {"other": "x"}},
        {"files": {"document": ("a.pdf", PDF, "application/pdf")}},
        {"content": PDF, "headers": {"Content-Type": "application/pdf"}},
    ],
)
async def test_an_upload_without_file_gets_422(sandbox, send):
    """No multipart field `file`: FastAPI's 422 naming body.file."""
    async with connect(sandbox) as client:
        response = await client.post("/chunking", **send)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "file"]
    assert response.json()["detail"][0]["type"] == "missing"


async def test_a_failed_chunking_job_reports_its_traceback(sandbox):
    """A scripted chunking failure ends failed with a traceback."""
    sandbox.script(JobScript("fail", duration=10))
    async with connect(sandbox) as client:
        job_id = (await upload(client)).json()["job_id"]
        final = (await follow(sandbox, client, job_id, "/chunking/status"))[-1]
    assert final["status"] == "failed"
    assert final["error"].strip().splitlines()[-1] == (
        "pypdf.errors.PdfReadError: EOF marker not found"
    )


async def test_each_status_endpoint_knows_its_own_kind_only(sandbox):
    """A chunking job is null at /job_status, a generation job null at /chunking/status."""
    async with connect(sandbox) as client:
        chunking = (await upload(client)).json()["job_id"]
        generation = (await generate(client)).json()["job_id"]
        one = await client.get("/job_status", params={"job_id": chunking})
        two = await client.get("/chunking/status", params={"job_id": generation})
    assert one.json() == two.json() == {"status": None}


@pytest.mark.parametrize("path", ["/job_status", "/chunking/status"])
async def test_status_without_job_id_gets_422(sandbox, path):
    """job_id is a required query parameter of both status endpoints."""
    async with connect(sandbox) as client:
        response = await client.get(path)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "job_id"]


# -- the server itself ---------------------------------------------------------------------


async def test_redis_down_is_a_plain_text_500_everywhere(sandbox):
    """redis_down answers every endpoint with text/plain `Internal Server Error`."""
    async with connect(sandbox) as client:
        job_id = (await generate(client)).json()["job_id"]
        sandbox.redis_down = True
        answers = [
            await generate(client),
            await client.get("/job_status", params={"job_id": job_id}),
            await upload(client),
            await client.get("/chunking/status", params={"job_id": job_id}),
        ]
        sandbox.redis_down = False
        healed = await client.get("/job_status", params={"job_id": job_id})
    for response in answers:
        assert response.status_code == 500
        assert response.text == "Internal Server Error"
        assert response.headers["content-type"].startswith("text/plain")
    assert healed.status_code == 200
    assert len(sandbox.jobs) == 1


async def test_an_injected_error_is_the_same_plain_text_500():
    """Faults.error_rate injects the server's own plain-text 500; nothing is processed."""
    sandbox = EduMateSandbox(faults=Faults(error_rate=1.0))
    async with connect(sandbox) as client:
        response = await generate(client)
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert sandbox.jobs == {}


async def test_unknown_routes_and_methods_answer_like_fastapi(sandbox):
    """An unknown path is 404 {"detail": "Not Found"}, a wrong method 405."""
    async with connect(sandbox) as client:
        missing = await client.get("/api/v1/jobs")
        wrong = await client.get("/chat")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    assert wrong.status_code == 405
    assert wrong.json() == {"detail": "Method Not Allowed"}


async def test_polls_are_recorded_with_their_vendor_times(sandbox):
    """polls[job_id] holds the vendor time of every status GET."""
    async with connect(sandbox) as client:
        job_id = (await generate(client)).json()["job_id"]
        for _ in range(3):
            await client.get("/job_status", params={"job_id": job_id})
            await sandbox.sleep(2.5)
    assert len(sandbox.polls[job_id]) == 3
    assert sandbox.polls[job_id] == [0.0, 2.5, 5.0]


async def test_same_seed_same_jobs_and_scripts_do_not_shift_the_others():
    """Ids and timings come from the seed; scripting one job leaves the others' unchanged."""

    async def run(*, script: bool) -> list[tuple[str, float]]:
        sandbox = EduMateSandbox(seed=7, workers=3)
        if script:
            sandbox.script(JobScript("fail", duration=5))
        async with connect(sandbox) as client:
            ids = [(await generate(client)).json()["job_id"] for _ in range(3)]
        return [
            (job_id, sandbox.jobs[job_id].ends_at - sandbox.jobs[job_id].created_at)
            for job_id in ids
        ]

    plain, scripted = await run(script=False), await run(script=True)
    assert [job_id for job_id, _ in plain] == [job_id for job_id, _ in scripted]
    assert [took for _, took in plain[1:]] == pytest.approx(
        [took for _, took in scripted[1:]], abs=0.01
    )


def test_make_sandbox_builds_the_simulator_with_options():
    """make_sandbox(**options) is the factory the plugin registers."""
    sandbox = make_sandbox(speed=50.0, seed=9, workers=2, letter_answer_rate=0.0)
    assert isinstance(sandbox, EduMateSandbox)
    assert (sandbox.name, sandbox.base_url) == ("edumate", "http://localhost:8000")
    assert (sandbox.speed, sandbox.seed, sandbox.workers) == (50.0, 9, 2)
    assert sandbox.demo_key == ""
    assert sandbox.collections == {DEMO_COLLECTION: 0.0}
    assert (sandbox.job_timeout, sandbox.result_ttl) == (600.0, 500.0)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"failure_rate": 2}, "failure_rate"),
        ({"letter_answer_rate": -0.1}, "letter_answer_rate"),
        ({"generation_duration": (120, 60)}, "generation_duration"),
        ({"workers": 0}, "workers"),
        ({"result_ttl": 0}, "result_ttl"),
    ],
)
def test_options_are_validated(options, fragment):
    """Impossible options are refused up front."""
    with pytest.raises(ValueError, match=fragment):
        EduMateSandbox(**options)


def test_all_four_outcomes_can_be_scripted():
    """succeed, fail, cancel and expire are all outcomes this vendor produces."""
    sandbox = EduMateSandbox()
    sandbox.script(*(JobScript(outcome) for outcome in ("succeed", "fail", "cancel", "expire")))


async def test_minutes_of_vendor_time_take_almost_no_real_time(sandbox):
    """Following five 30-120 s jobs on one worker at a 2.5 s cadence takes under 2 s."""
    real = time.perf_counter()
    async with connect(sandbox) as client:
        ids = [(await generate(client)).json()["job_id"] for _ in range(5)]
        for job_id in ids:
            assert (await follow(sandbox, client, job_id))[-1]["status"] == "finished"
    assert sandbox.vendor_now() >= 150
    assert time.perf_counter() - real < 2
