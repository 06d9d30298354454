"""Import time: `import coursegen` and `coursegen --help`, beside what the same process
pays once every part the package used to import up front is loaded.

Each figure is the median of `runs` fresh interpreters: the time from before the import
to after it, read inside the interpreter (so its start-up is left out), with the modules
the import added to `sys.modules`; `python -X importtime -c "import coursegen"` breaks
the same time down by module. The eager row imports, after
`coursegen`, what `import coursegen` loaded before imports were made lazy: the client
and its HTTP stack, the store, the sandboxes (Starlette) and the three providers. It
is the baseline the lazy import is measured against, in the same run.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

import attrs

__all__ = ["ImportTime", "import_lines", "import_times"]

_EAGER = (
    "coursegen._client",
    "coursegen.store",
    "coursegen.sandbox",
    "coursegen_learningstudio",
    "coursegen_tutorflow",
    "coursegen_edumate",
)

_PROBE = """
import importlib, json, runpy, sys, time
before = set(sys.modules)
started = time.perf_counter()
what = sys.argv[1]
if what == "help":
    sys.argv = ["coursegen", "--help"]
    try:
        runpy.run_module("coursegen", run_name="__main__")
    except SystemExit:
        pass
else:
    import coursegen
    if what == "eager":
        for name in sys.argv[2:]:
            importlib.import_module(name)
seconds = time.perf_counter() - started
sys.stderr.write("MODULES " + json.dumps([len(set(sys.modules) - before), seconds]) + "\\n")
"""


@attrs.frozen
class ImportTime:
    """One way in: median microseconds of import and the modules it loaded."""

    what: str
    micros: float
    spread: tuple[float, float]
    modules: int

    def to_json(self) -> dict[str, object]:
        return attrs.asdict(self)


def _one(what: str) -> tuple[float, int]:
    done = subprocess.run(  # noqa: S603 - our own interpreter on our own probe
        [sys.executable, "-c", _PROBE, what, *_EAGER],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in done.stderr.splitlines() if line.startswith("MODULES "))
    modules, seconds = json.loads(line.split(" ", 1)[1])
    total = seconds * 1e6
    return total, modules


def import_times(runs: int = 7) -> list[ImportTime]:
    """`import coursegen`, `coursegen --help` and the eager baseline, `runs` times each,
    interleaved so that a busy moment of the machine falls on all three alike."""
    samples: dict[str, list[tuple[float, int]]] = {"import": [], "help": [], "eager": []}
    for _ in range(runs):
        for what, found in samples.items():
            found.append(_one(what))
    out = []
    for what, found in samples.items():
        micros = [m for m, _ in found]
        out.append(
            ImportTime(
                what=what,
                micros=statistics.median(micros),
                spread=(min(micros), max(micros)),
                modules=max(n for _, n in found),
            )
        )
    return out


_LABELS = {
    "import": "`import coursegen`",
    "help": "`coursegen --help`",
    "eager": "`import coursegen` + what it used to load up front (baseline)",
}


def import_lines(found: list[ImportTime]) -> list[str]:
    """The import-time table (markdown)."""
    eager = next(t for t in found if t.what == "eager")
    return [
        "| way in | import ms (median) | range ms | modules loaded | vs baseline |",
        "|---|---|---|---|---|",
        *(
            f"| {_LABELS[t.what]} | {t.micros / 1000:.1f} | {t.spread[0] / 1000:.1f}-"
            f"{t.spread[1] / 1000:.1f} | {t.modules} | {t.micros / eager.micros:.2f}x |"
            for t in found
        ),
    ]
