"""Exit statuses of the `coursegen` command and of `coursegen batch`: stable, documented in
`--help`, and kept here, apart from the code that returns them, so that printing the help
imports nothing but these numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "BATCH_EXIT_CODES",
    "EXIT_BROKEN_PIPE",
    "EXIT_BROKEN_PLUGIN",
    "EXIT_CODES",
    "EXIT_INTERRUPTED",
    "EXIT_JOB_FAILED",
    "EXIT_OK",
    "EXIT_PROVIDER",
    "EXIT_ROWS_FAILED",
    "EXIT_STOPPED",
    "EXIT_UNFINISHED",
    "EXIT_USAGE",
]

EXIT_OK, EXIT_JOB_FAILED, EXIT_USAGE, EXIT_PROVIDER, EXIT_BROKEN_PLUGIN = 0, 1, 2, 3, 4
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141

# `coursegen batch`: 0, 2 and 130 mean what they mean for the other commands.
EXIT_ROWS_FAILED = 1
EXIT_STOPPED = 3
EXIT_UNFINISHED = 5  # not 4: the top-level CLI's 4 is a broken plugin
BATCH_EXIT_CODES: Mapping[int, str] = {
    EXIT_OK: "every row succeeded",
    EXIT_ROWS_FAILED: "every row ended, and some failed (their errors are in --out)",
    EXIT_USAGE: "the file or an option is wrong; nothing was submitted",
    EXIT_STOPPED: "the vendor refused the batch (key, plan, quota): rows left unsent",
    EXIT_UNFINISHED: "some rows did not end (outcome unknown or deadline): rerun to continue",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C): rerun the same command to continue",
}

EXIT_CODES = f"""\
exit codes (stable):
  {EXIT_OK}    done: the job succeeded, or the command did what it says
  {EXIT_JOB_FAILED}    the job failed, was cancelled or expired, or still ran at --timeout
  {EXIT_USAGE}    usage or configuration error (bad option, unknown provider, missing key)
  {EXIT_PROVIDER}    the vendor or the network said no (HTTP error, unreadable answer)
  {EXIT_BROKEN_PLUGIN}    providers --check: a plugin failed to load
  {EXIT_UNFINISHED}    batch: some rows did not end (outcome unknown or deadline); rerun it
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
  {EXIT_BROKEN_PIPE}  the output was closed early (e.g. piped into head)
"""
