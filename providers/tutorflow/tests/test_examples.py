"""The project's own examples, pointed at the TutorFlow sandbox: the README and the CLI."""

from __future__ import annotations

import io
import json
import re
import runpy
from pathlib import Path
from typing import Any

import anyio
import pytest

from coursegen.cli import main
from coursegen.testing import virtual_backend

README = Path(__file__).resolve().parents[3] / "README.md"


@pytest.fixture(autouse=True)
def no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no provider or key configured in the environment."""
    for name in (
        "COURSEGEN_URL",
        "COURSEGEN_CONFIG",
        "TUTORFLOW_API_KEY",
        "TUTORFLOW_WEBHOOK_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_the_readme_example_runs_on_the_tutorflow_sandbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's example, only its URL swapped for sandbox+tutorflow://, prints a course."""
    # The clock is sped up as tests/test_readme.py does; nothing else changes. Its
    # `anyio.run` runs on virtual time, so that what `watch()` sees first (the request
    # still PENDING) does not depend on how busy the machine is.
    real_run = anyio.run

    def run_on_virtual_time(func: Any, *args: Any) -> Any:
        backend, options = virtual_backend("trio")
        return real_run(func, *args, backend=backend, backend_options=options)

    monkeypatch.setattr(anyio, "run", run_on_virtual_time)
    (code,) = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    original = '"sandbox+learningstudio://"'
    assert original in code
    script = tmp_path / "example.py"
    swapped = code.replace(original, '"sandbox+tutorflow://"')
    script.write_text(swapped.replace("speed=30", "speed=3000"))
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "pending None" in out
    assert "succeeded None" in out  # TutorFlow reports no progress
    assert "Workplace Safety " in out
    assert "https://tutorflow.io/en/platform/courses/" in out
    assert "cg1." in out


def test_cli_generate_on_the_tutorflow_sandbox() -> None:
    """`coursegen generate --provider sandbox+tutorflow://` prints chapters, typed lessons, cost."""
    code, out, err = run(
        "generate",
        "Python for beginners",
        "--provider",
        "sandbox+tutorflow://",
        "--level",
        "beginner",
        "--lessons",
        "4",
        "--title",
        "Python 101",
        "--speed",
        "3000",
    )
    assert code == 0, err
    assert out.startswith("Python 101\n")
    assert "public URL:" in out
    assert "preview URL:" in out
    assert re.search(r"  1\. .+\n     - .+ \[[a-z-]+\]\n", out)
    assert "cost:         0.2 USD" in out
    assert "token:        cg1." in out
    assert "Submitted tutorflow job" in err
    assert "succeeded (COMPLETED)" in err


def test_cli_generate_json_on_the_tutorflow_sandbox() -> None:
    """`--json` prints the normalized course, the cost and the token."""
    code, out, _ = run(
        "generate",
        "Knots",
        "--provider",
        "sandbox+tutorflow://",
        "--lessons",
        "2",
        "--extra",
        'tier="basic"',
        "--speed",
        "3000",
        "--json",
    )
    data = json.loads(out)
    assert code == 0
    assert (data["status"], data["vendor_status"]) == ("succeeded", "COMPLETED")
    assert data["cost"] == {"amount": "0.1", "currency": "USD"}
    assert data["result"]["title"] == "Knots"
    assert len(data["result"]["lessons"]) == 2
    assert data["result"]["extra"]["tier"] == "basic"
    assert data["token"].startswith("cg1.")


def test_cli_refuses_what_tutorflow_lacks() -> None:
    """An outline is a usage error (exit 2) naming the provider and the field."""
    code, _, err = run(
        "generate", "Knots", "--provider", "sandbox+tutorflow://", "--outline", "Bends"
    )
    assert code == 2
    assert "tutorflow does not support outline" in err


def test_cli_lists_tutorflow_with_its_features() -> None:
    """`coursegen providers` shows TutorFlow's capabilities."""
    code, out, _ = run("providers")
    assert code == 0
    block = out.split("tutorflow  (plugin tutorflow", 1)[1]
    assert "features:  cost, webhooks (signed), idempotent submit, public pages, sandbox" in block
