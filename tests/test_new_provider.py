"""`coursegen new-provider`: the template a plugin author starts from works as generated."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from coursegen.cli import main


def _run(*command: str | Path, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(  # noqa: S603 - our own interpreter and files, no shell
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_generated_provider_installs_lists_and_passes_its_contract(tmp_path: Path) -> None:
    """A generated package, pip-installed editable into a fresh venv, is listed by
    `coursegen providers` there and passes its own ProviderContract there."""
    out = io.StringIO()
    assert main(["new-provider", "acme", "--dir", str(tmp_path / "acme")], out=out) == 0
    package = tmp_path / "acme"
    assert (package / "src" / "coursegen_acme" / "sandbox.py").is_file()
    assert 'acme = "coursegen_acme"' in (package / "pyproject.toml").read_text()
    # The code an author starts from keeps our own rules (every ruff rule, ours ignored),
    # with coursegen as the third-party package it is there.
    config = Path(__file__).parents[1] / "pyproject.toml"
    lint = (sys.executable, "-m", "ruff", "check", "--no-cache", "--config", config)
    lint += (
        "--config",
        'src = ["src"]',
        "--config",
        'lint.isort.known-third-party = ["coursegen"]',
    )
    lint += ("src",)
    _run(*lint, cwd=package, env=dict(os.environ))

    # A fresh venv that sees this environment's installed coursegen (and pytest, trio,
    # hatchling) the way a second site directory would, so nothing is downloaded.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.check_output(  # noqa: S603 - the venv's own interpreter
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            text=True,
        ).strip()
    )
    ours = sysconfig.get_paths()["purelib"]
    (site / "_coursegen_dev.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("COURSEGEN_", "PYTHON", "VIRTUAL_ENV"))
    }

    pip = (python, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps")
    _run(*pip, "-e", package, cwd=tmp_path, env=env)
    listed = _run(python, "-m", "coursegen", "providers", "--check", cwd=tmp_path, env=env)
    assert "acme  (plugin acme 0.1.0)" in listed
    report = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=package, env=env)
    assert " passed" in report
    assert "failed" not in report


def test_new_provider_refuses_a_bad_name_and_a_folder_in_use(tmp_path: Path) -> None:
    """A name that cannot be a URL scheme, or a non-empty folder, is a usage error (2)."""
    err = io.StringIO()
    assert main(["new-provider", "Acme-2", "--dir", str(tmp_path / "x")], err=err) == 2
    assert "lowercase letters and digits" in err.getvalue()
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("the author's")
    err = io.StringIO()
    assert main(["new-provider", "acme", "--dir", str(tmp_path / "used")], err=err) == 2
    assert "not an empty folder" in err.getvalue()
    assert (tmp_path / "used" / "keep.txt").read_text() == "the author's"
