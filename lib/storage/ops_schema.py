"""The console's database (``settings.ops_db_path()``): every table, as numbered migrations.

One file holds the call log (``entries``), the session registry (``sessions``,
``session_versions``) and the saved QA runs (``qa_runs``, ``qa_cases``): a session or a QA case
and the log entry that caused it commit in one transaction, and one backup holds them all.

A migration, once released, never changes: a database that ran it must end up with the schema the
next one expects. ``0001_initial`` is the schema every area created for itself before migrations
existed (commit d3b227b and earlier), so those databases are adopted (``lib.storage.migrate``).
To change the schema, append a function here (next number, ``@MIGRATIONS(name="000N_what")``) and
say what it does in docs/storage.md.
"""
from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from lib.calllog import summaries
from lib.storage.migrate import migrate

MIGRATIONS = Migrations("ops")

# Indexes of the call log as migration 0001 made them (0008 slims some: ``_LEAN_ENTRY_INDEXES``).
# They serve the audit page (time range + one filter, 50 rows a page).
_ENTRY_INDEXES = (
    ("entries_ts", "(ts)"),
    ("entries_operator_ts", "(operator, ts)"),
    # Covers the audit charts (calls per hour, latency per endpoint) without touching the table.
    ("entries_outcome_ts", "(outcome, ts, endpoint, duration_ms)"),
    ("entries_operator_outcome_ts", "(operator, outcome, ts)"),
    ("entries_environment_ts", "(environment, ts)"),
    ("entries_session_id", "(session_id)"),
    ("entries_order_id", "(order_id)"),
    # Rare values (500s, one endpoint) would otherwise scan the ts index (~0.8 s at 1M entries).
    ("entries_http_status_ts", "(http_status, ts)"),
    ("entries_endpoint_ts", "(endpoint, ts)"),
    ("entries_attempt_id", "(attempt_id, kind)"),
    # in_flight walks only the requests, not the whole table.
    ("entries_requests", "(attempt_id) WHERE kind = 'api_request'"),
)



def append_only_trigger(table: str, event: str) -> str:
    """The trigger refusing ``event`` (UPDATE or DELETE) on ``table``; archiving drops the log's
    DELETE trigger inside its transaction and recreates it from here (lib.calllog.archive)."""
    return (f"CREATE TRIGGER IF NOT EXISTS {table}_no_{event.lower()} BEFORE {event} ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'the call log is append-only'); END")


_INITIAL = (
    # The call log: append-only (the triggers), hash-chained (lib.calllog.recipes).
    """CREATE TABLE IF NOT EXISTS entries (
            seq INTEGER PRIMARY KEY, ts TEXT NOT NULL, kind TEXT NOT NULL, operator TEXT NOT NULL,
            environment TEXT NOT NULL, tags TEXT NOT NULL, attempt_id TEXT, method TEXT, endpoint TEXT,
            path TEXT, session_id TEXT, order_id TEXT, amount TEXT, currency TEXT, http_status INTEGER,
            outcome TEXT, duration_ms REAL, detail TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)""",
    *(f"CREATE INDEX IF NOT EXISTS {name} ON entries {on}" for name, on in _ENTRY_INDEXES),
    *(append_only_trigger("entries", event) for event in ("UPDATE", "DELETE")),
    # The session registry (lib.sessions.registry): mutable, the log is the evidence.
    """CREATE TABLE IF NOT EXISTS sessions (
            session_id TEXT PRIMARY KEY, environment TEXT NOT NULL, order_id TEXT NOT NULL,
            created_by TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL,
            tags TEXT NOT NULL, params TEXT NOT NULL, amount TEXT, currency TEXT,
            version INTEGER NOT NULL, updates INTEGER NOT NULL, state TEXT NOT NULL,
            create_seq INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS sessions_environment_expires ON sessions (environment, expires_at)",
    "CREATE INDEX IF NOT EXISTS sessions_order_id ON sessions (order_id)",
    """CREATE TABLE IF NOT EXISTS session_versions (
            session_id TEXT NOT NULL, version INTEGER NOT NULL, at TEXT NOT NULL, operator TEXT NOT NULL,
            params TEXT NOT NULL, changes TEXT NOT NULL, entry_seq INTEGER NOT NULL,
            PRIMARY KEY (session_id, version))""",
    # Saved QA runs (lib.qa.store).
    """CREATE TABLE IF NOT EXISTS qa_runs (
            run_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, operator TEXT NOT NULL, environment TEXT NOT NULL,
            seed INTEGER, strength TEXT, concurrency INTEGER NOT NULL, total INTEGER NOT NULL,
            model_json TEXT, model_pict TEXT, headers TEXT NOT NULL, status TEXT NOT NULL,
            done INTEGER NOT NULL DEFAULT 0, surprises INTEGER NOT NULL DEFAULT 0,
            cancel_requested INTEGER NOT NULL DEFAULT 0, finished_at TEXT, error TEXT,
            owner_host TEXT NOT NULL, owner_pid INTEGER NOT NULL, owner_token TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS qa_runs_created ON qa_runs (created_at)",
    "CREATE INDEX IF NOT EXISTS qa_runs_status ON qa_runs (status)",
    """CREATE TABLE IF NOT EXISTS qa_cases (
            run_id TEXT NOT NULL REFERENCES qa_runs (run_id), idx INTEGER NOT NULL, case_key TEXT NOT NULL,
            labels TEXT NOT NULL, negative_path TEXT, expected_paths TEXT NOT NULL, result TEXT NOT NULL,
            surprise INTEGER NOT NULL, http_status INTEGER, session_id TEXT, paths TEXT NOT NULL,
            problems TEXT NOT NULL, error TEXT, latency_ms REAL, attempt_id TEXT, entry_seq INTEGER,
            payload TEXT NOT NULL, finished_at TEXT NOT NULL, PRIMARY KEY (run_id, idx))""",
    "CREATE INDEX IF NOT EXISTS qa_cases_key ON qa_cases (run_id, case_key, idx)",
    "CREATE INDEX IF NOT EXISTS qa_cases_surprise ON qa_cases (run_id, surprise, idx)",
)


@MIGRATIONS(name="0001_initial")
def _initial(db: Database) -> None:
    """The schema of commit d3b227b (and of every earlier release): adopted as it is."""
    for statement in _INITIAL:
        db.execute(statement)


@MIGRATIONS(name="0002_entries_hash_version")
def _entries_hash_version(db: Database) -> None:
    """Each log entry names the hash recipe it was written with; the entries before this
    migration were hashed with recipe 1 (lib.calllog.recipes)."""
    db.execute("ALTER TABLE entries ADD COLUMN hash_version INTEGER NOT NULL DEFAULT 1")


@MIGRATIONS(name="0003_payments")
def _payments(db: Database) -> None:
    """What the console knows of payments: transactions per environment, webhook deliveries (once
    per environment and webhook id), money operations, reconciliations of expired sessions."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS payment_transactions (
            environment TEXT NOT NULL, transaction_id TEXT NOT NULL, order_id TEXT, session_id TEXT,
            status TEXT, reason TEXT, amount TEXT, currency TEXT, capture INTEGER, captured TEXT NOT NULL,
            refunded TEXT NOT NULL, voided INTEGER NOT NULL, created TEXT, known_at TEXT NOT NULL,
            updated_at TEXT NOT NULL, version INTEGER NOT NULL, paid_seq INTEGER, last_seq INTEGER NOT NULL,
            PRIMARY KEY (environment, transaction_id))""")
    for name, on in (("payment_transactions_session", "payment_transactions (session_id)"),
                     ("payment_transactions_order", "payment_transactions (environment, order_id)"),
                     ("payment_transactions_paid", "payment_transactions (paid_seq) WHERE paid_seq IS NOT NULL"),
                     ("payment_transactions_updated", "payment_transactions (updated_at)")):
        db.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {on}")
    db.execute(
        """CREATE TABLE IF NOT EXISTS webhook_deliveries (
            environment TEXT NOT NULL, webhook_id TEXT NOT NULL, webhook_type TEXT, transaction_id TEXT,
            order_id TEXT, claimed_status TEXT, received_at TEXT NOT NULL, entry_seq INTEGER NOT NULL,
            confirmation TEXT NOT NULL, confirmed_seq INTEGER, PRIMARY KEY (environment, webhook_id))""")
    db.execute(
        """CREATE TABLE IF NOT EXISTS payment_operations (
            id INTEGER PRIMARY KEY AUTOINCREMENT, environment TEXT NOT NULL, transaction_id TEXT NOT NULL,
            operation TEXT NOT NULL, amount TEXT, reference TEXT, operator TEXT NOT NULL, requested_at TEXT NOT NULL,
            state TEXT NOT NULL, action_id TEXT, entry_seq INTEGER, settled_at TEXT)""")
    db.execute("CREATE INDEX IF NOT EXISTS payment_operations_txn ON payment_operations (environment, transaction_id)")
    db.execute(
        """CREATE TABLE IF NOT EXISTS payment_reconciliations (
            environment TEXT NOT NULL, session_id TEXT NOT NULL, at TEXT NOT NULL, entry_seq INTEGER NOT NULL,
            found INTEGER NOT NULL, PRIMARY KEY (environment, session_id))""")


@MIGRATIONS(name="0004_log_summaries")
def _log_summaries(db: Database) -> None:
    """Open attempts, entry counts per minute/hour/day and a latency histogram beside the log,
    kept by every append from now on and backfilled here from the entries already written
    (lib.calllog.summaries)."""
    summaries.create(db.conn)
    summaries.rebuild(db.conn)


@MIGRATIONS(name="0005_archive_markers")
def _archive_markers(db: Database) -> None:
    """Where the live log starts once its oldest entries were moved to archive files: one signed
    row per archived range (lib.calllog.archive), append-only like the log."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS archive_markers (
            first_seq INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL, anchor TEXT NOT NULL,
            last_hash TEXT NOT NULL, before TEXT NOT NULL, file TEXT NOT NULL, sha256 TEXT NOT NULL,
            count INTEGER NOT NULL, archived_at TEXT NOT NULL, operator TEXT NOT NULL, key_id TEXT,
            signature TEXT)""")
    for event in ("UPDATE", "DELETE"):
        db.execute(append_only_trigger("archive_markers", event))


def migrate_ops(path: str | Path) -> Database:
    """Bring the console's database at ``path`` to the latest schema (once per process)."""
    return migrate(path, MIGRATIONS)


@MIGRATIONS(name="0006_signins")
def _signins(db: Database) -> None:
    """Sign-ins the server knows of (lib.access.signins): Streamlit's signed cookie is not tracked
    by the server, so logout, the idle limit and an admin's sign-out end a row here, and a cookie
    replayed later carries the same ID-token claims (the key) and finds its sign-in ended."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS signins (
            signin_id TEXT PRIMARY KEY, issuer TEXT NOT NULL, subject TEXT NOT NULL, email TEXT,
            email_verified INTEGER, started_at TEXT NOT NULL, last_seen_at TEXT NOT NULL,
            ended_at TEXT, ended_why TEXT)""")
    db.execute("CREATE INDEX IF NOT EXISTS signins_email ON signins (email, ended_at)")
    db.execute("CREATE INDEX IF NOT EXISTS signins_subject ON signins (issuer, subject, ended_at)")


@MIGRATIONS(name="0007_qa_run_origin")
def _qa_run_origin(db: Database) -> None:
    """A QA run started again from a saved one names that run and which of its cases it took
    (``all``, or ``surprises``: the failed and surprising ones), so a rerun reads as one."""
    db.execute("ALTER TABLE qa_runs ADD COLUMN origin_run TEXT")
    db.execute("ALTER TABLE qa_runs ADD COLUMN origin_scope TEXT")


# The log's indexes on columns only some entries fill: a result's outcome and status, the session id
# (a create's request has none yet). Partial, so the entries without them (every request: half the
# log) cost no insert there; every query filters on the column (``=``, ``IN``, a range, ``IS NOT
# NULL``), which lets SQLite use the partial index as before.
_LEAN_ENTRY_INDEXES = (
    ("entries_outcome_ts", "(outcome, ts, endpoint, duration_ms) WHERE outcome IS NOT NULL"),
    ("entries_operator_outcome_ts", "(operator, outcome, ts) WHERE outcome IS NOT NULL"),
    ("entries_session_id", "(session_id) WHERE session_id IS NOT NULL"),
    ("entries_http_status_ts", "(http_status, ts) WHERE http_status IS NOT NULL"),
)


@MIGRATIONS(name="0008_entries_lean_indexes")
def _entries_lean_indexes(db: Database) -> None:
    """Every append pays for each index of ``entries`` (its insert, and its pages in the fsynced
    commit): drop ``entries_requests``, which no query uses any more (in-flight requests are read
    from ``open_attempts``; a request is found by ``entries_attempt_id``), and make the indexes of
    result-only columns partial (``_LEAN_ENTRY_INDEXES``). Rebuilding them reads the log once."""
    db.execute("DROP INDEX IF EXISTS entries_requests")
    for name, on in _LEAN_ENTRY_INDEXES:
        db.execute(f"DROP INDEX IF EXISTS {name}")
        db.execute(f"CREATE INDEX {name} ON entries {on}")
