"""The `coursegen` command line."""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

import coursegen
from coursegen import _registry
from coursegen.cli import main
from served import learningstudio_served


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
    with learningstudio_served(200) as target:
        yield target


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


# -- a finished tool ---------------------------------------------------------------------


def parse_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The message argparse prints for a refused command line (it exits 2)."""
    with pytest.raises(SystemExit) as caught:
        main(list(argv))
    assert caught.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("provider", "fragment"),
    [
        ("learningstudio:/bad", "neither a provider name"),
        ("sandbox", "sandbox+learningstudio://"),
        ("learningstudoi", "did you mean 'learningstudio'?"),
    ],
)
def test_a_bad_provider_gets_advice_not_a_pip_command_for_it(provider: str, fragment: str) -> None:
    """`--provider learningstudio:/bad` or `sandbox` never suggest `pip install coursegen-...`."""
    code, _, err = run("generate", "Knots", "--provider", provider)
    assert code == 2
    assert fragment in err
    assert "coursegen-" not in err


def test_an_unsupported_option_says_what_the_cli_can_do() -> None:
    """`--level expert` on LearningStudioAI says to pass --no-strict, which then drops it."""
    code, _, err = run("generate", "Knots", "--level", "expert", "--speed", "3000")
    assert code == 2
    assert "learningstudio does not support level" in err
    assert "--no-strict" in err
    assert "strict=False" not in err
    code, out, err = run("generate", "Knots", "--level", "expert", "--no-strict", "--speed", "3000")
    assert code == 0, err
    assert "coursegen: warning: learningstudio does not support level: dropped" in err
    assert "Knots" in out


def test_a_missing_source_file_is_named_once(tmp_path) -> None:
    """`assess --source /nonexistent.pdf` says that path does not exist, in one clean line."""
    missing = tmp_path / "nonexistent.pdf"
    code, out, err = run("assess", "Leaves", "--source", str(missing))
    assert code == 2
    assert out == ""
    assert err == f"coursegen: --source {missing}: does not exist\n"


@pytest.mark.parametrize(
    "argv",
    [
        ("generate", "Knots", "--timeout", "-1"),
        ("generate", "Knots", "--timeout", "0"),
        ("generate", "Knots", "--speed", "0"),
        ("wait", "cg1.x", "--speed", "-5"),
        ("sandbox", "serve", "learningstudio", "--speed", "0"),
        ("sandbox", "serve", "learningstudio", "--port", "70000"),
    ],
)
def test_non_positive_timeouts_speeds_and_bad_ports_are_refused(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    """A timeout or speed of zero or less, or a port past 65535, is a usage error (exit 2)."""
    err = parse_error(capsys, *argv)
    assert "must be a positive number" in err or "a port is 0 to 65535" in err


def test_sandbox_serve_without_uvicorn_prints_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """With uvicorn missing, `sandbox serve` exits 2 with the pip command, and nothing else."""
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # what `import uvicorn` sees uninstalled
    code, out, err = run("sandbox", "serve", "learningstudio")
    assert code == 2
    assert out == ""
    assert err == 'coursegen: serving a sandbox needs uvicorn: pip install "coursegen[serve]"\n'


def test_output_closed_early_gives_no_traceback() -> None:
    """`coursegen providers | head -1`: the closed pipe ends the command quietly (exit 141)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first byte is written
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "coursegen", "providers"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert finished.returncode == 141
    assert finished.stderr == ""


def test_help_documents_the_exit_codes_and_the_serve_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--help` lists every exit code; `sandbox serve --help` explains --host and --port."""
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for line in (
        "0    done",
        "1    the job failed",
        "2    usage or configuration error",
        "3    the vendor or the network said no",
        "4    providers --check",
        "130  interrupted",
        "141  the output was closed early",
    ):
        assert line in text
    with pytest.raises(SystemExit):
        main(["sandbox", "serve", "--help"])
    text = capsys.readouterr().out
    assert "address to listen on" in text
    assert "TCP port to listen on" in text


def test_providers_check_fails_on_a_broken_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """`providers --check` exits 4 when a plugin failed to load, 0 when all loaded."""

    class Broken(importlib.metadata.EntryPoint):
        def load(self) -> object:
            raise ImportError("No module named 'left_pad'")

    installed = list(importlib.metadata.entry_points(group="coursegen"))
    healthy = coursegen.Registry(entry_points=lambda: installed, environ={})
    monkeypatch.setattr(_registry, "_default", healthy)
    assert run("providers", "--check")[0] == 0
    broken = coursegen.Registry(
        entry_points=lambda: [*installed, Broken("broken", "x:y", "coursegen")], environ={}
    )
    monkeypatch.setattr(_registry, "_default", broken)
    code, out, _ = run("providers", "--check")
    assert code == 4
    assert "BROKEN plugin broken" in out
    assert run("providers", "--check", "--json")[0] == 4
    assert run("providers")[0] == 0  # listing alone still succeeds


def test_no_provider_installed_says_which_pip_command_installs_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no plugin installed, `generate` names the pip command, never "using the sandbox"."""
    monkeypatch.setattr(_registry, "_default", coursegen.Registry(entry_points=list, environ={}))
    code, out, err = run("generate", "Knots")
    assert code == 2
    assert out == ""
    assert 'pip install "coursegen[learningstudio]"' in err
    assert 'pip install "coursegen[all]"' in err
    assert "using the built-in" not in err
    code, out, _ = run("providers")
    assert 'No providers installed: pip install "coursegen[all]"' in out


def test_a_token_of_an_in_process_sandbox_says_the_job_is_gone() -> None:
    """`generate --no-wait` on the default sandbox, then `status TOKEN`: a clear message."""
    code, out, err = run("generate", "Knots", "--no-wait", "--json")
    assert code == 0, err
    token = json.loads(out)["token"]
    code, out, err = run("status", token)
    assert code == 2
    assert "lived in an in-process sandbox" in err
    assert "coursegen sandbox serve learningstudio" in err
    assert "API key" not in err


def test_status_of_a_served_sandbox_job_needs_only_the_token(served: str) -> None:
    """A token names its endpoint: `status TOKEN` alone finds a job on a served sandbox."""
    code, out, _ = run("generate", "Ropes", "--provider", served, "--no-wait", "--json")
    assert code == 0
    token = json.loads(out)["token"]
    code, out, err = run("status", token)
    assert code == 0, err
    assert "learningstudio job" in out


def test_each_sandbox_run_hands_out_new_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs of `generate` on the default sandbox make jobs with different ids."""
    monkeypatch.delenv("COURSEGEN_SANDBOX_SEED")  # the suite's fixed seed, for this test off
    ids = set()
    for _ in range(2):
        code, out, err = run("generate", "Knots", "--no-wait", "--json")
        assert code == 0, err
        ids.add(json.loads(out)["job_id"])
    assert len(ids) == 2
