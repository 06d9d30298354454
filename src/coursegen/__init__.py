"""coursegen: one job protocol for every course-generation vendor.

```python
import coursegen

async with coursegen.connect("sandbox+learningstudio://") as client:
    job = await client.submit(coursegen.CourseRequest(subject="Workplace safety basics"))
    course = await job.result()
```
"""

from typing import TYPE_CHECKING, Any

# Light and needed by every plugin at import time: the contract, the records, the errors.
from ._adapter import (
    Adapter,
    Capabilities,
    Exporter,
    Operation,
    PollPolicy,
    PublicPages,
    RateLimit,
    RateLimitState,
    StagedAdapter,
    WebhookReader,
)
from ._errors import (
    AuthenticationError,
    ConfigurationError,
    Conflict,
    CourseGenError,
    InvalidRequest,
    JobError,
    JobExpired,
    JobFailed,
    JobTimeout,
    MalformedResponse,
    NotFound,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimited,
    RequestTimeout,
    SerializationError,
    StoreError,
    SubmitOutcomeUnknown,
    TransportError,
    UnsupportedFeature,
    WebhookVerificationError,
)
from ._features import CourseGenWarning, UnsupportedFeatureWarning
from ._hooks import Register, SandboxFactory, hookimpl, hookspec
from ._models import (
    Assessment,
    AssessmentRequest,
    BloomLevel,
    Chapter,
    Course,
    CourseRequest,
    ExportResult,
    JobErrorInfo,
    JobStatus,
    Lesson,
    Money,
    Question,
    Request,
    Result,
    Snapshot,
    WebhookEvent,
)

if TYPE_CHECKING:
    from ._client import Client
    from ._config import connect
    from ._fleet import FleetJob
    from ._http import RetryPolicy
    from ._job import CourseJob, Job
    from ._json import from_json, to_json
    from ._ratelimit import BudgetUse
    from ._registry import PluginFailure, ProviderInfo, Registry, default_registry
    from ._settings import Secret, Settings
    from .store import JobRecord, Store, SubmitState, open_store

    __version__: str
    """The installed distribution's version."""

# The rest is imported when first used (PEP 562): `import coursegen` stays cheap (no
# httpx, which imports click and pygments when they are installed; no cattrs; no job
# store), and `coursegen.connect` costs its imports once, on first use.
_LAZY = {
    "Client": "._client",
    "connect": "._config",
    "FleetJob": "._fleet",
    "RetryPolicy": "._http",
    "CourseJob": "._job",
    "Job": "._job",
    "from_json": "._json",
    "to_json": "._json",
    "BudgetUse": "._ratelimit",
    "PluginFailure": "._registry",
    "ProviderInfo": "._registry",
    "Registry": "._registry",
    "default_registry": "._registry",
    "Secret": "._settings",
    "Settings": "._settings",
    "JobRecord": ".store",
    "Store": ".store",
    "SubmitState": ".store",
    "open_store": ".store",
}


def __getattr__(name: str) -> Any:
    import importlib  # noqa: PLC0415 - only on the first use of a lazy name

    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - as above

        try:
            value: Any = version("coursegen")
        except PackageNotFoundError:  # pragma: no cover - a source tree without install
            value = "0+unknown"
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # asked once: later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "Adapter",
    "Assessment",
    "AssessmentRequest",
    "AuthenticationError",
    "BloomLevel",
    "BudgetUse",
    "Capabilities",
    "Chapter",
    "Client",
    "ConfigurationError",
    "Conflict",
    "Course",
    "CourseGenError",
    "CourseGenWarning",
    "CourseJob",
    "CourseRequest",
    "ExportResult",
    "Exporter",
    "FleetJob",
    "InvalidRequest",
    "Job",
    "JobError",
    "JobErrorInfo",
    "JobExpired",
    "JobFailed",
    "JobRecord",
    "JobStatus",
    "JobTimeout",
    "Lesson",
    "MalformedResponse",
    "Money",
    "NotFound",
    "Operation",
    "PermissionDenied",
    "PluginFailure",
    "PollPolicy",
    "ProviderError",
    "ProviderInfo",
    "ProviderUnavailable",
    "PublicPages",
    "Question",
    "QuotaExceeded",
    "RateLimit",
    "RateLimitState",
    "RateLimited",
    "Register",
    "Registry",
    "Request",
    "RequestTimeout",
    "Result",
    "RetryPolicy",
    "SandboxFactory",
    "Secret",
    "SerializationError",
    "Settings",
    "Snapshot",
    "StagedAdapter",
    "Store",
    "StoreError",
    "SubmitOutcomeUnknown",
    "SubmitState",
    "TransportError",
    "UnsupportedFeature",
    "UnsupportedFeatureWarning",
    "WebhookEvent",
    "WebhookReader",
    "WebhookVerificationError",
    "__version__",
    "connect",
    "default_registry",
    "from_json",
    "hookimpl",
    "hookspec",
    "open_store",
    "to_json",
]
