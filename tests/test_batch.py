"""Catalogues: `coursegen.batch` and the `coursegen batch` command."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import coursegen
from coursegen.batch import EXIT_CODES, BatchFileError, FleetDisplay, read_batch, run_batch
from coursegen.cli import main
from coursegen.sandbox import Faults, JobScript, Sandbox
from coursegen_learningstudio.sandbox import DEMO_KEY, Account, LearningStudioSandbox


@pytest.fixture(autouse=True)
def no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no provider or store configured in the environment."""
    for name in ("COURSEGEN_URL", "COURSEGEN_CONFIG", "COURSEGEN_STORE", "LEARNINGSTUDIO_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def catalogue(tmp_path: Path, count: int, name: str = "catalogue.txt") -> Path:
    path = tmp_path / name
    path.write_text("".join(f"Subject number {n}\n" for n in range(1, count + 1)))
    return path


def creates(sandbox: Sandbox) -> list[str]:
    """The subjects of every create the sandbox answered, in order."""
    return [
        request.json()["subject"]
        for request in sandbox.requests
        if request.method == "POST" and request.status == 202
    ]


# -- reading a catalogue ---------------------------------------------------------------------


def test_a_text_file_is_one_subject_per_line(tmp_path: Path) -> None:
    """Blank and `#` lines are skipped; each row keeps its line number and its subject."""
    path = tmp_path / "list.txt"
    path.write_text("# autumn catalogue\nKnots\n\n  First aid  \n")
    batch, rows = read_batch(path)
    assert batch.startswith("list-")
    assert [(row.line, dict(row.fields)) for row in rows] == [
        (2, {"subject": "Knots"}),
        (4, {"subject": "First aid"}),
    ]


def test_keys_are_stable_and_survive_an_inserted_row(tmp_path: Path) -> None:
    """A row's key depends on its content and copy number, not its line: inserting a row
    keeps the others' keys, and two identical rows get two keys."""
    path = tmp_path / "list.txt"
    path.write_text("Knots\nFirst aid\nKnots\n")
    _, before = read_batch(path)
    path.write_text("Welding\nKnots\nFirst aid\nKnots\n")
    _, after = read_batch(path)
    assert len({row.key for row in before}) == 3
    assert [row.key for row in after[1:]] == [row.key for row in before]
    _, again = read_batch(path)
    assert [row.key for row in again] == [row.key for row in after]


def test_the_batch_id_names_the_file_unless_given(tmp_path: Path) -> None:
    """Two files with the same rows are two batches (no shared keys); `batch_id` overrides."""
    first = catalogue(tmp_path, 2, "a.txt")
    second = catalogue(tmp_path, 2, "b.txt")
    keys_a = {row.key for row in read_batch(first)[1]}
    keys_b = {row.key for row in read_batch(second)[1]}
    assert not keys_a & keys_b
    assert {row.key for row in read_batch(second, batch_id=read_batch(first)[0])[1]} == keys_a


def test_csv_columns_are_request_fields(tmp_path: Path) -> None:
    """CSV columns map to request fields; lists are split on '|'; a topic row is an
    assessment with its Bloom mix."""
    path = tmp_path / "catalogue.csv"
    path.write_text(
        "subject,language,format,outline,add-ons,level,topic,bloom\n"
        'Knots,pt-BR,classic,"Bends, loops|Hitches",assessment|wrapup,,,\n'
        ",,,,,,Photosynthesis,remember=2|apply=1\n"
    )
    _, rows = read_batch(path)
    kinds = {coursegen.CourseRequest, coursegen.AssessmentRequest}
    course = rows[0].request(kinds)
    assert course == coursegen.CourseRequest(
        subject="Knots",
        language="pt-BR",
        format="classic",
        outline=("Bends, loops", "Hitches"),
        add_ons=frozenset({"assessment", "wrapup"}),
    )
    assessment = rows[1].request(kinds)
    assert assessment == coursegen.AssessmentRequest(
        topic="Photosynthesis",
        bloom_mix={coursegen.BloomLevel.REMEMBER: 2, coursegen.BloomLevel.APPLY: 1},
    )


def test_jsonl_rows_take_lists_and_objects(tmp_path: Path) -> None:
    """A JSONL row gives lists and the Bloom mix as JSON; `lessons` is a whole number."""
    path = tmp_path / "catalogue.jsonl"
    path.write_text(
        '{"subject": "Knots", "outline": ["Bends"], "lessons": 4, "level": "beginner"}\n'
        '{"topic": "Leaves", "bloom": {"Understand": 3}, "collection": "biology"}\n'
    )
    _, rows = read_batch(path)
    assert rows[0].fields == {
        "subject": "Knots",
        "outline": ["Bends"],
        "lesson_count": 4,
        "level": "beginner",
    }
    assert rows[1].fields == {
        "topic": "Leaves",
        "bloom_mix": {"understand": 3},
        "collection": "biology",
    }


def test_every_bad_row_is_named_by_its_line(tmp_path: Path) -> None:
    """One error lists every bad row with its line and what is wrong with it."""
    path = tmp_path / "catalogue.jsonl"
    path.write_text(
        '{"subject": "Knots"}\n'
        "not json\n"
        '{"subject": "Knots", "lessons": "many"}\n'
        '{"topic": "Leaves", "bloom": {"memorize": 1}}\n'
        '{"subject": "Knots", "topic": "Leaves"}\n'
        '{"level": "beginner"}\n'
        "[1, 2]\n"
    )
    with pytest.raises(BatchFileError) as caught:
        read_batch(path)
    lines = [line for line, _ in caught.value.problems]
    assert lines == [2, 3, 4, 5, 6, 7]
    message = str(caught.value)
    assert "line 2: not JSON" in message
    assert "line 3: lesson_count must be a whole number" in message
    assert "'memorize' is not a Bloom level" in message
    assert "line 6: no subject" in message
    assert "nothing was submitted" in message


def test_an_unknown_csv_column_is_refused(tmp_path: Path) -> None:
    """A misspelt column is a usage error naming it, not a silently ignored field."""
    path = tmp_path / "catalogue.csv"
    path.write_text("subject,levle\nKnots,beginner\n")
    code, _, err = run("batch", str(path))
    assert code == 2
    assert "line 1: unknown column(s) 'levle'" in err


# -- running a catalogue --------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_catalogue_runs_through_one_budget_and_writes_every_result(
    tmp_path: Path,
) -> None:
    """200 rows on the LearningStudioAI sandbox: 200 creates, 0 x 429, every result in
    `--out` once, in the public JSON form, each line naming its row."""
    _, rows = read_batch(catalogue(tmp_path, 200))
    out = tmp_path / "results.jsonl"
    async with coursegen.connect("sandbox+learningstudio://", seed=1) as client:
        report = await run_batch(client, rows, out=out)
        sandbox = client.sandbox
    assert sandbox is not None
    assert report.exit_status == 0
    assert report.figures.succeeded == 200
    assert report.figures.creates == 200
    assert report.figures.rate_limited == 0
    assert sandbox.rate_limited_count == 0
    assert sorted(creates(sandbox)) == sorted(f"Subject number {n}" for n in range(1, 201))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 200
    assert {record["key"] for record in records} == {row.key for row in rows}
    first = next(record for record in records if record["line"] == 1)
    assert first["status"] == "succeeded"
    assert first["result"]["title"] == "Subject Number 1"
    assert first["token"].startswith("cg1.")


@pytest.mark.anyio
async def test_failed_jobs_are_reported_with_their_typed_error(tmp_path: Path) -> None:
    """A job the vendor fails ends its row as failed, with `JobFailed` and the vendor's code
    in `--out`; the others succeed; the exit status is 1."""
    _, rows = read_batch(catalogue(tmp_path, 3))
    out = tmp_path / "results.jsonl"
    async with coursegen.connect("sandbox+learningstudio://", seed=1) as client:
        assert client.sandbox is not None
        client.sandbox.script(
            JobScript("succeed"), JobScript("fail", error_code="GENERATION_FAILED")
        )
        report = await run_batch(client, rows, out=out)
    assert report.exit_status == 1
    assert [row.status for row in report.rows] == ["succeeded", "failed", "succeeded"]
    failed = next(json.loads(line) for line in out.read_text().splitlines() if '"failed"' in line)
    assert failed["line"] == 2
    assert failed["error"]["type"] == "JobFailed"
    assert failed["error"]["code"] == "GENERATION_FAILED"
    assert failed["result"] is None


@pytest.mark.anyio
async def test_a_spent_plan_stops_the_batch_and_leaves_the_rest_unsent(tmp_path: Path) -> None:
    """When the vendor says the plan is spent, no further create is tried; the rows sent
    still end, the others are `not sent`, and the exit status is 3."""
    _, rows = read_batch(catalogue(tmp_path, 5))
    sandbox = LearningStudioSandbox(keys={DEMO_KEY: Account(monthly_credits=2)})
    async with coursegen.connect("learningstudio", sandbox=sandbox, seed=1) as client:
        report = await run_batch(client, rows)
        assert client.sandbox is not None
        sent = creates(client.sandbox)
    assert report.exit_status == 3
    assert len(sent) == 2
    statuses = sorted(row.status for row in report.rows)
    assert statuses == ["not sent", "not sent", "not sent", "succeeded", "succeeded"]
    refused = [row for row in report.rows if row.status == "not sent"]
    assert {row.error["type"] for row in refused if row.error} == {"QuotaExceeded"}


@pytest.mark.anyio
async def test_rows_the_provider_cannot_honour_fail_before_any_create(tmp_path: Path) -> None:
    """A field the provider lacks (LearningStudioAI has no lesson count) is found on every
    row before the first create: nothing is sent."""
    path = tmp_path / "catalogue.csv"
    path.write_text("subject,lessons\nKnots,3\nFirst aid,\nWelding,5\n")
    _, rows = read_batch(path)
    async with coursegen.connect("sandbox+learningstudio://") as client:
        with pytest.raises(BatchFileError) as caught:
            await run_batch(client, rows, name=str(path))
        assert client.sandbox is not None
        assert creates(client.sandbox) == []
    assert [line for line, _ in caught.value.problems] == [2, 4]
    assert "learningstudio does not support lesson_count" in str(caught.value)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.anyio
async def test_the_live_display_redraws_in_place_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal the fleet is redrawn in place (ANSI cursor-up), ending on the final
    figures; elsewhere it is one plain line per change."""
    _, rows = read_batch(catalogue(tmp_path, 4))
    screen, summary = Terminal(), io.StringIO()
    log = io.StringIO()
    async with coursegen.connect("sandbox+learningstudio://", seed=1) as client:
        await run_batch(client, rows, display=FleetDisplay(summary, screen, name="t"))
    async with coursegen.connect("sandbox+learningstudio://", seed=1) as client:
        await run_batch(client, rows, display=FleetDisplay(io.StringIO(), log, name="t"))
    drawn = screen.getvalue()
    assert "\x1b[3F" in drawn
    assert "done 4   running 0   failed 0" in drawn.rsplit("\x1b[3F", 1)[1]
    assert "4 rows: 4 succeeded" in summary.getvalue()
    lines = log.getvalue().splitlines()
    assert "\x1b" not in log.getvalue()
    assert lines[-1].startswith("[4/4] done 4, running 0, failed 0")
    assert len(lines) == len(set(lines))


def test_json_progress_lines_end_with_a_summary(tmp_path: Path) -> None:
    """`--json` prints one JSON object per change on stdout and a summary last, whose
    exit status is the command's."""
    path = catalogue(tmp_path, 3)
    code, out, _ = run("batch", str(path), "--json", "--speed", "100")
    events = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert events[-1]["event"] == "summary"
    assert events[-1]["exit_status"] == 0
    assert events[-1]["succeeded"] == 3
    rows = [event for event in events if event["event"] == "row"]
    assert [event["status"] for event in rows].count("succeeded") == 3
    assert {event["line"] for event in rows} == {1, 2, 3}


def test_help_documents_the_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    """`coursegen batch --help` lists every exit status and its meaning."""
    with pytest.raises(SystemExit):
        main(["batch", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for code, meaning in EXIT_CODES.items():
        assert f"{code} {meaning}" in text


@pytest.mark.anyio
async def test_unfinished_rows_exit_5_a_code_of_their_own(tmp_path: Path) -> None:
    """A row whose create's answer was lost stays unfinished and the batch exits 5: not
    4, which the top-level CLI keeps for a broken plugin; `coursegen --help` lists 5."""
    _, rows = read_batch(catalogue(tmp_path, 3))
    sandbox = LearningStudioSandbox(faults=Faults(lost_answers={"/api/v1/courses": 1}))
    async with coursegen.connect("learningstudio", sandbox=sandbox, seed=1) as client:
        report = await run_batch(client, rows)
    assert sorted(row.status for row in report.rows) == ["succeeded", "succeeded", "unfinished"]
    assert report.exit_status == 5
    assert "did not end" in EXIT_CODES[5]
    assert 4 not in EXIT_CODES


def test_top_level_help_names_the_batch_unfinished_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`coursegen --help` lists 5 as batch's unfinished rows, beside 4 (a broken plugin)."""
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "4 providers --check: a plugin failed to load" in text
    assert "5 batch: some rows did not end" in text


def test_a_damaged_last_line_of_the_output_is_dropped(tmp_path: Path) -> None:
    """A line cut short by a crash is dropped when the output is opened again; the rows
    it already holds are not written twice."""
    path = catalogue(tmp_path, 2)
    out = tmp_path / "results.jsonl"
    code, _, _ = run("batch", str(path), "--out", str(out), "--speed", "100", "--quiet")
    assert code == 0
    first, second = out.read_text().splitlines()
    out.write_text(first + "\n" + second[: len(second) // 2])
    code, _, _ = run("batch", str(path), "--out", str(out), "--speed", "100", "--quiet")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert code == 0
    assert sorted(record["line"] for record in records) == [1, 2]
