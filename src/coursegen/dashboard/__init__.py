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

from coursegen._batch import FleetSample

from ._app import create_app
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
