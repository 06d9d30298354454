"""The `coursegen` command line."""

from __future__ import annotations

import importlib.metadata
import io
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

import coursegen
from coursegen import _registry
from coursegen.cli import main


@pytest.fixture(autouse=True)
def no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no provider configured in the environment."""
    for name in ("COURSEGEN_URL", "COURSEGEN_CONFIG", "LEARNINGSTUDIO_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_generate_with_nothing_configured_uses_the_sandbox_and_says_so() -> None:
    """`generate` alone runs on the sandbox, says so in one line, and prints the course."""
    code, out, err = run("generate", "Workplace safety basics", "--speed", "3000")
    assert code == 0
    assert err.count("No provider configured") == 1
    assert "Workplace Safety Basics" in out
    assert "share URL:" in out
    assert "https://learningstudioai.com/go/cou_" in out
    assert "token:" in out
    assert "100% succeeded" in err


def test_generate_json_is_machine_readable() -> None:
    """`--json` prints one JSON document: status, the normalized course and the token."""
    code, out, _ = run(
        "generate",
        "Knots",
        "--outline",
        "Bends",
        "--outline",
        "Hitches",
        "--add-on",
        "assessment",
        "--format",
        "classic",
        "--speed",
        "3000",
        "--json",
    )
    data = json.loads(out)
    assert code == 0
    assert data["status"] == "succeeded"
    assert data["result"]["title"] == "Knots"
    assert data["result"]["format"] == "classic"
    assert data["token"].startswith("cg1.")


def test_generate_refuses_an_unsupported_field_without_spending_a_request() -> None:
    """A field the provider lacks is a usage error (exit 2) naming the field."""
    code, _, err = run("generate", "Knots", "--lessons", "4", "--speed", "3000")
    assert code == 2
    assert "learningstudio does not support lesson_count" in err


def test_wrong_key_is_reported_without_the_key() -> None:
    """An authentication failure exits 3 with the vendor's code and never shows the key."""
    key = "ls_wrong_but_secret_123"
    code, out, err = run(
        "generate", "Knots", "--provider", f"sandbox+learningstudio://{key}@learningstudioai.com"
    )
    assert code == 3
    assert "INVALID_API_KEY" in err
    assert key not in out + err


def test_providers_lists_capabilities_and_broken_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """`providers` shows each provider's features, and a broken plugin with its error."""

    class Broken(importlib.metadata.EntryPoint):
        def load(self) -> object:
            raise ImportError("No module named 'left_pad'")

    installed = list(importlib.metadata.entry_points(group="coursegen"))
    registry = coursegen.Registry(
        entry_points=lambda: [*installed, Broken("broken", "x:y", "coursegen")], environ={}
    )
    monkeypatch.setattr(_registry, "_default", registry)
    code, out, _ = run("providers")
    assert code == 0
    assert "learningstudio  (plugin learningstudio 0.1.0)" in out
    assert "export scorm12/scorm2004/scorm2004_4" in out
    assert "BROKEN plugin broken: ImportError: No module named 'left_pad'" in out
    code, out, _ = run("providers", "--json")
    data = json.loads(out)
    assert data["failures"] == [
        {"plugin": "broken", "error": "ImportError: No module named 'left_pad'"}
    ]
    assert data["providers"][0]["capabilities"]["export_formats"] == [
        "scorm12",
        "scorm2004",
        "scorm2004_4",
    ]


@pytest.fixture
def served() -> Iterator[str]:
    """`coursegen sandbox serve learningstudio` on a free loopback port, in its own process."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "coursegen",
            "sandbox",
            "serve",
            "learningstudio",
            "--port",
            "0",
            "--speed",
            "200",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "learningstudio sandbox on http://127.0.0.1:" in first, first
        connect_line = process.stdout.readline()
        yield connect_line.split("Connect with: ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_status_and_wait_follow_a_job_by_token_across_processes(served: str) -> None:
    """A job made by one command is followed by `status` and `wait` from its token alone."""
    assert served.startswith("learningstudio+http://ls_sandbox_demo@127.0.0.1:")
    code, out, _ = run("generate", "Ropes", "--provider", served, "--no-wait", "--json")
    assert code == 0
    token = json.loads(out)["token"]
    code, out, _ = run("status", token, "--provider", served)
    assert code == 0
    assert "learningstudio job" in out
    code, out, err = run("wait", token, "--provider", served, "--speed", "200", "--quiet")
    assert code == 0, err
    assert "Ropes" in out
    assert "share URL:" in out


def test_assess_with_nothing_configured_uses_the_assessment_sandbox() -> None:
    """`assess` alone runs on the EduMate sandbox and its demo collection, and prints each
    question with its options, the marked answer and its Bloom level."""
    code, out, err = run(
        "assess",
        "Photosynthesis",
        "--bloom",
        "remember=1",
        "--bloom",
        "apply=1",
        "--speed",
        "3000",
    )
    assert code == 0, err
    assert "built-in edumate sandbox" in err
    assert "using the sandbox's collection edu_mate_demo" in err
    assert "1. " in out
    assert "[remember]" in out
    assert "[apply]" in out
    assert out.count("   * ") == 2  # one marked answer per question


def test_assess_on_an_assessment_provider_takes_a_pdf(tmp_path) -> None:
    """`assess --provider sandbox+edumate:// --source FILE` uploads it and prints questions."""
    pdf = tmp_path / "leaf.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n")
    code, out, err = run(
        "assess",
        "Leaves",
        "--provider",
        "sandbox+edumate://",
        "--source",
        str(pdf),
        "--bloom",
        "understand=2",
        "--speed",
        "3000",
    )
    assert code == 0, err
    assert out.count("[understand]") == 2


def test_generate_on_an_assessment_only_provider_is_refused() -> None:
    """`generate` on EduMate (assessments only) is a usage error pointing at `assess`."""
    code, out, err = run("generate", "Leaves", "--provider", "sandbox+edumate://")
    assert code == 2
    assert out == ""
    assert err == "coursegen: edumate makes assessments, not courses: use `coursegen assess`\n"
