"""mkdocs hooks: the vendor feature matrix and the providers' pages, made from the code.

The matrix is generated on every build from each registered provider's `Capabilities`,
`PollPolicy` and settings, so it cannot drift from what the adapters declare: a page
holding the marker `<!-- feature-matrix -->` gets the tables in its place. Each
provider's README (`providers/<name>/README.md`) becomes the page `providers/<name>.md`.
`python docs/hooks/matrix.py` prints the matrix.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

import coursegen
from coursegen import Capabilities, Operation, PollPolicy, ProviderInfo, Registry, Settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files

MARKER = "<!-- feature-matrix -->"
ROOT = Path(__file__).resolve().parents[2]
YES, NO = "yes", "-"
# A stand-in key, only to build an adapter whose policy depends on its settings.
_PLACEHOLDER_KEY = "docs-placeholder"


def _policy(info: ProviderInfo) -> PollPolicy | None:
    """The provider's policy with default settings (some adapters derive it from them)."""
    declared = getattr(info.adapter, "policy", None)
    if isinstance(declared, PollPolicy):
        return declared
    settings = Settings(
        provider=info.name,
        base_url=info.adapter.default_base_url,
        api_key=_PLACEHOLDER_KEY,
    )
    try:
        return info.adapter.from_settings(settings).policy
    except coursegen.CourseGenError:
        # A provider that needs more settings than a key to be built: its class-level
        # defaults are all there is to show (an empty policy would be a lie).
        return None


def _seconds(value: float | None, none: str = "no expiry declared") -> str:
    if value is None:
        return none
    return f"{value:g} s"


def _flag(value: bool) -> str:
    return YES if value else NO


def _webhooks(caps: Capabilities) -> str:
    if not caps.webhooks:
        return NO
    return "signed" if caps.signed_webhooks else "unsigned (confirmed by a poll)"


def _rate_limits(policy: PollPolicy) -> str:
    if not policy.rate_limits:
        return "none declared"
    cells = []
    for operation in Operation:
        limit = policy.rate_limits.get(operation)
        if limit is None:
            continue
        pool = f", shared pool `{limit.pool}`" if limit.pool else ""
        cells.append(f"{operation.value}: {limit.limit} / {limit.window:g} s{pool}")
    return "<br>".join(cells)


def _code(values: Iterable[str]) -> str:
    items = sorted(values)
    return ", ".join(f"`{item}`" for item in items) if items else NO


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _request_fields(kinds: Iterable[type]) -> list[str]:
    """The fields of the neutral request records, in their declared order."""
    seen: dict[str, None] = {}
    for kind in kinds:
        for field in attrs.fields(kind):
            seen.setdefault(field.name, None)
    return list(seen)


def feature_matrix(registry: Registry | None = None) -> str:
    """The feature matrix of every provider `registry` (default: the installed ones) holds."""
    registry = registry or coursegen.default_registry()
    infos = [registry.providers[name] for name in sorted(registry.providers)]
    if not infos:
        return "No provider is installed."
    header = ["feature", *(f"`{info.name}`" for info in infos)]
    caps = [info.adapter.capabilities for info in infos]
    policies = [_policy(info) for info in infos]
    unknown = "depends on its settings"

    def row(label: str, cell: Callable[[int], str]) -> list[str]:
        return [label, *(cell(i) for i in range(len(infos)))]

    general = [
        row("plugin, version", lambda i: f"`{infos[i].plugin}` {infos[i].version or ''}".strip()),
        row("makes", lambda i: _code(kind.__name__ for kind in caps[i].request_kinds)),
        row("default base URL", lambda i: f"`{infos[i].adapter.default_base_url}`"),
        row("needs a key", lambda i: _flag(caps[i].requires_key)),
        row(
            "vendor variables",
            lambda i: (
                ", ".join(
                    f"`{var}` ({setting})"
                    for setting, var in sorted(getattr(infos[i].adapter, "env_vars", {}).items())
                )
                or NO
            ),
        ),
        row(
            "own settings",
            lambda i: _code(getattr(infos[i].adapter, "option_names", None) or ()),
        ),
        row("webhooks", lambda i: _webhooks(caps[i])),
        row("idempotent creates", lambda i: _flag(caps[i].idempotent_submit)),
        row("progress", lambda i: _flag(caps[i].progress)),
        row("cost", lambda i: _flag(caps[i].cost)),
        row("export formats", lambda i: _code(caps[i].export_formats)),
        row("public pages", lambda i: _flag(caps[i].public_pages)),
        row("in-process sandbox", lambda i: _flag(infos[i].sandbox is not None)),
    ]
    # Courses first, then assessments, then whatever else a plugin makes.
    order = {coursegen.CourseRequest: 0, coursegen.AssessmentRequest: 1}
    kinds = sorted(
        {kind for c in caps for kind in c.request_kinds},
        key=lambda kind: (order.get(kind, 2), kind.__name__),
    )
    fields = [
        row(f"`{field}`", lambda i, f=field: _flag(f in caps[i].request_fields))
        for field in _request_fields(kinds)
    ]

    def policy_row(label: str, cell: Callable[[PollPolicy], str]) -> list[str]:
        return row(label, lambda i: unknown if (p := policies[i]) is None else cell(p))

    polling = [
        policy_row("poll floor (min interval)", lambda p: _seconds(p.min_interval)),
        policy_row("poll interval without a hint", lambda p: _seconds(p.interval)),
        policy_row(
            "backoff",
            lambda p: (
                f"x{p.backoff:g} up to {_seconds(p.max_interval)}" if p.backoff != 1.0 else NO
            ),
        ),
        policy_row("job timeout (default deadline)", lambda p: _seconds(p.job_timeout)),
        policy_row("result kept by the vendor", lambda p: _seconds(p.result_ttl)),
        policy_row("rate limits per scope", _rate_limits),
    ]
    return "\n\n".join(
        [
            "### What each provider does\n\n" + _table(header, general),
            "### Request fields honoured\n\nA field marked `-` raises `UnsupportedFeature` "
            "(or is dropped with a warning under `strict=False`) before anything is sent.\n\n"
            + _table(["field", *header[1:]], fields),
            "### Polling and rate limits (vendor seconds)\n\n" + _table(header, polling),
        ]
    )


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add each provider's README as the page `providers/<name>.md`."""
    from mkdocs.structure.files import File  # noqa: PLC0415 - only mkdocs calls this hook

    for readme in sorted((ROOT / "providers").glob("*/README.md")):
        uri = f"providers/{readme.parent.name}.md"
        files.append(File.generated(config, uri, content=readme.read_text(encoding="utf-8")))
    return files


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Put the generated matrix where a page holds the marker."""
    if MARKER in markdown:
        return markdown.replace(MARKER, feature_matrix())
    return markdown


if __name__ == "__main__":
    print(feature_matrix())  # noqa: T201 - a preview of the generated tables
