"""connect(): provider chosen by name, URL, environment or TOML; secrets never shown."""

from __future__ import annotations

import re
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


# -- loud mistakes ---------------------------------------------------------------------


def test_an_unknown_toml_key_names_the_file_and_the_nearest_setting(
    registry: Registry, tmp_path: Path
) -> None:
    """A misspelt setting in [coursegen.toy] names itself, the file and what was meant."""
    path = tmp_path / "coursegen.toml"
    path.write_text('[coursegen]\nprovider = "toy"\n[coursegen.toy]\napi_kye = "K"\n')
    with pytest.raises(coursegen.ConfigurationError) as caught:
        coursegen.connect(config=path, registry=registry, environ={})
    message = str(caught.value)
    assert "unknown setting 'api_kye'" in message
    assert str(path) in message
    assert "did you mean 'api_key'?" in message


def test_an_unknown_key_in_the_coursegen_table_is_refused(
    registry: Registry, tmp_path: Path
) -> None:
    """`[coursegen]` takes url, provider and store: `urll` is refused with the nearest of them."""
    path = tmp_path / "coursegen.toml"
    path.write_text('[coursegen]\nurll = "toy://K@toy.example"\n')
    with pytest.raises(
        coursegen.ConfigurationError, match=r"unknown key 'urll'.*did you mean 'url'"
    ):
        coursegen.connect(config=path, registry=registry, environ={})


def test_the_coursegen_table_names_the_store(registry: Registry, tmp_path: Path) -> None:
    """`store = "..."` in `[coursegen]` is the client's job store, as connect() documents."""
    path = tmp_path / "coursegen.toml"
    database = tmp_path / "jobs.db"
    path.write_text(f'[coursegen]\nurl = "toy://K@toy.example"\nstore = "sqlite:///{database}"\n')
    client = coursegen.connect(config=path, registry=registry, environ={})
    assert client.store is not None


def test_an_unknown_url_query_setting_is_refused(registry: Registry) -> None:
    """`?teir=gold` in a provider URL is an unknown setting, and `tier` is suggested."""
    with pytest.raises(coursegen.ConfigurationError) as caught:
        coursegen.connect("toy://SECRET@toy.example?teir=gold", registry=registry, environ={})
    message = str(caught.value)
    assert "unknown setting 'teir' in the URL's query; did you mean 'tier'?" in message
    assert "SECRET" not in message


def test_an_unknown_variable_names_the_variable_to_set_instead(registry: Registry) -> None:
    """COURSEGEN_TOY_APIKEY is unknown: the error names it and COURSEGEN_TOY_API_KEY."""
    env = {"COURSEGEN_TOY_APIKEY": "K"}
    with pytest.raises(coursegen.ConfigurationError) as caught:
        coursegen.connect("toy://K@toy.example", registry=registry, environ=env)
    message = str(caught.value)
    assert "variable COURSEGEN_TOY_APIKEY" in message
    assert "did you mean COURSEGEN_TOY_API_KEY?" in message


def test_an_unknown_keyword_is_refused(registry: Registry) -> None:
    """connect(regoin=...) is a typo for `region`, not an option silently passed on."""
    with pytest.raises(coursegen.ConfigurationError, match="did you mean 'region'"):
        coursegen.connect("toy://K@toy.example", registry=registry, environ={}, regoin="eu")


def test_a_toml_file_without_a_coursegen_table_says_so(registry: Registry, tmp_path: Path) -> None:
    """A TOML file with neither [coursegen] nor [tool.coursegen] is an error, not ignored."""
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "app"\n')
    with pytest.raises(coursegen.ConfigurationError, match=r"has no \[coursegen\] table"):
        coursegen.connect("toy://K@toy.example", config=path, registry=registry, environ={})


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'[coursegen]\nurl = "toy://K\xff@toy.example"\n', "is not UTF-8 text"),
        (b"[coursegen.toy]\napi_key = 123\n", "'api_key' in [coursegen.toy]"),
        (b"[coursegen]\nurl = 42\n", "'url' in [coursegen]"),
        (b"[coursegen\n", "is not valid TOML"),
    ],
)
def test_unreadable_toml_is_a_configuration_error(
    registry: Registry, tmp_path: Path, content: bytes, fragment: str
) -> None:
    """Bytes that are not UTF-8, a number for a key, a number for a URL, broken TOML."""
    path = tmp_path / "coursegen.toml"
    path.write_bytes(content)
    with pytest.raises(coursegen.ConfigurationError, match=re.escape(fragment)):
        coursegen.connect("toy", config=path, registry=registry, environ={})


def test_a_directory_as_the_config_file_is_a_configuration_error(
    registry: Registry, tmp_path: Path
) -> None:
    """COURSEGEN_CONFIG naming a directory says so, with the path."""
    env = {"COURSEGEN_CONFIG": str(tmp_path)}
    with pytest.raises(coursegen.ConfigurationError, match="is a directory"):
        coursegen.connect("toy://K@toy.example", registry=registry, environ=env)


@pytest.mark.parametrize(
    "target", ["toy://K@ho st", "toy+https://K@ho st/v1", "toy://K@bad_host!.example"]
)
def test_a_host_with_a_space_or_a_stray_sign_is_refused_at_connect(
    registry: Registry, target: str
) -> None:
    """`https://ho st` is a ConfigurationError from connect(), not a failure at first send."""
    with pytest.raises(coursegen.ConfigurationError, match="not a host name"):
        coursegen.connect(target, registry=registry, environ={})


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("toy:/bad", "neither a provider name"),
        ("sandbox", "'sandbox+learningstudio://'"),
        ("toyy", "did you mean 'toy'?"),
        ("learningstudo", 'pip install "coursegen[learningstudio]"'),
    ],
)
def test_a_bad_provider_gets_a_useful_suggestion(
    registry: Registry, target: str, fragment: str
) -> None:
    """A malformed name, a bare `sandbox` or a typo gets advice, not `pip install coursegen-X`."""
    with pytest.raises(coursegen.ConfigurationError) as caught:
        coursegen.connect(target, registry=registry, environ={})
    assert fragment in str(caught.value)
    assert "coursegen-toy:/bad" not in str(caught.value)


# -- sandbox ids -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_sandbox_ids_are_new_each_run_and_repeat_under_one_seed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unseeded sandboxes hand out new job and course ids; connect(seed=...) repeats them."""
    monkeypatch.delenv("COURSEGEN_SANDBOX_SEED")  # the suite's fixed seed, for this test off

    async def first_ids(**settings: object) -> tuple[str, str]:
        async with coursegen.connect("sandbox+learningstudio://", environ={}, **settings) as c:
            job = await c.submit(coursegen.CourseRequest(subject="Knots"))
            course = await job.result()
        assert isinstance(course, coursegen.Course)
        return job.id, course.id

    unseeded = {await first_ids() for _ in range(3)}
    assert len(unseeded) == 3
    assert len({job for job, _ in unseeded} | {course for _, course in unseeded}) == 6
    assert await first_ids(seed=7) == await first_ids(seed=7)


@pytest.mark.anyio
async def test_a_fixed_sandbox_seed_from_the_environment_replays_the_vendor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """COURSEGEN_SANDBOX_SEED makes unseeded sandboxes repeat; a non-integer is refused."""
    monkeypatch.setenv("COURSEGEN_SANDBOX_SEED", "42")
    first, second = (coursegen.connect("learningstudio", sandbox=True) for _ in range(2))
    assert first.sandbox is not None
    assert second.sandbox is not None
    assert first.sandbox.seed == second.sandbox.seed == 42
    monkeypatch.setenv("COURSEGEN_SANDBOX_SEED", "forty-two")
    with pytest.raises(coursegen.ConfigurationError, match="COURSEGEN_SANDBOX_SEED"):
        coursegen.connect("learningstudio", sandbox=True)
