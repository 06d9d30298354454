"""`connect()`: from a name, a URL, the environment or a TOML file to a ready `Client`.

The vendor is configuration, never code. Settings are merged from these layers, the
later winning:

1. the adapter's defaults (its vendor's public base URL);
2. a TOML file (`config=` or `COURSEGEN_CONFIG`): `[coursegen]` with `url` or `provider`,
   and `[coursegen.<provider>]` with that provider's settings;
3. the vendor's own documented variables (`LEARNINGSTUDIO_API_KEY`);
4. `COURSEGEN_<PROVIDER>_<SETTING>` variables;
5. the URL: `provider://KEY@host/base?setting=value` (`provider+http://` for plain HTTP,
   `sandbox+provider://` for the in-process simulator);
6. keyword arguments to `connect()`.

With `sandbox=True` the provider's simulator runs in-process and nothing touches the
network: its own demo key is used unless one is given, and the variables of the real
vendor are ignored (a real key is of no use to a simulator, and must not reach one).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

from ._client import Client
from ._errors import ConfigurationError
from ._registry import ProviderInfo, Registry, default_registry
from ._settings import Settings

if TYPE_CHECKING:
    from ._http import RetryPolicy
    from .sandbox import Sandbox

__all__ = ["connect"]

_CORE = frozenset({"api_key", "base_url", "webhook_secret", "strict", "sandbox", "speed"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def connect(
    target: str | None = None,
    *,
    config: str | os.PathLike[str] | None = None,
    registry: Registry | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    http_client: httpx.AsyncClient | None = None,
    retry: RetryPolicy | None = None,
    keep_results: bool = True,
    seed: int | None = None,
    expect_webhooks: bool = False,
    environ: Mapping[str, str] | None = None,
    **settings: Any,
) -> Client:
    """Build a client for the provider that `target` and the configuration name.

    `target` is a provider name (`"learningstudio"`), a URL
    (`"learningstudio://KEY@learningstudioai.com"`, `"sandbox+learningstudio://"`), or None
    to read `COURSEGEN_URL` (or the TOML file). Keyword settings: `api_key`, `base_url`,
    `webhook_secret`, `strict` (False: drop unsupported request fields with a warning),
    `sandbox` (True for a new simulator, or a `Sandbox` to share one between clients),
    `speed` (how much faster the vendor's clock runs than ours: for a simulator, or a
    mock injected through `transport`), and any provider-specific option.
    `transport` is the one injection seam for tests (an `httpx` transport, e.g. respx's).
    `retry` sets how one request is retried. By default the engine follows every job of
    the client to its end, so that completions are noticed on time and results fetched
    before a vendor discards them; `keep_results=False` polls a job only while someone
    waits on it. `expect_webhooks=True` says the vendor calls back at the end of every job
    (an endpoint set for the whole workspace, wired to `coursegen.webhooks`): jobs are then
    polled only as a fallback for a lost webhook, as a request's own `callback_url` does.

    Nothing is sent until the client is entered with `async with`.
    """
    env = os.environ if environ is None else environ
    registry = registry or default_registry()
    document = _load_toml(config if config is not None else env.get("COURSEGEN_CONFIG"))
    if target is None:
        target = document.get("url") or document.get("provider") or env.get("COURSEGEN_URL")
    if not target:
        raise ConfigurationError(
            "no provider configured: pass one to connect() (a name such as "
            "'learningstudio', or a URL such as 'learningstudio://KEY@learningstudioai.com'), "
            "set COURSEGEN_URL, or use sandbox+<provider>:// to try the built-in simulator"
        )
    name, url_settings = _parse_target(str(target))
    info = registry.get(name)
    adapter_cls = info.adapter

    merged = _merge_layers(
        adapter_cls, name, document=document, env=env, url_settings=url_settings, settings=settings
    )
    sandbox, own_sandbox = _simulator(info, merged)
    sandbox_on = sandbox is not None
    speed = sandbox.speed if sandbox is not None else _number(merged.get("speed", 1.0), "speed")
    if sandbox is not None:
        if transport is not None or http_client is not None:
            raise ConfigurationError("a sandboxed client brings its own transport")
        transport = sandbox.transport()
        # Only a key given for this very connection reaches a simulator.
        explicit = {**url_settings, **settings}
        merged["api_key"] = explicit.get("api_key") or sandbox.demo_key
        merged["base_url"] = sandbox.base_url
    base_url = _base_url(merged["base_url"], name)
    if speed != 1.0 and not (
        sandbox_on or transport is not None or http_client is not None or _loopback(base_url)
    ):
        # Scaled time polls faster than a real vendor allows: only for simulators (in
        # process or served on loopback) and the mocks a test injects through `transport`.
        raise ConfigurationError(
            "speed applies to sandboxes, loopback servers and test transports only, "
            "never to a real vendor"
        )
    options = {k: v for k, v in merged.items() if k not in _CORE}
    resolved = Settings(
        provider=name,
        base_url=base_url,
        api_key=merged.get("api_key") or None,
        webhook_secret=merged.get("webhook_secret") or None,
        strict=_flag(merged.get("strict", True), "strict"),
        time_scale=speed,
        options=options,
    )
    adapter = adapter_cls.from_settings(resolved)
    return Client(
        adapter,
        resolved,
        transport=transport,
        http_client=http_client,
        sandbox=sandbox,
        own_sandbox=own_sandbox,
        retry=retry,
        keep_results=keep_results,
        seed=seed,
        expect_webhooks=expect_webhooks,
    )


def _simulator(info: ProviderInfo, merged: Mapping[str, Any]) -> tuple[Sandbox | None, bool]:
    """The simulator the settings ask for (none, a new one, or one given to share), and
    whether the client owns it (runs its webhook deliveries while open)."""
    requested = merged.get("sandbox", False)
    if isinstance(requested, bool | str | int):
        if not _flag(requested, "sandbox"):
            return None, False
        if info.sandbox is None:
            raise ConfigurationError(f"provider {info.name!r} ships no sandbox simulator")
        return info.sandbox(speed=_number(merged.get("speed", 1.0), "speed")), True
    # A simulator object shares one simulated vendor between clients (importing the
    # sandbox module, and Starlette, is left to the code that made it).
    if getattr(requested, "name", None) != info.name:
        raise ConfigurationError(f"that sandbox does not simulate {info.name!r}")
    given: Sandbox = requested
    return given, False


def _merge_layers(
    adapter_cls: type[Any],
    name: str,
    *,
    document: Mapping[str, Any],
    env: Mapping[str, str],
    url_settings: Mapping[str, Any],
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """The settings of every layer, later layers winning (see the module docstring)."""
    table = document.get(name, {})
    if not isinstance(table, Mapping):
        raise ConfigurationError(f"[coursegen.{name}] in the config file must be a table")
    vendor_env = {
        setting: env[variable]
        for setting, variable in getattr(adapter_cls, "env_vars", {}).items()
        if variable in env
    }
    prefix = f"COURSEGEN_{name.upper().replace('-', '_')}_"
    ours = {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}
    merged: dict[str, Any] = {"base_url": adapter_cls.default_base_url}
    for layer in (table, vendor_env, ours, url_settings, settings):
        merged.update(layer)
    return merged


def _load_toml(path: str | os.PathLike[str] | None) -> Mapping[str, Any]:
    if path is None or str(path) == "":
        return {}
    try:
        with Path(path).open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigurationError(f"config file {os.fspath(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(
            f"config file {os.fspath(path)!r} is not valid TOML: {exc}"
        ) from None
    section = data.get("tool", {}).get("coursegen") or data.get("coursegen") or {}
    if not isinstance(section, Mapping):
        raise ConfigurationError("[coursegen] in the config file must be a table")
    return section


def _parse_target(target: str) -> tuple[str, dict[str, Any]]:
    if "://" not in target:
        return target.strip().lower(), {}
    try:
        parts = urlsplit(target)
        port = parts.port
    except ValueError:
        # The message never repeats the URL: it may hold a key.
        raise ConfigurationError("the provider URL cannot be parsed") from None
    words = parts.scheme.lower().split("+")
    sandbox = "sandbox" in words
    transport = [w for w in words if w in ("http", "https")]
    names = [w for w in words if w not in ("sandbox", "http", "https")]
    if len(names) != 1 or len(transport) > 1:
        raise ConfigurationError(
            f"the URL scheme {parts.scheme!r} must name one provider, optionally with "
            "'sandbox+' before it or '+http' after it (e.g. 'edumate+http://localhost:8000')"
        )
    found: dict[str, Any] = dict(parse_qsl(parts.query))
    if parts.username:
        found["api_key"] = unquote(parts.username)
    if parts.hostname:
        netloc = parts.hostname + (f":{port}" if port else "")
        scheme = transport[0] if transport else "https"
        found["base_url"] = f"{scheme}://{netloc}{parts.path.rstrip('/')}"
    if sandbox:
        found["sandbox"] = True
    return names[0], found


def _base_url(value: Any, provider: str) -> httpx.URL:
    try:
        url = httpx.URL(str(value))
    except httpx.InvalidURL:
        raise ConfigurationError(f"{provider}: base_url is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(f"{provider}: base_url must be an http(s) URL with a host")
    if url.userinfo:
        raise ConfigurationError(f"{provider}: put the key in api_key, not in base_url")
    return url


def _loopback(url: httpx.URL) -> bool:
    try:
        return ipaddress.ip_address(url.host).is_loopback
    except ValueError:
        return url.host == "localhost"


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"setting {name!r} must be true or false, not {value!r}")


def _number(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"setting {name!r} must be a number, not {value!r}") from None
    if number <= 0:
        raise ConfigurationError(f"setting {name!r} must be positive")
    return number
