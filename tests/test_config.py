"""connect(): provider chosen by name, URL, environment or TOML; secrets never shown."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import coursegen
from coursegen import Registry, Secret
from toy import ToyPlugin

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def registry() -> Registry:
    reg = Registry(entry_points=list, environ={})
    reg.register_plugin(ToyPlugin())
    return reg


def test_url_gives_provider_key_host_and_options(registry: Registry) -> None:
    """A provider URL carries the key, the host, a base path and options."""
    client = coursegen.connect(
        "toy://K%40Y@api.toy.example:8443/v2/?tier=gold", registry=registry, environ={}
    )
    settings = client.settings
    assert settings.provider == "toy"
    assert settings.api_key == Secret("K@Y")
    assert str(settings.base_url) == "https://api.toy.example:8443/v2"
    assert settings.options == {"tier": "gold"}


def test_plus_http_selects_plain_http(registry: Registry) -> None:
    """`provider+http://` is how a self-hosted vendor without TLS is named."""
    client = coursegen.connect("toy+http://K@localhost:8000", registry=registry, environ={})
    assert str(client.settings.base_url) == "http://localhost:8000"


def test_precedence_keyword_over_url_over_env_over_vendor_env_over_toml(
    registry: Registry, tmp_path: Path
) -> None:
    """Each layer overrides the one before: TOML < vendor env < COURSEGEN_* < URL < keyword."""
    config = tmp_path / "coursegen.toml"
    config.write_text(
        '[coursegen]\nprovider = "toy"\n[coursegen.toy]\napi_key = "from-toml"\n'
        'base_url = "https://toml.example"\ntier = "toml"\nregion = "toml"\n'
    )
    env = {
        "TOY_KEY": "from-vendor-env",
        "COURSEGEN_TOY_TIER": "env",
        "COURSEGEN_CONFIG": str(config),
    }
    settings = coursegen.connect(registry=registry, environ=env).settings
    assert settings.api_key == Secret("from-vendor-env")
    assert settings.options == {"tier": "env", "region": "toml"}
    assert settings.base_url.host == "toml.example"
    settings = coursegen.connect(
        "toy://from-url@url.example?tier=url", registry=registry, environ=env, tier="kw"
    ).settings
    assert settings.api_key == Secret("from-url")
    assert settings.base_url.host == "url.example"
    assert settings.options["tier"] == "kw"


def test_coursegen_url_environment_variable(registry: Registry) -> None:
    """With no target, COURSEGEN_URL names the provider."""
    client = coursegen.connect(registry=registry, environ={"COURSEGEN_URL": "toy://K@h.example"})
    assert client.provider == "toy"


def test_nothing_configured_says_what_to_set(registry: Registry) -> None:
    """No target, no COURSEGEN_URL: the error names the ways to configure one."""
    with pytest.raises(coursegen.ConfigurationError, match="COURSEGEN_URL"):
        coursegen.connect(registry=registry, environ={})


def test_missing_key_says_where_to_put_it(registry: Registry) -> None:
    """A provider needing a key, given none, says which variable to set."""
    with pytest.raises(coursegen.ConfigurationError, match="TOY_KEY"):
        coursegen.connect("toy", registry=registry, environ={})


def test_the_key_never_appears_in_reprs_or_errors(registry: Registry) -> None:
    """The key is masked in the client's and the settings' repr and in URL errors."""
    key = "sk_live_very_secret"
    client = coursegen.connect(f"toy://{key}@toy.example", registry=registry, environ={})
    assert key not in repr(client)
    assert key not in repr(client.settings)
    assert key not in str(client.settings.api_key)
    assert key not in f"{client.settings.api_key}"
    with pytest.raises(coursegen.ConfigurationError) as caught:
        coursegen.connect(f"toy://{key}@toy.example:notaport", registry=registry, environ={})
    assert key not in str(caught.value)


def test_speed_is_refused_against_a_real_vendor(registry: Registry) -> None:
    """Scaled time polls faster than a vendor allows: only sandboxes and mocks take it."""
    with pytest.raises(coursegen.ConfigurationError, match="speed"):
        coursegen.connect("toy://K@toy.example", registry=registry, environ={}, speed=10)


def test_bad_scheme_and_bad_values_are_configuration_errors(registry: Registry) -> None:
    """Two providers in one scheme, or a non-boolean strict, are clear errors."""
    with pytest.raises(coursegen.ConfigurationError, match="must name one provider"):
        coursegen.connect("toy+other://K@h", registry=registry, environ={})
    with pytest.raises(coursegen.ConfigurationError, match="strict"):
        coursegen.connect("toy://K@h.example", registry=registry, environ={}, strict="maybe")


def test_provider_without_sandbox_refuses_sandbox_mode(registry: Registry) -> None:
    """sandbox+ for a provider that ships no simulator is a ConfigurationError."""
    with pytest.raises(coursegen.ConfigurationError, match="no sandbox"):
        coursegen.connect("sandbox+toy://", registry=registry, environ={})


def test_sandbox_ignores_the_real_vendors_key() -> None:
    """In sandbox mode the vendor's own key variable is not used: the demo key is."""
    client = coursegen.connect(
        "sandbox+learningstudio://", environ={"LEARNINGSTUDIO_API_KEY": "ls_real_key"}
    )
    assert client.settings.api_key != Secret("ls_real_key")
    assert client.sandbox is not None
    assert client.settings.api_key == Secret(client.sandbox.demo_key)
