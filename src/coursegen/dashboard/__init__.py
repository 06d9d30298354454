"""`coursegen dashboard`: the fleet on a page, over a job store.

```python
from coursegen.dashboard import create_app
app = create_app(source)   # any DashboardSource; StoreSource reads a job store
```

Server-rendered HTML (Starlette and Jinja2, `pip install coursegen[dashboard]`), a few
lines of plain JavaScript for live updates, nothing loaded from elsewhere. Read-only,
except an operator's retry of a failed job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coursegen._batch import FleetSample

from ._plot import BudgetSeries, budget_series, svg_plot
from ._source import (
    DashboardSource,
    ErrorInfo,
    JobDetail,
    JobQuery,
    JobSummary,
    TimelineEntry,
)
from ._store import StoreSource

if TYPE_CHECKING:
    from ._app import create_app


def __getattr__(name: str) -> Any:
    # Starlette is imported with the pages, not with the package: the CLI registers
    # `coursegen dashboard` from here, and `coursegen --help` must stay light.
    if name == "create_app":
        from ._app import create_app  # noqa: PLC0415 - see above

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BudgetSeries",
    "DashboardSource",
    "ErrorInfo",
    "FleetSample",
    "JobDetail",
    "JobQuery",
    "JobSummary",
    "StoreSource",
    "TimelineEntry",
    "budget_series",
    "create_app",
    "svg_plot",
]
