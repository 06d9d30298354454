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

Mistakes are loud: a setting no layer knows is a `ConfigurationError` naming the key,
where it came from (the file, the variable, the URL) and the nearest valid name. The
valid names are the core ones (`_CORE`) and those an adapter declares in its
`option_names` class attribute; an adapter that declares none takes any option.
The TOML format is documented in `docs/configuration.md`.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import secrets
import tomllib
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

from ._client import Client
from ._errors import ConfigurationError
from ._registry import ProviderInfo, Registry, default_registry
from ._settings import Secret, Settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._http import RetryPolicy
    from .sandbox import Sandbox
    from .store import Store

__all__ = ["connect"]

_CORE = frozenset({"api_key", "base_url", "webhook_secret", "strict", "sandbox", "speed"})
_TEXT = ("api_key", "base_url", "webhook_secret")
"""Settings that must be text (or, for the two secrets, a `Secret`) in every layer."""
_TABLE_KEYS = frozenset({"url", "provider", "store"})
"""Keys of the `[coursegen]` table itself; its sub-tables are per-provider settings."""
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
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
    store: Store | str | None = None,
    recover: bool = True,
    fleet: bool = False,
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

    `store` records every job in a job store (`"sqlite:///jobs.db"`,
    `"postgresql://..."`, or a `Store`), so that a process that dies loses nothing: the
    next client on the same store takes its jobs up. Default: `COURSEGEN_STORE`, else
    `store = "..."` in the TOML file's `[coursegen]` table, else no store. On open, a
    client with a store takes up the unfinished jobs of its provider, endpoint and key
    that it finds there (`recover=False` leaves them alone: one-off commands).

    `fleet=True` (with the fleet's PostgreSQL store) submits to a worker fleet
    (`coursegen worker`): `submit` records the intent and returns a handle that reads the
    job's state from the store; the worker owning the key's rate scope sends it.

    Nothing is sent until the client is entered with `async with`.
    """
    env = os.environ if environ is None else environ
    registry = registry or default_registry()
    config_path = config if config is not None else env.get("COURSEGEN_CONFIG")
    document = _load_toml(config_path)
    where = f"config file {os.fspath(config_path)!r}" if config_path else "config file"
    if target is None:
        target = document.get("url") or document.get("provider") or env.get("COURSEGEN_URL")
    if target is not None and not isinstance(target, str):
        raise ConfigurationError(
            f"the provider must be a name or a URL string, not {type(target).__name__}"
        )
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
        adapter_cls,
        name,
        document=document,
        where=where,
        env=env,
        url_settings=url_settings,
        settings=settings,
    )
    sandbox, own_sandbox = _simulator(info, merged, seed)
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
    for secret_name in ("api_key", "webhook_secret"):
        _check_secret(merged.get(secret_name), secret_name, name)
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
    if store is None:
        store = env.get("COURSEGEN_STORE") or document.get("store") or None
        if store is not None and not isinstance(store, str):
            raise ConfigurationError("store in the config file must be a URL string")
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
        store=store,
        recover=recover,
        fleet=fleet,
        expect_webhooks=expect_webhooks,
    )


SANDBOX_SEED_VARIABLE = "COURSEGEN_SANDBOX_SEED"


def _unseeded() -> int:
    """The seed of a simulator that `connect()` was given none for: random per run.

    A test suite sets `COURSEGEN_SANDBOX_SEED` to replay the same vendor in every run
    (our own conftest does), so no test's outcome depends on the luck of the draw.
    """
    fixed = os.environ.get(SANDBOX_SEED_VARIABLE, "").strip()
    if not fixed:
        return secrets.randbits(32)
    try:
        return int(fixed)
    except ValueError:
        raise ConfigurationError(
            f"{SANDBOX_SEED_VARIABLE} must be an integer, not {fixed!r}"
        ) from None


def _simulator(
    info: ProviderInfo, merged: Mapping[str, Any], seed: int | None
) -> tuple[Sandbox | None, bool]:
    """The simulator the settings ask for (none, a new one, or one given to share), and
    whether the client owns it (runs its webhook deliveries while open).

    A new simulator is seeded from `connect(seed=...)`, else at random: its job and
    course ids are then new on every run, as integrators storing them under unique
    constraints need, and the same on every run of a test that passes a seed.
    """
    requested = merged.get("sandbox", False)
    if isinstance(requested, bool | str | int):
        if not _flag(requested, "sandbox"):
            return None, False
        if info.sandbox is None:
            raise ConfigurationError(f"provider {info.name!r} ships no sandbox simulator")
        if seed is None:
            seed = _unseeded()
        return info.sandbox(speed=_number(merged.get("speed", 1.0), "speed"), seed=seed), True
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
    where: str,
    env: Mapping[str, str],
    url_settings: Mapping[str, Any],
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """The settings of every layer, later layers winning (see the module docstring).

    Every key is checked against the names the provider takes, and every text setting
    against its type, with the layer it came from in the message.
    """
    table = document.get(name, {})
    if not isinstance(table, Mapping):
        raise ConfigurationError(f"[coursegen.{name}] in the {where} must be a table")
    declared = getattr(adapter_cls, "option_names", None)
    valid = None if declared is None else _CORE | frozenset(declared)
    _check_layer(table, valid, f"[coursegen.{name}] of the {where}")
    vendor_env = {
        setting: env[variable]
        for setting, variable in getattr(adapter_cls, "env_vars", {}).items()
        if variable in env
    }
    prefix = f"COURSEGEN_{name.upper().replace('-', '_')}_"
    ours: dict[str, Any] = {}
    for variable, value in env.items():
        if variable.startswith(prefix):
            key = variable[len(prefix) :].lower()
            _check_key(key, valid, f"variable {variable}", spell=lambda k: prefix + k.upper())
            ours[key] = value
    _check_layer(url_settings, valid, "the URL's query")
    _check_layer(settings, valid, "connect()'s keyword arguments")
    merged: dict[str, Any] = {"base_url": adapter_cls.default_base_url}
    for layer in (table, vendor_env, ours, url_settings, settings):
        merged.update(layer)
    return merged


def _check_layer(layer: Mapping[str, Any], valid: frozenset[str] | None, where: str) -> None:
    for key, value in layer.items():
        _check_key(key, valid, where)
        if key in _TEXT and not (
            isinstance(value, str | Secret) or (key == "base_url" and isinstance(value, httpx.URL))
        ):
            raise ConfigurationError(
                f"setting {key!r} in {where} must be text, not {type(value).__name__}"
            )


def _check_secret(value: Any, setting: str, provider: str) -> None:
    """Refuse a key with whitespace or a control character, never showing it.

    A key read from a file often ends in a newline: sent in a header, it is refused by
    the HTTP stack with the header line (key included) in the error, and the create is
    misreported as a lost answer. No vendor's key contains such characters.
    """
    text = value.reveal() if isinstance(value, Secret) else value
    if not isinstance(text, str):
        return
    bad = [c for c in text if c.isspace() or unicodedata.category(c).startswith("C")]
    if bad:
        where = "at its end" if text.rstrip() != text else "in it"
        raise ConfigurationError(
            f"{provider}: the {setting} has whitespace or a control character {where} "
            f"(a line break from a file?); keys have none. The value is not shown."
        )


def _check_key(
    key: str,
    valid: frozenset[str] | None,
    where: str,
    spell: Callable[[str], str] = repr,
) -> None:
    """Refuse a key the provider does not take, naming the nearest one it does."""
    if valid is None or key in valid:
        return
    near = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.6)
    hint = f"; did you mean {spell(near[0])}?" if near else ""
    raise ConfigurationError(
        f"unknown setting {key!r} in {where}{hint} (valid: {', '.join(sorted(valid))})"
    )


def _load_toml(path: str | os.PathLike[str] | None) -> Mapping[str, Any]:
    """The `[tool.coursegen]` or `[coursegen]` table of a TOML file, checked."""
    if path is None or str(path) == "":
        return {}
    shown = repr(os.fspath(path))
    try:
        with Path(path).open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigurationError(f"config file {shown} does not exist") from None
    except IsADirectoryError:
        raise ConfigurationError(f"config file {shown} is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigurationError(
            f"config file {shown} cannot be read: {exc.strerror or exc}"
        ) from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"config file {shown} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config file {shown} is not valid TOML: {exc}") from None
    return _coursegen_table(data, shown)


def _coursegen_table(data: Mapping[str, Any], shown: str) -> Mapping[str, Any]:
    tool = data.get("tool")
    if isinstance(tool, Mapping) and "coursegen" in tool:
        section, label = tool["coursegen"], "[tool.coursegen]"
    elif "coursegen" in data:
        section, label = data["coursegen"], "[coursegen]"
    else:
        raise ConfigurationError(
            f"config file {shown} has no [coursegen] table (nor [tool.coursegen] in a "
            "pyproject.toml): coursegen reads nothing else from it"
        )
    if not isinstance(section, Mapping):
        raise ConfigurationError(f"{label} in config file {shown} must be a table")
    for key, value in section.items():
        if isinstance(value, Mapping):
            continue  # a provider's table, checked when that provider is chosen
        if key not in _TABLE_KEYS:
            near = difflib.get_close_matches(key, sorted(_TABLE_KEYS), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ConfigurationError(
                f"unknown key {key!r} in {label} of config file {shown}{hint} (it takes "
                "url or provider, and a [coursegen.<provider>] table of settings)"
            )
        if not isinstance(value, str):
            raise ConfigurationError(
                f"{key!r} in {label} of config file {shown} must be text, not "
                f"{type(value).__name__}"
            )
    return section


def _parse_target(target: str) -> tuple[str, dict[str, Any]]:
    if "://" not in target:
        name = target.strip().lower()
        if name in ("sandbox", "http", "https"):
            raise ConfigurationError(
                f"{name!r} is not a provider: write it before or after one, as in "
                "'sandbox+learningstudio://' or 'edumate+http://localhost:8000'"
            )
        if not _NAME.match(name):
            # Never repeated when it may hold a key (`name:KEY@host`).
            shown = "the provider" if "@" in name else repr(target)
            raise ConfigurationError(
                f"{shown} is neither a provider name (such as 'learningstudio') nor a "
                "provider URL (such as 'learningstudio://KEY@learningstudioai.com')"
            )
        return name, {}
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
    if not _valid_host(url.host):
        raise ConfigurationError(
            f"{provider}: base_url's host {url.host!r} is not a host name or an IP address"
        )
    if url.userinfo:
        raise ConfigurationError(f"{provider}: put the key in api_key, not in base_url")
    return url


_HOST_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")


def _valid_host(host: str) -> bool:
    """A DNS name (dot-separated labels) or an IP address: no spaces, no stray signs."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return all(_HOST_LABEL.match(label) for label in host.rstrip(".").split("."))
    return True


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
