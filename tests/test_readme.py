"""The README's example runs as written (on a faster sandbox clock)."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"


def test_readme_example_generates_a_course(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 10-line example prints the progress, then the course's title and share URL."""
    (code,) = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    script = tmp_path / "example.py"
    script.write_text(code.replace("speed=30", "speed=3000"))
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "succeeded 1.0" in out
    assert "https://learningstudioai.com/go/cou_" in out


TUTORIAL = Path(__file__).parent.parent / "docs" / "tutorial.md"


def test_tutorial_example_follows_a_course_to_its_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tutorial's first Python program prints each change, then the course."""
    blocks = re.findall(r"```python\n(.*?)```", TUTORIAL.read_text(), re.DOTALL)
    (program,) = [block for block in blocks if "anyio.run(main)" in block]
    script = tmp_path / "tutorial.py"
    script.write_text(program.replace("speed=60", "speed=3000"))
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert out.startswith("submitted ")
    assert "pending None pending" in out
    assert "succeeded 1.0 completed" in out
    assert "https://learningstudioai.com/go/cou_" in out
