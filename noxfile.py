"""Developer sessions. `uvx nox` (or `uv run nox`) runs them all; `-s NAME` runs one.

Sessions install the workspace with uv from the lock file, so they test what CI tests;
versions come from `pyproject.toml` and `uv.lock`, never from here.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typing"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
# The oldest supported Python: what the project promises, and what every machine here has.
PYTHON = nox.project.python_versions(PYPROJECT)[:1]


def _sync(session: nox.Session, *extra: str) -> None:
    session.run_install(
        "uv",
        "sync",
        "--frozen",
        "--all-packages",
        *extra,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
    )


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Every test, on asyncio and trio (each async test runs on both)."""
    _sync(session)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    _sync(session)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typing(session: nox.Session) -> None:
    """mypy --strict over the library and the providers."""
    _sync(session)
    session.run("mypy")
