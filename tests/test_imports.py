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
_NOT_ON_HELP = (
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
    """`coursegen --help` imports no web framework, server, simulator or provider."""
    loaded = _modules_after("help")
    assert loaded.isdisjoint(_NOT_ON_HELP), sorted(loaded & set(_NOT_ON_HELP))
