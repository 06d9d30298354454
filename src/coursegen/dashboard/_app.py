"""The dashboard: a small Starlette app, server-rendered, over a `DashboardSource`.

Pages: `/` (the fleet of each batch with its ETA, jobs by status with filters),
`/jobs/{ref}` (a job's timeline of snapshots, its result or typed error), `/budgets`
(each rate budget's use and 429s over time, as inline SVG). Everything is read-only
except `POST /jobs/{ref}/retry`, an operator's retry of a failed job, accepted only
from the dashboard's own pages (same origin). `static/live.js` (plain JS, no framework,
nothing from a CDN) refreshes the live parts of a page every few seconds.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from coursegen._batch import duration_text
from coursegen._errors import ConfigurationError, CourseGenError
from coursegen._models import Assessment, Course, JobStatus

from ._plot import budget_series, svg_plot
from ._source import JobQuery

if TYPE_CHECKING:
    from collections.abc import Sequence

    from starlette.requests import Request

    from ._source import DashboardSource, FleetSample, JobDetail

__all__ = ["create_app"]

_STATIC = __package__ or "coursegen.dashboard"
STATUSES = (*(status.value for status in JobStatus), "unknown")


def _environment() -> Any:
    try:
        import jinja2  # noqa: PLC0415 - optional: only the dashboard needs it
    except ImportError as exc:
        raise ConfigurationError(
            "the dashboard needs jinja2: install coursegen[dashboard]"
        ) from exc
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(_STATIC, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["ago"] = _ago
    env.filters["duration"] = duration_text
    env.filters["percent"] = lambda value: "--" if value is None else f"{value:.0%}"
    return env


def _ago(moment: datetime | None) -> str:
    if moment is None:
        return "--"
    return duration_text((datetime.now(UTC) - moment).total_seconds()) + " ago"


def _latest_by_batch(samples: Sequence[FleetSample]) -> list[dict[str, Any]]:
    """Each batch's last sample, its ETA counted down from when it was taken."""
    latest: dict[str, FleetSample] = {}
    for sample in samples:
        if sample.batch not in latest or sample.at >= latest[sample.batch].at:
            latest[sample.batch] = sample
    now = datetime.now(UTC)
    rows = []
    for sample in sorted(latest.values(), key=lambda s: s.at, reverse=True):
        remaining = None
        if sample.eta is not None:
            remaining = max(sample.eta - (now - sample.at).total_seconds(), 0.0)
        done = sample.succeeded + sample.failed + sample.unfinished
        finished = done == sample.total and sample.running == 0 and sample.queued == 0
        rows.append({"sample": sample, "done": done, "remaining": remaining, "finished": finished})
    return rows


def create_app(source: DashboardSource, *, refresh: float = 5.0) -> Starlette:
    """The dashboard over `source`; `refresh` is how often live parts update (seconds)."""
    pages = _Pages(source, refresh=refresh)
    return Starlette(
        routes=[
            Route("/", pages.jobs, name="jobs"),
            Route("/budgets", pages.budgets, name="budgets"),
            Route("/jobs/{ref:path}/retry", pages.retry, methods=["POST"], name="retry"),
            Route("/jobs/{ref:path}", pages.job, name="job"),
            Mount("/static", StaticFiles(packages=[(_STATIC, "static")]), name="static"),
        ],
        exception_handlers={HTTPException: pages.error},
    )


class _Pages:
    def __init__(self, source: DashboardSource, *, refresh: float) -> None:
        self.source = source
        self.refresh = refresh
        self.env = _environment()

    def render(
        self, request: Request, template: str, *, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        page = self.env.get_template(template).render(
            request=request,
            url_for=request.url_for,
            refresh=self.refresh if status_code == 200 else 0,  # noqa: PLR2004 - HTTP OK
            rendered_at=time.strftime("%H:%M:%S"),
            **context,
        )
        return HTMLResponse(page, status_code=status_code)

    @staticmethod
    def query_of(request: Request) -> JobQuery:
        params = request.query_params
        status = params.get("status") or None
        if status is not None and status not in STATUSES:
            raise HTTPException(400, f"unknown status {status!r}")
        return JobQuery(
            status=status,
            provider=params.get("provider") or None,
            batch=params.get("batch") or None,
        )

    async def detail(self, ref: str) -> JobDetail:
        detail = await self.source.job(ref)
        if detail is None:
            raise HTTPException(404, f"no job {ref!r} in this store")
        return detail

    async def jobs(self, request: Request) -> Response:
        query = self.query_of(request)
        source = self.source
        everything = await source.jobs(JobQuery(provider=query.provider, batch=query.batch))
        counts = Counter(job.status for job in everything)
        jobs = await source.jobs(query) if query.status else everything
        all_jobs = await source.jobs(JobQuery()) if query.provider or query.batch else everything
        samples = await source.samples()
        return self.render(
            request,
            "jobs.html",
            query=query,
            jobs=jobs,
            counts=counts,
            total=len(everything),
            statuses=STATUSES,
            providers=sorted({job.provider for job in all_jobs}),
            batches=sorted({job.batch for job in all_jobs if job.batch}),
            fleets=_latest_by_batch(samples),
        )

    async def job(self, request: Request) -> Response:
        detail = await self.detail(request.path_params["ref"])
        result = detail.result
        return self.render(
            request,
            "job.html",
            job=detail,
            course=result if isinstance(result, Course) else None,
            assessment=result if isinstance(result, Assessment) else None,
            retried=request.query_params.get("retried"),
        )

    async def budgets(self, request: Request) -> Response:
        samples = await self.source.samples()
        plots = [(series, svg_plot(series)) for series in budget_series(samples)]
        return self.render(request, "budgets.html", plots=plots, fleets=_latest_by_batch(samples))

    async def retry(self, request: Request) -> Response:
        _same_origin(request)
        ref = request.path_params["ref"]
        detail = await self.detail(ref)
        if not detail.summary.retryable:
            raise HTTPException(
                409, f"job {ref!r} is {detail.summary.status}: only a failed job is retried"
            )
        try:
            new_ref = await self.source.retry(ref)
        except CourseGenError as exc:
            raise HTTPException(502, f"{type(exc).__name__}: {exc}") from exc
        return RedirectResponse(
            request.url_for("job", ref=new_ref).include_query_params(retried=ref), status_code=303
        )

    async def error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
        return self.render(
            request,
            "error.html",
            status_code=exc.status_code,
            status=exc.status_code,
            detail=exc.detail,
        )


def _same_origin(request: Request) -> None:
    """Refuse a POST that another site's page made the operator's browser send."""
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in {"same-origin", "none"}:
        raise HTTPException(403, "a retry is accepted only from the dashboard's own pages")
    if origin is not None and origin.split("://", 1)[-1] != host:
        raise HTTPException(403, "a retry is accepted only from the dashboard's own pages")
