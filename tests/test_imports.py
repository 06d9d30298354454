"""What `import coursegen` and `coursegen --help` leave unimported until it is used."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Heavy, or only needed by one feature: none is imported before that feature is used.
_NOT_ON_IMPORT = (
    "httpx",  # imports click and pygments when they are installed
    "cattrs",
    "starlette",
    "coursegen.sandbox",
    "coursegen.store",
    "coursegen._client",
    "coursegen_learningstudio",
    "coursegen_tutorflow",
    "coursegen_edumate",
)
# `coursegen --help` reads the grammar only: no HTTP client, store, event loop or server.
_NOT_ON_HELP = (
    "httpx",
    "anyio",
    "cattrs",
    "sniffio",
    "importlib.metadata",  # the version, read only for --version
    "coursegen._client",
    "coursegen._commands",
    "coursegen.store",
    "starlette",
    "jinja2",
    "uvicorn",
    "coursegen.sandbox",
    "coursegen_learningstudio",
    "coursegen_tutorflow",
    "coursegen_edumate",
)

_PROBE = """
import json, runpy, sys
if sys.argv[1] == "help":
    sys.argv = ["coursegen", "--help"]
    try:
        runpy.run_module("coursegen", run_name="__main__")
    except SystemExit:
        pass
else:
    import coursegen
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _modules_after(what: str) -> set[str]:
    done = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", _PROBE, what], capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return set(loaded)


@pytest.mark.parametrize("module", _NOT_ON_IMPORT)
def test_import_coursegen_leaves_heavy_modules_unimported(module: str) -> None:
    """`import coursegen` alone imports none of the heavy or feature-only modules."""
    assert module not in _modules_after("import")


def test_lazy_names_resolve_on_first_use() -> None:
    """Every name in `coursegen.__all__` is reachable, the lazy ones included."""
    import coursegen  # noqa: PLC0415 - the import is what is tested

    for name in coursegen.__all__:
        assert getattr(coursegen, name) is not None, name
    with pytest.raises(AttributeError):
        _ = coursegen.no_such_name  # type: ignore[attr-defined] # the error is the point


def test_cli_help_leaves_servers_and_providers_unimported() -> None:
    """`coursegen --help` imports no HTTP client, event loop, store, web framework, server,
    simulator or provider: only the command line's grammar."""
    loaded = _modules_after("help")
    assert loaded.isdisjoint(_NOT_ON_HELP), sorted(loaded & set(_NOT_ON_HELP))


def test_cli_version_reads_the_installed_version_when_asked() -> None:
    """`coursegen --version` still prints the installed distribution's version, on stdout."""
    from importlib.metadata import version  # noqa: PLC0415 - what the CLI must agree with

    done = subprocess.run(
        [sys.executable, "-m", "coursegen", "--version"],
        capture_output=True,
        text=True,
        check=False,  # the exit status is asserted below, beside the output
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"coursegen {version('coursegen')}\n",
        "",
    )
