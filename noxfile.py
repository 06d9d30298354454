"""Developer sessions. `uvx nox` (or `uv run nox`) runs them all; `-s NAME` runs one.

Sessions install the workspace with uv from the lock file, so they test what CI tests;
versions come from `pyproject.toml` and `uv.lock`, never from here.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typing"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
# The oldest supported Python: what the project promises, and what every machine here has.
PYTHON = nox.project.python_versions(PYPROJECT)[:1]
PROVIDERS = ("coursegen_learningstudio", "coursegen_tutorflow", "coursegen_edumate")
"""The providers' wheels, by the distribution name their file names start with."""
THROWAWAY = Path(__file__).parent / "tests" / "fixtures" / "throwaway_provider"


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
def soak(session: nox.Session) -> None:
    """The fault-injection soak at full size: 1,000 jobs across the providers on each
    backend (virtual time), its table printed; `COURSEGEN_SOAK_JOBS` changes the size."""
    _sync(session)
    jobs = os.environ.get("COURSEGEN_SOAK_JOBS", "1000")
    session.run(
        "pytest",
        "tests/test_soak.py",
        "-q",
        "-s",
        "-p",
        "no:cacheprovider",
        *session.posargs,
        env={"COURSEGEN_SOAK_JOBS": jobs},
    )


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """The fuzz suite with a larger budget: `nox -s fuzz -- 100` runs 100 examples per
    provider, answer kind and backend (default 200), then prints what ran and the
    untyped exceptions (any is a failure)."""
    _sync(session)
    examples = session.posargs[0] if session.posargs else "200"
    report = Path(session.create_tmp()) / "fuzz-report.json"
    report.unlink(missing_ok=True)
    env = {
        "HYPOTHESIS_PROFILE": "fuzz",
        "COURSEGEN_FUZZ_EXAMPLES": examples,
        "COURSEGEN_FUZZ_REPORT": str(report),
    }
    try:
        session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/test_fuzz.py", env=env)
    finally:
        if report.exists():
            counts = json.loads(report.read_text())
            for name, run in sorted(counts["examples"].items()):
                if name != "untyped":
                    session.log(f"{name}: {run} examples")
            session.log(f"untyped exceptions: {counts['untyped']}")


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


# The dependency-free ways a user meets coursegen: each command is what the README says.
_USER_COMMANDS = (
    ("providers", "--check"),
    ("generate", "Workplace safety basics", "--speed", "3000", "--quiet"),
    ("assess", "Photosynthesis", "--bloom", "remember=2", "--speed", "3000", "--quiet"),
)
_IMPORT_EVERY_MODULE = """
import importlib, pkgutil, sys
names = [name for name in sys.argv[1:] if not name.startswith("-")]
skip = {name[1:] for name in sys.argv[1:] if name.startswith("-")}
for name in names:
    package = importlib.import_module(name)
    for module in pkgutil.walk_packages(package.__path__, name + "."):
        if module.name not in skip and not module.name.endswith(".__main__"):
            importlib.import_module(module.name)
print("imported every module of", ", ".join(names), "but", ", ".join(skip) or "none")
"""


@nox.session(venv_backend="none")
def pip_install(session: nox.Session) -> None:
    """The pip path: wheels in a fresh venv, with plain pip and no dev dependency.

    Builds the core's and the three providers' wheels (and a throwaway third-party
    provider's, `tests/fixtures/throwaway_provider`), then in a new `python -m venv`:
    the core alone (every module imports; the CLI says which pip command adds a
    provider), then `coursegen[all,testing]`: `providers --check`, `generate` on the
    sandbox, `assess` on the EduMate sandbox, and the throwaway provider's
    `ProviderContract` run with the pytest that `coursegen[testing]` brought; last, a
    provider written by `coursegen new-provider`, installed with `pip install -e`, and
    its contract.
    """
    # The venv is made by the Python running nox (the oldest supported, as for the others).
    root = Path(session.create_tmp()).resolve()
    shutil.rmtree(root, ignore_errors=True)
    dist, venv, contract = root / "dist", root / "venv", root / "contract"
    session.run("uv", "build", "--all-packages", "--wheel", "--out-dir", str(dist), external=True)
    session.run("uv", "build", "--wheel", "--out-dir", str(dist), str(THROWAWAY), external=True)
    wheels = {path.name.split("-", 1)[0]: path for path in dist.glob("*.whl")}
    session.log("wheels: " + ", ".join(sorted(path.name for path in wheels.values())))
    session.run(sys.executable, "-m", "venv", str(venv), external=True)
    python, coursegen = str(venv / "bin" / "python"), str(venv / "bin" / "coursegen")
    # Nothing of this machine's configuration may help: a user's fresh shell.
    env = dict.fromkeys(("COURSEGEN_URL", "COURSEGEN_CONFIG", "COURSEGEN_PLUGINS"), "")
    pip = (python, "-m", "pip", "--disable-pip-version-check", "install", "--quiet")

    session.log("1. the core alone: pip install coursegen")
    session.run(*pip, str(wheels["coursegen"]), external=True)
    # All but the test kit, which needs the `testing` extra (pytest, trio).
    session.run(
        python,
        "-c",
        _IMPORT_EVERY_MODULE,
        "coursegen",
        "-coursegen.testing",
        "-coursegen._testkit",
        external=True,
        env=env,
    )
    session.run(coursegen, "providers", external=True, env=env)
    session.run(coursegen, "generate", "Knots", external=True, env=env, success_codes=[2])

    session.log('2. every vendor and the test kit: pip install "coursegen[all,testing]"')
    session.run(
        *pip,
        "--find-links",
        str(dist),
        f"{wheels['coursegen']}[all,testing]",
        *(str(wheels[name]) for name in PROVIDERS),
        external=True,
    )
    session.run(python, "-m", "pip", "list", "--disable-pip-version-check", external=True)
    session.run(
        python,
        "-c",
        _IMPORT_EVERY_MODULE,
        "coursegen",
        *PROVIDERS,
        external=True,
        env=env,
    )
    session.run(coursegen, "--version", external=True, env=env)
    for command in _USER_COMMANDS:
        session.run(coursegen, *command, external=True, env=env)

    session.log("3. a third party's provider, installed with pip, runs the contract")
    session.run(*pip, str(wheels["coursegen_quickcourse"]), external=True)
    session.run(coursegen, "providers", "--check", external=True, env=env)
    shutil.copytree(THROWAWAY / "tests", contract)
    session.chdir(contract)
    session.run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", external=True, env=env)

    session.log("4. the template: coursegen new-provider, pip install -e, the contract")
    generated = root / "coursegen-acme"
    session.run(coursegen, "new-provider", "acme", "--dir", str(generated), external=True)
    session.run(*pip, "-e", str(generated), external=True)
    session.run(coursegen, "providers", "--check", external=True, env=env)
    session.chdir(generated)
    session.run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", external=True, env=env)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation site: `mkdocs build --strict` (a broken link or reference fails)."""
    _sync(session, "--group", "docs")
    # Material's banner about its successor is not a warning of this build.
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(python=PYTHON)
def screenshots(session: nox.Session) -> None:
    """The tutorial and the feature matrix in headless Chromium, as PNGs in docs/images/."""
    _sync(session, "--group", "docs")
    site = Path(session.create_tmp()).resolve() / "site"
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", str(site), env={"NO_MKDOCS_2_WARNING": "1"}
    )
    session.run("python", "docs/hooks/screenshots.py", str(site), "docs/images")
