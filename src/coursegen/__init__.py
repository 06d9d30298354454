"""coursegen: one job protocol for every course-generation vendor.

```python
import coursegen

async with coursegen.connect("sandbox+learningstudio://") as client:
    job = await client.submit(coursegen.CourseRequest(subject="Workplace safety basics"))
    course = await job.result()
```
"""

from importlib.metadata import PackageNotFoundError, version

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
from ._client import Client
from ._config import connect
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
from ._fleet import FleetJob
from ._hooks import Register, SandboxFactory, hookimpl, hookspec
from ._http import RetryPolicy
from ._job import CourseJob, Job
from ._json import from_json, to_json
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
from ._ratelimit import BudgetUse
from ._registry import PluginFailure, ProviderInfo, Registry, default_registry
from ._settings import Secret, Settings
from .store import JobRecord, Store, SubmitState, open_store

try:
    __version__ = version("coursegen")
    """The installed distribution's version."""
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

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
