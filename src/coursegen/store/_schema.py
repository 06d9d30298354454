"""The store's tables, their forward-only migrations, and every SQL statement it runs.

One set of statements serves both drivers. They are written with `?` placeholders (the
SQLite style); the PostgreSQL driver rewrites them to `%s` in one place
(`_postgres.placeholders`). Only standard SQL both databases share is used: TEXT and
INTEGER columns, `INSERT ... ON CONFLICT DO NOTHING`, partial-free indexes.

A migration is a version number and the statements that bring the previous version to
it. They run in order, each in its own transaction, when a store is opened; a store
written by a newer coursegen (a version this code does not know) is refused rather than
guessed at. Never edit a released migration: add the next one.
"""

from __future__ import annotations

from typing import Final

import attrs

__all__ = ["LATEST", "MIGRATIONS", "SQL", "PostgresOnly"]


@attrs.frozen
class PostgresOnly:
    """A migration statement only PostgreSQL runs (a function SQLite has no language
    for); SQLite records the version without it."""

    sql: str


# The fleet's shared rate budget: at most `p_limit` entries of a scope whose time is in
# the last `p_window` seconds of the database's clock, decided under an advisory lock
# on the scope, so two processes never both take the last place. An entry counts from
# the moment it is taken until it is settled (its answer came: `coursegen_rate_settle`
# moves it to that moment), and an unsettled one counts however old it is, up to
# `p_in_flight` seconds (a process that died with a request in the air). Returns the
# entry's id and its time (epoch seconds) when admitted, else NULL and how many seconds
# until a place frees up.
_RATE_TAKE = """CREATE FUNCTION coursegen_rate_take(
    p_scope TEXT, p_limit INTEGER, p_window DOUBLE PRECISION, p_in_flight DOUBLE PRECISION
) RETURNS TABLE (entry BIGINT, taken_at DOUBLE PRECISION, wait DOUBLE PRECISION)
LANGUAGE plpgsql AS $$
DECLARE
    v_now TIMESTAMPTZ;
    v_used INTEGER;
    v_frees TIMESTAMPTZ;
    v_entry BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('coursegen_rate:' || p_scope, 0));
    v_now := clock_timestamp();  -- after the lock: the moment of the decision
    DELETE FROM coursegen_rate_log AS log
        WHERE log.scope = p_scope
        AND log.at <= v_now - make_interval(secs => p_window)
        AND (log.settled OR log.at <= v_now - make_interval(secs => p_in_flight));
    SELECT count(*) INTO v_used FROM coursegen_rate_log AS log WHERE log.scope = p_scope;
    IF v_used < p_limit THEN
        INSERT INTO coursegen_rate_log (scope, at, settled) VALUES (p_scope, v_now, FALSE)
            RETURNING id INTO v_entry;
        RETURN QUERY SELECT v_entry, extract(epoch FROM v_now)::DOUBLE PRECISION,
            0.0::DOUBLE PRECISION;
        RETURN;
    END IF;
    -- Full: the place frees when the entry `p_limit` places from the newest leaves the
    -- window (an unsettled one when its answer comes: asked again then, at the latest).
    SELECT CASE WHEN log.settled THEN log.at + make_interval(secs => p_window)
                ELSE greatest(v_now, log.at + make_interval(secs => p_window)) END
        INTO v_frees FROM coursegen_rate_log AS log WHERE log.scope = p_scope
        ORDER BY log.at DESC OFFSET p_limit - 1 LIMIT 1;
    RETURN QUERY SELECT NULL::BIGINT, NULL::DOUBLE PRECISION,
        greatest(extract(epoch FROM v_frees - v_now)::DOUBLE PRECISION, 0.001);
END
$$"""

# The answer of the request an entry admitted came: from now it counts from this moment
# (the vendor counted the request somewhere before it), and leaves with the window.
_RATE_SETTLE = """CREATE FUNCTION coursegen_rate_settle(p_scope TEXT, p_entry BIGINT)
RETURNS DOUBLE PRECISION LANGUAGE plpgsql AS $$
DECLARE
    v_now TIMESTAMPTZ;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('coursegen_rate:' || p_scope, 0));
    v_now := clock_timestamp();
    UPDATE coursegen_rate_log SET at = v_now, settled = TRUE WHERE id = p_entry;
    RETURN extract(epoch FROM v_now)::DOUBLE PRECISION;
END
$$"""

MIGRATIONS: Final[tuple[tuple[int, tuple[str | PostgresOnly, ...]], ...]] = (
    (
        1,
        (
            # One row per job a client was asked to create, from before the create is sent.
            # `id` is the store's own name for the job (stable when a staged job's vendor
            # id changes); `state` is how far the create got (see `SubmitState`).
            """CREATE TABLE coursegen_jobs (
                id TEXT PRIMARY KEY,
                provider TEXT NOT NULL,
                endpoint TEXT NOT NULL,
                scope TEXT NOT NULL,
                state TEXT NOT NULL,
                request TEXT,
                idempotency_key TEXT,
                job_id TEXT,
                status TEXT,
                title TEXT,
                snapshot TEXT,
                last_error TEXT,
                following INTEGER NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )""",
            # A vendor job is recorded once per endpoint: a second row would be a duplicate.
            """CREATE UNIQUE INDEX coursegen_jobs_vendor_id
                ON coursegen_jobs (provider, endpoint, job_id)""",
            """CREATE INDEX coursegen_jobs_scope
                ON coursegen_jobs (provider, endpoint, scope, state)""",
            "CREATE INDEX coursegen_jobs_status ON coursegen_jobs (status, created_at)",
            # Webhook deliveries already taken in: a vendor's retry is recorded once.
            """CREATE TABLE coursegen_events (
                provider TEXT NOT NULL,
                event_key TEXT NOT NULL,
                received_at TEXT NOT NULL,
                PRIMARY KEY (provider, event_key)
            )""",
        ),
    ),
    (
        2,
        (
            # Each change of a job, as written: the timeline the dashboard shows. Only
            # the state (status, vendor status, progress, error), never the result again.
            """CREATE TABLE coursegen_history (
                record_id TEXT NOT NULL,
                observed_at TEXT NOT NULL,
                entry TEXT NOT NULL
            )""",
            "CREATE INDEX coursegen_history_record ON coursegen_history (record_id, observed_at)",
            # A batch's fleet figures at moments of its run (`coursegen batch`): its ETA,
            # and each rate budget's use and 429s over time.
            """CREATE TABLE coursegen_fleet_samples (
                batch TEXT NOT NULL,
                taken_at TEXT NOT NULL,
                sample TEXT NOT NULL
            )""",
            """CREATE INDEX coursegen_fleet_samples_batch
                ON coursegen_fleet_samples (batch, taken_at)""",
        ),
    ),
    (
        3,
        (
            # The vendor ids a staged job went by before its current one (an EduMate PDF
            # job's chunking job): a token of an earlier stage finds the job, and never
            # starts a later stage a second time.
            """CREATE TABLE coursegen_former_ids (
                provider TEXT NOT NULL,
                endpoint TEXT NOT NULL,
                job_id TEXT NOT NULL,
                record_id TEXT NOT NULL,
                PRIMARY KEY (provider, endpoint, job_id)
            )""",
        ),
    ),
    (
        4,
        (
            # The owner of each rate scope in a worker fleet (`coursegen worker`), and its
            # epoch: bumped on every takeover, checked by every write of an owner, so a
            # worker cut off from the database cannot overwrite its successor's records.
            """CREATE TABLE coursegen_owners (
                scope TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                epoch INTEGER NOT NULL,
                taken_at TEXT NOT NULL
            )""",
        ),
    ),
    (
        5,
        (
            # The fleet's shared rate budget (PostgreSQL): the requests web processes
            # send themselves (exports, public pages), one row per request in the air or
            # answered within its window. The owner of a scope keeps the rest of the
            # vendor's limit in memory (see `coursegen._fleet.WEB_SHARE`).
            PostgresOnly(
                """CREATE TABLE coursegen_rate_log (
                    id BIGSERIAL PRIMARY KEY,
                    scope TEXT NOT NULL,
                    at TIMESTAMPTZ NOT NULL,
                    settled BOOLEAN NOT NULL
                )"""
            ),
            PostgresOnly("CREATE INDEX coursegen_rate_log_scope ON coursegen_rate_log (scope, at)"),
            PostgresOnly(_RATE_TAKE),
            PostgresOnly(_RATE_SETTLE),
        ),
    ),
)

LATEST: Final = MIGRATIONS[-1][0]

_COLUMNS = (
    "id, provider, endpoint, scope, state, request, idempotency_key, job_id, status, "
    "title, snapshot, last_error, following, created_at, updated_at"
)


class SQL:
    """Every statement the store runs (placeholders in `?` style)."""

    CREATE_VERSIONS: Final = (
        "CREATE TABLE IF NOT EXISTS coursegen_schema "
        "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    CURRENT_VERSION: Final = "SELECT MAX(version) FROM coursegen_schema"
    RECORD_VERSION: Final = "INSERT INTO coursegen_schema (version, applied_at) VALUES (?, ?)"

    INSERT_JOB: Final = (
        f"INSERT INTO coursegen_jobs ({_COLUMNS}) "  # noqa: S608 - constant column names
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    SET_STATE: Final = "UPDATE coursegen_jobs SET state = ?, updated_at = ? WHERE id = ?"
    # Only from the state the sender saw: of two clients racing for one intent, one sends.
    CLAIM: Final = "UPDATE coursegen_jobs SET state = ?, updated_at = ? WHERE id = ? AND state = ?"
    SET_SUBMITTED: Final = (
        "UPDATE coursegen_jobs SET state = ?, job_id = ?, status = COALESCE(status, ?), "
        "title = COALESCE(title, ?), snapshot = COALESCE(snapshot, ?), last_error = NULL, "
        "following = ?, updated_at = ? WHERE id = ?"
    )
    SET_OUTCOME: Final = (
        "UPDATE coursegen_jobs SET state = ?, last_error = ?, following = ?, updated_at = ? "
        "WHERE id = ?"
    )
    SET_SNAPSHOT: Final = (
        "UPDATE coursegen_jobs SET job_id = ?, status = ?, title = ?, snapshot = ?, "
        "last_error = ?, following = ?, updated_at = ? WHERE id = ?"
    )
    SELECT_JOBS: Final = f"SELECT {_COLUMNS} FROM coursegen_jobs"  # noqa: S608 - constant
    BY_ID: Final = f"{SELECT_JOBS} WHERE id = ?"
    # By the vendor's current id, or one the job went by at an earlier stage.
    BY_VENDOR_ID: Final = (
        f"{SELECT_JOBS} WHERE provider = ? AND endpoint = ? AND (job_id = ? OR id IN "  # noqa: S608 - constant column names
        "(SELECT record_id FROM coursegen_former_ids "
        "WHERE provider = ? AND endpoint = ? AND job_id = ?)) ORDER BY job_id = ? DESC"
    )
    INSERT_FORMER_ID: Final = (
        "INSERT INTO coursegen_former_ids (provider, endpoint, job_id, record_id) "
        "SELECT provider, endpoint, ?, id FROM coursegen_jobs WHERE id = ? "
        "ON CONFLICT DO NOTHING"
    )
    BY_ANY_ID: Final = f"{SELECT_JOBS} WHERE id = ? OR job_id = ? ORDER BY created_at"
    UNFINISHED: Final = (
        f"{SELECT_JOBS} WHERE provider = ? AND endpoint = ? AND scope = ? "
        "AND (state IN ('pending', 'sending', 'unknown') "
        "OR (state = 'submitted' AND following = 1)) "
        "ORDER BY created_at, id"
    )
    PENDING: Final = (
        f"{SELECT_JOBS} WHERE provider = ? AND endpoint = ? AND scope = ? "
        "AND state = 'pending' ORDER BY created_at, id"
    )
    TAKE_OWNERSHIP: Final = (
        "INSERT INTO coursegen_owners (scope, owner, epoch, taken_at) VALUES (?, ?, 1, ?) "
        "ON CONFLICT (scope) DO UPDATE SET owner = excluded.owner, "
        "epoch = coursegen_owners.epoch + 1, taken_at = excluded.taken_at RETURNING epoch"
    )
    # An owner's writes start with this (PostgreSQL adds FOR SHARE: a takeover waits for
    # the write in flight, and every later write of the old owner sees the new epoch).
    RATE_TAKE: Final = "SELECT entry, taken_at, wait FROM coursegen_rate_take(?, ?, ?, ?)"
    RATE_SETTLE: Final = "SELECT coursegen_rate_settle(?, ?)"
    EPOCH_OF: Final = "SELECT epoch FROM coursegen_owners WHERE scope = ?"
    OWNERS: Final = "SELECT scope, owner, epoch, taken_at FROM coursegen_owners ORDER BY scope"
    INSERT_HISTORY: Final = (
        "INSERT INTO coursegen_history (record_id, observed_at, entry) VALUES (?, ?, ?)"
    )
    HISTORY_OF: Final = (
        "SELECT observed_at, entry FROM coursegen_history WHERE record_id = ? ORDER BY observed_at"
    )
    INSERT_SAMPLE: Final = (
        "INSERT INTO coursegen_fleet_samples (batch, taken_at, sample) VALUES (?, ?, ?)"
    )
    SAMPLES: Final = "SELECT sample FROM coursegen_fleet_samples ORDER BY taken_at"
    INSERT_EVENT: Final = (
        "INSERT INTO coursegen_events (provider, event_key, received_at) VALUES (?, ?, ?) "
        "ON CONFLICT DO NOTHING"
    )

    @staticmethod
    def by_ids(count: int) -> str:
        """The records of `count` store ids, in one statement (a fleet's handles read so)."""
        return f"{SQL.SELECT_JOBS} WHERE id IN ({', '.join('?' * count)})"

    @staticmethod
    def select(
        *, provider: str | None, status: str | None, state: str | None, limit: int | None
    ) -> tuple[str, tuple[object, ...]]:
        """The listing query with the filters given (each a bound parameter)."""
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (("provider", provider), ("status", status), ("state", state)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        sql = SQL.SELECT_JOBS
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY created_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return sql, tuple(params)
