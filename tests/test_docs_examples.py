"""The examples of the testing how-to run as written, as an integrator's own test suite."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PAGE = Path(__file__).parent.parent / "docs" / "testing.md"


def test_the_testing_page_examples_pass_as_a_suite(tmp_path: Path) -> None:
    """Its conftest and its tests, written to files, pass under pytest in another process."""
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.DOTALL)
    conftest, *tests = blocks
    assert "pytest_plugins" in conftest
    (tmp_path / "conftest.py").write_text(conftest)
    # The snippets build on each other (imports, `pytestmark`): one module, in order.
    (tmp_path / "test_integration.py").write_text("\n\n".join(tests))
    done = subprocess.run(  # noqa: S603 - this Python running pytest on our own files
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 passed" in done.stdout  # four tests, each on asyncio and trio
