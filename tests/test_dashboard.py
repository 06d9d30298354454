"""The dashboard over a job store: its pages, the operator's retry, and a real browser."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from playwright.sync_api import sync_playwright

import coursegen
from coursegen.batch import read_batch, run_batch
from coursegen.dashboard import StoreSource, create_app
from coursegen.sandbox import JobScript
from coursegen_learningstudio.sandbox import LearningStudioSandbox

# The store works in threads, which a virtual clock would jump over: real clock, outcomes.
FAST = 100.0
SUBJECTS = ("Workplace safety basics", "Knots for sailors", "First aid at work", "Excel formulas")
CHROMIUM = "/usr/bin/chromium"
# No network on this machine, and nothing of the browser's own must try to reach it.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@pytest.fixture(autouse=True)
def no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no provider or store configured in the environment."""
    for name in ("COURSEGEN_URL", "COURSEGEN_CONFIG", "COURSEGEN_STORE", "LEARNINGSTUDIO_API_KEY"):
        monkeypatch.delenv(name, raising=False)


async def populate(store: str, folder: Path, sandbox: LearningStudioSandbox) -> None:
    """A small catalogue on the sandbox, its second job failed by the vendor."""
    path = folder / "autumn.txt"
    path.write_text("".join(f"{subject}\n" for subject in SUBJECTS))
    _, rows = read_batch(path)
    sandbox.script(
        JobScript("succeed"),
        JobScript("fail", error_code="GENERATION_FAILED", error_message="Outline rejected"),
    )
    async with coursegen.connect("learningstudio", sandbox=sandbox, store=store) as client:
        await run_batch(client, rows)


@pytest.mark.real_clock
@pytest.mark.anyio
async def test_pages_list_jobs_by_status_and_a_retry_submits_the_failed_one(tmp_path: Path) -> None:
    """The list filters by status, a failed job's page shows its typed error, and an
    operator's retry (same origin only) submits its request again as the next attempt."""
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    sandbox = LearningStudioSandbox(speed=FAST)
    await populate(store, tmp_path, sandbox)
    async with coursegen.connect("learningstudio", sandbox=sandbox, store=store) as client:
        assert client.store is not None
        app = create_app(StoreSource(client.store, client=client))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dash") as http:
            listing = (await http.get("/")).text
            assert all(subject.lower() in listing.lower() for subject in SUBJECTS)
            failed_page = (await http.get("/", params={"status": "failed"})).text
            assert SUBJECTS[1] in failed_page
            assert SUBJECTS[0].lower() not in failed_page.lower()
            failed = next(job for job in await client.jobs() if job.title == SUBJECTS[1])
            page = (await http.get(f"/jobs/{failed.id}")).text
            assert "JobFailed" in page
            assert "GENERATION_FAILED" in page
            assert "Outline rejected" in page
            foreign = await http.post(
                f"/jobs/{failed.id}/retry", headers={"origin": "https://elsewhere.example"}
            )
            assert foreign.status_code == 403
            retried = await http.post(f"/jobs/{failed.id}/retry", headers={"origin": "http://dash"})
            assert retried.status_code == 303
            assert retried.headers["location"].endswith(f"/jobs/{failed.id}~2?retried={failed.id}")
            budgets = (await http.get("/budgets")).text
        again = await client.job(f"{failed.id}~2")
        assert again is not None
        assert again.request == failed.request
        assert "learningstudio" in budgets
        assert "<svg" in budgets


# -- the browser test ------------------------------------------------------------------------


def _chromium() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    reason = "Debian's chromium is not installed (apt-get install chromium)"
    if os.environ.get("COURSEGEN_REQUIRE_SERVICES") == "1":
        pytest.fail(reason + "; COURSEGEN_REQUIRE_SERVICES=1 requires it")
    pytest.skip(reason)


@pytest.fixture
def served_dashboard(tmp_path: Path) -> Iterator[str]:
    """A populated store, and `coursegen dashboard` serving it in its own process."""
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    anyio.run(populate, store, tmp_path, LearningStudioSandbox(speed=FAST))
    process = subprocess.Popen(  # noqa: S603 - our own command, run by this Python
        [sys.executable, "-m", "coursegen", "dashboard", "--store", store, "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("coursegen dashboard on http://127.0.0.1:"), first
        yield first.split(" on ", 1)[1].split(" ", 1)[0]
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_the_dashboard_in_a_browser(served_dashboard: str, tmp_path: Path) -> None:
    """In headless Chromium: the job list shows the batch's jobs by status; clicking a job
    opens its page with its status, timeline and course; a failed one shows its error."""
    executable = _chromium()

    shots = Path(os.environ.get("COURSEGEN_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        browser = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=list(CHROMIUM_FLAGS),
            viewport={"width": 1200, "height": 760},
        )
        try:
            page = browser.new_page()
            page.goto(served_dashboard)
            rows = page.locator("table.jobs tr.job")
            assert rows.count() == len(SUBJECTS)
            assert page.locator("nav.tabs a.status-failed .count").inner_text() == "1"
            assert page.locator("table.fleets td.eta").inner_text() == "done"
            page.screenshot(path=str(shots / "dashboard-jobs.png"), full_page=True)

            page.locator("a.job-link", has_text="Workplace Safety Basics").click()
            page.wait_for_url("**/jobs/*")
            assert page.locator("#status").inner_text() == "succeeded"
            assert page.locator("#course-title").inner_text() == "Workplace Safety Basics"
            assert "learningstudioai.com/go/cou_" in page.locator("#share-url").inner_text()
            timeline = page.locator("ol.timeline li").all_inner_texts()
            assert len(timeline) >= 2
            assert "succeeded" in timeline[-1]
            page.screenshot(path=str(shots / "dashboard-job.png"), full_page=True)

            page.go_back()
            page.locator("nav.tabs a.status-failed").click()
            assert page.locator("table.jobs tr.job").count() == 1
            page.locator("a.job-link").click()
            page.wait_for_url("**/jobs/*")
            assert page.locator(".error-type").inner_text() == "JobFailed"
            assert "Outline rejected" in page.locator("#failure").inner_text()
            assert page.locator("#retry").is_visible()
        finally:
            browser.close()
