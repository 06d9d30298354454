"""Catalogues: many requests from one file, submitted and followed as one fleet.

```python
batch_id, rows = coursegen.batch.read_batch(Path("catalogue.csv"))
async with coursegen.connect("learningstudio", store="sqlite:///jobs.db") as client:
    report = await coursegen.batch.run_batch(client, rows, out=Path("results.jsonl"))
```

The same machinery runs `coursegen batch FILE`; see `docs/catalogues.md`.
"""

from __future__ import annotations

from ._batch import (
    EXIT_CODES,
    BatchFileError,
    BatchReport,
    BatchRow,
    FleetDisplay,
    FleetFigures,
    Ledger,
    RowOutcome,
    batch_id_for,
    read_batch,
    run_batch,
)

__all__ = [
    "EXIT_CODES",
    "BatchFileError",
    "BatchReport",
    "BatchRow",
    "FleetDisplay",
    "FleetFigures",
    "Ledger",
    "RowOutcome",
    "batch_id_for",
    "read_batch",
    "run_batch",
]
