"""Intake records in SQLite: drafts saved after every answer, completed intakes with their report and placement.

The database is protected health information: its folder is created 0700 and the file 0600 before SQLite opens it,
and every change is one transaction, so a crash leaves either the old record or the new one.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .problems import Problem, ProblemsError

DB_ENV = "IOP_DB"
DB_FILE = "intakes.sqlite3"
SCHEMA_VERSION = 1

# Why a counselor may place someone elsewhere than recommended (CLINICAL.md).
PLACEMENT_REASONS = {
    "program_full": "Program full",
    "client_preference": "Client preference",
    "payer": "Payer or insurance",
    "court_order": "Court order",
    "transportation": "Transportation",
    "language": "Language",
    "clinical_judgment": "Clinical judgment",
    "other": "Other",
}
MAX_NOTE = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS intakes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL CHECK (status IN ('draft', 'complete')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    client_id TEXT,
    pack_name TEXT NOT NULL,
    pack_version TEXT NOT NULL,
    pack_hash TEXT NOT NULL,
    rules_dir TEXT,
    answers TEXT NOT NULL,
    cursor TEXT,
    report TEXT,
    recommended_level TEXT,
    actual_level TEXT,
    actual_level_name TEXT,
    placement_reason TEXT,
    placement_note TEXT
);
"""


def default_db_path() -> Path:
    """`$IOP_DB`, else intakes.sqlite3 in the user data folder (platformdirs)."""
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("iop-cli", appauthor=False)) / DB_FILE


@dataclass
class Record:
    id: int
    status: str
    created_at: str
    updated_at: str
    client_id: str | None
    pack_name: str
    pack_version: str
    pack_hash: str
    rules_dir: str | None
    answers: dict[str, Any]
    cursor: str | None
    report: dict[str, Any] | None
    recommended_level: str | None
    actual_level: str | None
    actual_level_name: str | None
    placement_reason: str | None
    placement_note: str | None

    @property
    def overridden(self) -> bool:
        return self.actual_level is not None and self.actual_level != self.recommended_level


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store:
    """One records database. Open with `Store.open(path)`; use as a context manager to close it."""

    def __init__(self, path: Path, connection: sqlite3.Connection):
        self.path = path
        self.db = connection

    @classmethod
    def open(cls, path: str | Path | None = None, create: bool = True) -> Store:
        target = Path(path).expanduser() if path else default_db_path()
        if not target.exists():
            if not create:
                raise ProblemsError(
                    [Problem(str(target), "no records database here yet", "run `iop intake` first, or pass --db")]
                )
            try:
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                # Create the file 0600 ourselves: SQLite would use the umask, and its journal copies the file's mode.
                os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
            except OSError as exc:
                blocker = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
                why = f"{blocker} is a file, not a folder" if blocker else exc.strerror
                raise ProblemsError(
                    [Problem(str(target), f"cannot create the records database: {why}", "pass --db PATH")]
                ) from None
        elif target.is_dir():
            raise ProblemsError([Problem(str(target), "is a folder, not a database file", "pass --db FILE")])
        try:
            connection = sqlite3.connect(target, isolation_level=None)
            connection.row_factory = sqlite3.Row
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ProblemsError(
                    [Problem(str(target), f"made by a newer iop-cli (schema {version})", "upgrade iop-cli")]
                )
            # Deleted records are overwritten on disk, not left in free pages: they are health information.
            connection.execute("PRAGMA secure_delete = ON")
            connection.executescript(_SCHEMA)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise ProblemsError(
                [Problem(str(target), f"not a usable records database ({exc})", "pass --db with another file")]
            ) from None
        return cls(target, connection)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.db.close()

    # -- drafts --------------------------------------------------------------------------------------------------

    def save_draft(self, record_id: int | None, pack, rules_dir: str | None, answers: dict, cursor: str | None) -> int:
        """Create or update a draft; returns its id. One transaction, so a crash keeps the previous state."""
        now = _now()
        client_id = answers.get("client_id") or None
        payload = json.dumps(answers, ensure_ascii=False, sort_keys=True)
        with self.db:
            if record_id is None:
                cur = self.db.execute(
                    "INSERT INTO intakes (status, created_at, updated_at, client_id, pack_name, pack_version, "
                    "pack_hash, rules_dir, answers, cursor) VALUES ('draft', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (now, now, client_id, pack.name, pack.version, pack.hash, rules_dir, payload, cursor),
                )
                return int(cur.lastrowid)
            self.db.execute(
                "UPDATE intakes SET updated_at = ?, client_id = ?, pack_name = ?, pack_version = ?, pack_hash = ?, "
                "answers = ?, cursor = ? WHERE id = ? AND status = 'draft'",
                (now, client_id, pack.name, pack.version, pack.hash, payload, cursor, record_id),
            )
            return record_id

    def latest_draft(self) -> Record | None:
        row = self.db.execute(
            "SELECT * FROM intakes WHERE status = 'draft' ORDER BY updated_at DESC, id DESC LIMIT 1"
        ).fetchone()
        return _record(row) if row else None

    # -- completed intakes ---------------------------------------------------------------------------------------

    def complete(
        self,
        record_id: int | None,
        pack,
        rules_dir: str | None,
        answers: dict,
        report: dict,
        actual_level: str,
        reason: str | None,
        note: str | None,
    ) -> int:
        """Store the submitted answers, the report as shown, and the placement, in one transaction."""
        record_id = self.save_draft(record_id, pack, rules_dir, answers, None)
        with self.db:
            self.db.execute(
                "UPDATE intakes SET status = 'complete', updated_at = ?, report = ?, recommended_level = ?, "
                "actual_level = ?, actual_level_name = ?, placement_reason = ?, placement_note = ?, cursor = NULL "
                "WHERE id = ?",
                (
                    _now(),
                    json.dumps(report, ensure_ascii=False),
                    report["level"]["id"],
                    actual_level,
                    pack.levels[actual_level].name,
                    reason,
                    note or None,
                    record_id,
                ),
            )
        return record_id

    # -- reading and removing ------------------------------------------------------------------------------------

    def get(self, record_id: int) -> Record:
        row = self.db.execute("SELECT * FROM intakes WHERE id = ?", (record_id,)).fetchone()
        if row is None:
            raise ProblemsError([Problem(f"record {record_id}", "no such record", "`iop records list` shows the ids")])
        return _record(row)

    def list(self, status: str | None = None, limit: int | None = None) -> list[Record]:
        query = "SELECT * FROM intakes"
        params: list[Any] = []
        if status:
            query += " WHERE status = ?"
            params.append(status)
        query += " ORDER BY id DESC"
        if limit:
            query += " LIMIT ?"
            params.append(limit)
        return [_record(row) for row in self.db.execute(query, params)]

    def delete(self, record_id: int) -> None:
        self.get(record_id)
        with self.db:
            self.db.execute("DELETE FROM intakes WHERE id = ?", (record_id,))

    def older_than(self, days: float) -> list[int]:
        cutoff = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="seconds")
        return [row[0] for row in self.db.execute("SELECT id FROM intakes WHERE updated_at < ? ORDER BY id", (cutoff,))]

    def purge(self, ids: list[int]) -> int:
        with self.db:
            self.db.executemany("DELETE FROM intakes WHERE id = ?", [(i,) for i in ids])
        return len(ids)


def _record(row: sqlite3.Row) -> Record:
    return Record(
        id=row["id"],
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        client_id=row["client_id"],
        pack_name=row["pack_name"],
        pack_version=row["pack_version"],
        pack_hash=row["pack_hash"],
        rules_dir=row["rules_dir"],
        answers=json.loads(row["answers"]),
        cursor=row["cursor"],
        report=json.loads(row["report"]) if row["report"] else None,
        recommended_level=row["recommended_level"],
        actual_level=row["actual_level"],
        actual_level_name=row["actual_level_name"],
        placement_reason=row["placement_reason"],
        placement_note=row["placement_note"],
    )
