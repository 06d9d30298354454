"""The fault-injection soak: many jobs across every provider, on simulators that misbehave.

Each provider's simulator runs with the same fault knobs (`FAULTS`: 10% 5xx, 5% resets
before the vendor saw a request, 5% after it processed one, a create included, 2%
unreadable bodies, 1% stalls), on virtual time. Every job is submitted at once and
awaited to its end; what became of each is counted, and so is what the vendor holds:

- results, and typed errors by class (a create whose answer was lost is
  `SubmitOutcomeUnknown`: the user was told; a PDF job whose generation create's answer
  was lost ends `JobFailed:submit_outcome_unknown`);
- untyped: anything else that escaped (must be 0);
- hangs: jobs not settled within `HANG_AFTER` vendor seconds (must be 0);
- orphans: vendor jobs nobody holds a handle for (a create processed, its answer lost;
  0 where creates are idempotent: TutorFlow);
- duplicates: submissions the vendor made more than one job for (must be 0).

`tests/test_soak.py` runs a small soak with these assertions in the normal suite; `nox -s
soak` runs 1,000 jobs on both backends and prints the table (`COURSEGEN_SOAK_JOBS`).

A soak is reproducible: the same seed gives the same requests, faults and figures on
each backend, run after run. Every random draw is seeded (the sandboxes' vendor and
fault RNGs, the clients' jitter), time is virtual, and on trio the scheduling is pinned
(`reproducible_scheduling`): trio on purpose runs the tasks that are ready together in a
random order, and wakes tasks whose deadlines are equal in the order of their memory
addresses. Left so, the order in which a thousand jobs' requests reach a sandbox, hence
which of them draw which fault, changes from run to run (886 to 892 results of 1,000).
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import attrs
import sniffio

import coursegen
from coursegen import AssessmentRequest, CourseRequest
from coursegen.sandbox import Faults
from coursegen_edumate.sandbox import EduMateSandbox
from coursegen_learningstudio.sandbox import LearningStudioSandbox
from coursegen_tutorflow.sandbox import TutorFlowSandbox

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from coursegen.sandbox import Sandbox

PROVIDERS = ("learningstudio", "tutorflow", "edumate")
FAULTS = Faults(
    error_rate=0.10,
    reset_before_rate=0.05,
    reset_after_rate=0.05,
    malformed_rate=0.02,
    stall_rate=0.01,
)
SANDBOXES: dict[str, Callable[..., Sandbox]] = {
    "learningstudio": LearningStudioSandbox,
    "tutorflow": TutorFlowSandbox,
    # Eight RQ workers: with the server's default one, a third of 1,000 jobs of one to
    # two minutes each would queue for hours.
    "edumate": partial(EduMateSandbox, workers=8),
}
PDF_EVERY = 4
"""Every fourth EduMate job is made from a PDF (two vendor jobs, the second created by
the engine from a poll: its create's answer can be lost too)."""
PDF = b"%PDF-1.7\n" + b"soak " * 400 + b"\n%%EOF\n"
HANG_AFTER = 4 * 3600.0
"""Vendor seconds a job may take to settle before it counts as hung (jobs take minutes)."""


@attrs.define
class Report:
    """What one provider's share of the soak came to."""

    provider: str
    jobs: int
    outcomes: Counter[str] = attrs.field(factory=Counter)
    orphans: int = 0
    duplicates: int = 0
    requests: int = 0
    faults: Counter[str] = attrs.field(factory=Counter)
    log: list[tuple[Any, ...]] = attrs.field(factory=list, repr=False)
    """Every request the simulator saw, in order: vendor time (to the microsecond: a
    later run on the same loop starts its clock at another float), method, path, query,
    status and fault. Two runs with one seed must match to the last request."""

    @property
    def results(self) -> int:
        return self.outcomes["result"]

    @property
    def hangs(self) -> int:
        return self.outcomes["hang"]

    @property
    def untyped(self) -> int:
        return sum(n for kind, n in self.outcomes.items() if kind.startswith("untyped:"))

    @property
    def typed(self) -> Counter[str]:
        return Counter(
            {
                kind: n
                for kind, n in self.outcomes.items()
                if kind not in {"result", "hang"} and not kind.startswith("untyped:")
            }
        )


def _request(provider: str, sandbox: Sandbox, number: int) -> coursegen.Request:
    subject = f"Soak {provider} {number}"
    if provider == "edumate" and number % PDF_EVERY == PDF_EVERY - 1:
        # A PDF job: chunking, then a generation job whose create goes out from a poll.
        return AssessmentRequest(topic=subject, source=PDF, source_name=f"soak-{number}.pdf")
    if provider == "edumate":
        return AssessmentRequest(topic=subject, collection=sandbox.demo_collection)
    return CourseRequest(subject=subject)


def _outcome(exc: coursegen.CourseGenError) -> str:
    """An error's class; a failed job's with its code (`JobFailed:submit_outcome_unknown`)."""
    if isinstance(exc, coursegen.JobFailed) and exc.snapshot is not None and exc.snapshot.error:
        return f"JobFailed:{exc.snapshot.error.code}"
    return type(exc).__name__


def _vendor_jobs(provider: str, sandbox: Any) -> dict[str, str]:
    """Every job the simulator made, by id: the subject it was asked for."""
    if provider == "edumate":
        return {
            job.id: job.params["query"] for job in sandbox.jobs.values() if job.kind == "generation"
        }
    field = "prompt" if provider == "tutorflow" else "subject"
    return {job_id: job.request[field] for job_id, job in sandbox.jobs.items()}


async def soak_provider(provider: str, jobs: int, *, seed: int = 0) -> Report:
    """Submit `jobs` jobs to `provider`'s faulty simulator at once; follow each to its end."""
    report = Report(provider, jobs)
    held: set[str] = set()
    sandbox = SANDBOXES[provider](seed=seed, faults=attrs.evolve(FAULTS))
    async with coursegen.connect(provider, sandbox=sandbox, seed=seed) as client:

        async def one(number: int) -> None:
            outcome = "hang"
            job: coursegen.Job | None = None
            try:
                with anyio.move_on_after(HANG_AFTER):
                    job = await client.submit(_request(provider, sandbox, number))
                    held.add(job.id)
                    await job.result(timeout=None)
                    outcome = "result"
            except coursegen.CourseGenError as exc:
                outcome = _outcome(exc)
            except Exception as exc:  # noqa: BLE001 - counting what escapes is the point
                outcome = f"untyped:{type(exc).__name__}"
            if job is not None:
                held.add(job.id)  # a PDF job's id is its generation job's once that began
            report.outcomes[outcome] += 1

        async with anyio.create_task_group() as tg:
            for number in range(jobs):
                tg.start_soon(one, number)
        made = _vendor_jobs(provider, sandbox)
        report.orphans = sum(job_id not in held for job_id in made)
        report.duplicates = sum(n > 1 for n in Counter(made.values()).values())
        report.requests = len(sandbox.requests)
        report.faults = Counter(r.fault for r in sandbox.requests if r.fault is not None)
        report.log = [
            (round(r.vendor_time, 6), r.method, r.path, r.query, r.status, r.fault)
            for r in sandbox.requests
        ]
    return report


@contextmanager
def reproducible_scheduling(seed: int) -> Iterator[None]:
    """On trio, run ready tasks in an order that depends only on `seed`; a no-op on
    asyncio, whose ready queue is first in, first out and whose timers keep their order.

    trio shuffles each batch of ready tasks with a module-level RNG seeded from the OS,
    unless `_ALLOW_DETERMINISTIC_SCHEDULING` is set (the hook trio gives Hypothesis):
    then it sorts the batch by task creation order before shuffling it with that RNG,
    which is what makes the order independent of memory addresses too. Both are trio's
    private names, pinned here for the soak's duration and restored after.
    """
    if sniffio.current_async_library() != "trio":
        yield
        return
    from trio._core import _run  # noqa: PLC0415 - only on trio; trio's own test hook

    flag = _run._ALLOW_DETERMINISTIC_SCHEDULING
    state = _run._r.getstate()
    _run._ALLOW_DETERMINISTIC_SCHEDULING = True
    _run._r.seed(seed)
    try:
        yield
    finally:
        _run._ALLOW_DETERMINISTIC_SCHEDULING = flag
        _run._r.setstate(state)


async def soak(jobs: int, *, seed: int = 0) -> list[Report]:
    """`jobs` jobs shared across the providers, each provider's run at the same time;
    the same `jobs` and `seed` give the same reports on each backend."""
    reports: dict[str, Report] = {}
    shares = [jobs // len(PROVIDERS) + (i < jobs % len(PROVIDERS)) for i in range(3)]

    async def run(provider: str, share: int) -> None:
        reports[provider] = await soak_provider(provider, share, seed=seed)

    with reproducible_scheduling(seed):
        async with anyio.create_task_group() as tg:
            for provider, share in zip(PROVIDERS, shares, strict=True):
                tg.start_soon(run, provider, share)
    return [reports[provider] for provider in PROVIDERS]


def table(reports: Iterable[Report], backend: str) -> str:
    """The soak's figures, one row per provider and a total."""
    reports = list(reports)
    lines = [
        f"fault soak on {backend} (virtual time): {FAULTS}",
        (
            f"{'provider':15} {'jobs':>5} {'results':>7} {'untyped':>7} {'hangs':>5} "
            f"{'orphans':>7} {'dupes':>5} {'requests':>8}  typed errors by class"
        ),
    ]
    total = Report("total", 0)
    for report in reports:
        typed = ", ".join(f"{kind} {n}" for kind, n in sorted(report.typed.items())) or "-"
        lines.append(
            f"{report.provider:15} {report.jobs:5} {report.results:7} {report.untyped:7} "
            f"{report.hangs:5} {report.orphans:7} {report.duplicates:5} {report.requests:8}  "
            f"{typed}"
        )
        total.jobs += report.jobs
        total.outcomes.update(report.outcomes)
        total.orphans += report.orphans
        total.duplicates += report.duplicates
        total.requests += report.requests
        total.faults.update(report.faults)
    typed = ", ".join(f"{kind} {n}" for kind, n in sorted(total.typed.items())) or "-"
    lines.append(
        f"{'total':15} {total.jobs:5} {total.results:7} {total.untyped:7} {total.hangs:5} "
        f"{total.orphans:7} {total.duplicates:5} {total.requests:8}  {typed}"
    )
    faults = ", ".join(f"{kind} {n}" for kind, n in sorted(total.faults.items()))
    lines.append(f"faults injected: {faults}")
    return "\n".join(lines)
