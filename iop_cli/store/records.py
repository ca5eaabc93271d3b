"""Intake records in SQLite: drafts saved after every answer, completed intakes with their report and placement.

The database is protected health information: its folder is created 0700 and the file 0600 before SQLite opens it,
and every change is one transaction, so a crash leaves either the old record or the new one.

Reading commands open the file read-only (`Store.open(..., readonly=True)`, SQLite's `mode=ro`): they never write
it, not even its header, so they neither wait for nor block another iop command.

**Claims.** A draft being edited by `iop intake` is claimed: its row holds a random token, the pid and host name of
the intake and the time of its last save. Every write of a draft is conditional on the token (and reports when no
row changed: the draft was deleted, completed or taken over elsewhere), so two intakes can never mix one record. A
second intake is refused a live claim. A claim is stale, and taken over, when it was made on this host by a process
that has ended (a crash, SIGKILL), or when its last save is older than `CLAIM_TTL_OTHER_HOST` on another host (whose
processes cannot be checked) or `CLAIM_TTL_THIS_HOST` here (a pid reused by an unrelated process). Closing the store
releases its claims; an intake that was taken over stops at its next save without writing.

**Damage.** SQLite errors become one `ProblemsError` naming the file (busy, damaged, read-only, disk full). A row
whose stored values cannot be read is returned with `damage` set (listing still works) and refused by `get`; such
a row can always be deleted.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import math
import os
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from iop_cli.problems import Problem, ProblemsError

DB_ENV = "IOP_DB"
DB_FILE = "intakes.sqlite3"
SCHEMA_VERSION = 3  # 1: the first schema; 2: claim columns; 3: placement steps, reassessment link (ALTER TABLE)

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

CLAIM_TTL_OTHER_HOST = timedelta(hours=1)
CLAIM_TTL_THIS_HOST = timedelta(hours=12)

_COLUMNS_V1 = (
    "id INTEGER PRIMARY KEY AUTOINCREMENT",
    "status TEXT NOT NULL CHECK (status IN ('draft', 'complete'))",
    "created_at TEXT NOT NULL",
    "updated_at TEXT NOT NULL",
    "client_id TEXT",
    "pack_name TEXT NOT NULL",
    "pack_version TEXT NOT NULL",
    "pack_hash TEXT NOT NULL",
    "rules_dir TEXT",
    "answers TEXT NOT NULL",
    "cursor TEXT",
    "report TEXT",
    "recommended_level TEXT",
    "actual_level TEXT",
    "actual_level_name TEXT",
    "placement_reason TEXT",
    "placement_note TEXT",
)
_CLAIM_COLUMNS = ("claim_token TEXT", "claim_pid INTEGER", "claim_host TEXT", "claimed_at TEXT")
# placement_steps: how many levels the actual placement is from the recommendation, in the pack's order of intensity
# at the time: positive is more intensive, negative less (an override's size and direction, for an audit).
# previous_id: the record a reassessment started from (`iop intake --from`).
_V3_COLUMNS = ("placement_steps INTEGER", "previous_id INTEGER")
_ADDED = _CLAIM_COLUMNS + _V3_COLUMNS
_SCHEMA = "CREATE TABLE intakes (\n    " + ",\n    ".join(_COLUMNS_V1 + _ADDED) + "\n)"
_REQUIRED = {c.split()[0] for c in _COLUMNS_V1}
_CLAIMS = {c.split()[0] for c in _CLAIM_COLUMNS}


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
    placement_steps: int | None = None  # see _V3_COLUMNS; None in records completed before schema 3
    previous_id: int | None = None  # see _V3_COLUMNS
    claim_token: str | None = None
    claim_pid: int | None = None
    claim_host: str | None = None
    claimed_at: str | None = None
    damage: str | None = None  # what could not be read ("answers", "report", ...); None for an intact row

    @property
    def overridden(self) -> bool:
        return self.actual_level is not None and self.actual_level != self.recommended_level


def _clock() -> datetime:
    """The running command's clock (`env.Env.now`), so tests can set the time."""
    from iop_cli.env import current

    return current().now()


def _now() -> str:
    return _clock().isoformat(timespec="seconds")


def _host() -> str:
    import socket

    return socket.gethostname()


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # POSIX only: on Windows os.kill would end the process
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, another user's
        return True
    return True


def claim_is_live(record: Record, now: datetime | None = None) -> bool:
    """Whether the draft is open in an intake that may still write it (see the module notes)."""
    if not record.claim_token:
        return False
    try:
        at = datetime.fromisoformat(str(record.claimed_at))
    except ValueError:
        return False
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    age = (now or _clock()) - at
    if record.claim_host == _host() and os.name == "posix":
        return age <= CLAIM_TTL_THIS_HOST and _pid_alive(record.claim_pid)
    return age <= CLAIM_TTL_OTHER_HOST


def where_open(record: Record) -> str:
    """'pid 123 on host-a, last saved 2024-...' for messages about a claimed draft."""
    return f"pid {record.claim_pid} on {record.claim_host}, last saved {record.claimed_at}"


def db_problem(path: Path | str, exc: sqlite3.Error) -> ProblemsError:
    """One line for an SQLite error: what went wrong with which file, and what to do."""
    text = str(exc)
    low = text.lower()
    if "locked" in low or "busy" in low:
        message, hint = "the records database is busy: another iop command is writing to it", "try again in a moment"
    elif "malformed" in low or "corrupt" in low:
        message = f"the records database is damaged ({text})"
        hint = "restore it from a backup; `sqlite3 FILE .recover` may save what is left"
    elif "not a database" in low or "encrypted" in low:
        message, hint = f"not a usable records database ({text})", "pass --db with another file"
    elif "readonly" in low or "read-only" in low:
        message, hint = "cannot write the records database (read-only)", "check the permissions of the file and folder"
    elif "full" in low:
        message, hint = "cannot write the records database: the disk is full", "free some space and try again"
    else:
        message, hint = f"cannot use the records database ({text})", "check the disk and the file, or pass --db"
    return ProblemsError([Problem(str(path), message, hint)])


def _not_ours(path: Path, why: str) -> ProblemsError:
    return ProblemsError(
        [Problem(str(path), f"not an iop-cli records database ({why})", "pass --db with an iop-cli records file")]
    )


def _make_private_folders(folder: Path) -> None:
    """Create `folder` and every missing parent 0700 whatever the umask (mkdir's mode is masked by it)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for each in reversed(missing):
        with contextlib.suppress(FileExistsError):
            each.mkdir(mode=0o700)
            each.chmod(0o700)


class Store:
    """One records database. Open with `Store.open(path)`; use as a context manager to close it."""

    def __init__(self, path: Path, connection: sqlite3.Connection, readonly: bool = False):
        self.path = path
        self.db = connection
        self.readonly = readonly
        self.empty = False  # a read-only view of a file with no records table yet
        self.has_claims = True
        self.token = secrets.token_hex(16)  # this store's claims
        self.held: set[int] = set()

    @classmethod
    def open(cls, path: str | Path | None = None, create: bool = True, readonly: bool = False) -> Store:
        """Open (or, with `create`, make) the records database. `readonly` never writes the file."""
        target = Path(path).expanduser() if path else default_db_path()
        try:
            exists = target.exists()
            is_dir = exists and target.is_dir()
        except OSError as exc:
            raise ProblemsError([Problem(str(target), f"cannot reach the file: {exc.strerror}", "pass --db")]) from None
        if not exists:
            if not create or readonly:
                raise ProblemsError(
                    [Problem(str(target), "no records database here yet", "run `iop intake` first, or pass --db")]
                )
            try:
                _make_private_folders(target.parent)
                # Create the file 0600 ourselves: SQLite would use the umask, and its journal copies the file's mode.
                fd = os.open(target, os.O_CREAT | os.O_WRONLY, 0o600)
                try:
                    if hasattr(os, "fchmod"):
                        os.fchmod(fd, 0o600)
                finally:
                    os.close(fd)
            except OSError as exc:
                blocker = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
                why = f"{blocker} is a file, not a folder" if blocker else exc.strerror
                raise ProblemsError(
                    [Problem(str(target), f"cannot create the records database: {why}", "pass --db PATH")]
                ) from None
        elif is_dir:
            raise ProblemsError([Problem(str(target), "is a folder, not a database file", "pass --db FILE")])
        connection = None
        try:
            if readonly:
                uri = target.resolve().as_uri() + "?mode=ro"
                connection = sqlite3.connect(uri, uri=True, isolation_level=None)
            else:
                connection = sqlite3.connect(target, isolation_level=None)
            connection.row_factory = sqlite3.Row
            store = cls(target, connection, readonly)
            store._prepare()
        except sqlite3.Error as exc:
            if connection is not None:
                connection.close()
            raise db_problem(target, exc) from None
        except BaseException:
            if connection is not None:
                connection.close()
            raise
        return store

    def _prepare(self) -> None:
        """Check the file is ours; on a writable store, create the table or bring an older schema up to date."""
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ProblemsError(
                [Problem(str(self.path), f"made by a newer iop-cli (schema {version})", "upgrade iop-cli")]
            )
        tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "intakes" not in tables:
            others = tables - {"sqlite_sequence"}
            if others:
                shown = ", ".join(sorted(others)[:3])
                raise _not_ours(self.path, f"it holds other tables: {shown}")
            if version:
                raise _not_ours(self.path, f"user_version {version} but no intakes table")
            if self.readonly:
                self.empty = True
                return
            with self._write():
                self.db.execute(_SCHEMA)
                self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._secure()
            return
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(intakes)")}
        if not _REQUIRED <= columns:
            raise _not_ours(self.path, "its intakes table has other columns")
        self.has_claims = _CLAIMS <= columns
        if self.readonly:
            return
        self._secure()
        if version < SCHEMA_VERSION or not self.has_claims:
            with self._write():  # migration: one transaction, the version written with the columns
                columns = {row[1] for row in self.db.execute("PRAGMA table_info(intakes)")}
                for column in _ADDED:
                    if column.split()[0] not in columns:
                        self.db.execute(f"ALTER TABLE intakes ADD COLUMN {column}")
                self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.has_claims = True

    def _secure(self) -> None:
        # Deleted records are overwritten on disk, not left in free pages: they are health information.
        self.db.execute("PRAGMA secure_delete = ON")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release this store's claims (its intakes end) and close the file."""
        if self.held and not self.readonly:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute(
                    "UPDATE intakes SET claim_token = NULL, claim_pid = NULL, claim_host = NULL, claimed_at = NULL "
                    "WHERE claim_token = ?",
                    (self.token,),
                )
            self.held.clear()
        self.db.close()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """SQLite errors as one problem naming the file."""
        try:
            yield
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            raise db_problem(self.path, exc) from None

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taken at once (BEGIN IMMEDIATE), committed or rolled back."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _row(self, record_id: int) -> sqlite3.Row | None:
        if self.empty:
            return None
        return self.db.execute("SELECT * FROM intakes WHERE id = ?", (record_id,)).fetchone()

    # -- claims --------------------------------------------------------------------------------------------------

    def claim(self, record_id: int) -> Record:
        """Claim a draft for this store's intake; refused while another intake has it open. Returns the draft."""
        with self._guard(), self._write():
            row = self._row(record_id)
            if row is None:
                raise self._lost(record_id) if record_id in self.held else _no_such(record_id)
            record = _record(row)
            if record.status != "draft":
                raise _complete(record_id)
            if record.claim_token not in (None, self.token) and claim_is_live(record):
                raise ProblemsError(
                    [
                        Problem(
                            f"draft {record_id}",
                            f"open in another iop intake ({where_open(record)})",
                            "finish or pause it there (Ctrl-C), then resume it here",
                        )
                    ]
                )
            now = _now()
            self.db.execute(
                "UPDATE intakes SET claim_token = ?, claim_pid = ?, claim_host = ?, claimed_at = ? WHERE id = ?",
                (self.token, os.getpid(), _host(), now, record_id),
            )
        self.held.add(record_id)
        record.claim_token, record.claim_pid, record.claim_host, record.claimed_at = (
            self.token,
            os.getpid(),
            _host(),
            now,
        )
        return record

    def release(self, record_id: int) -> None:
        with self._guard():
            self.db.execute(
                "UPDATE intakes SET claim_token = NULL, claim_pid = NULL, claim_host = NULL, claimed_at = NULL "
                "WHERE id = ? AND claim_token = ?",
                (record_id, self.token),
            )
        self.held.discard(record_id)

    def _lost(self, record_id: int) -> ProblemsError:
        """Why a conditional write of a draft changed no row. The id stays held, so every later write of it fails the
        same way (a draft taken over is never taken back)."""
        row = self._row(record_id)
        if row is None:
            message = "was deleted by another iop command (records delete or purge) while this intake was open"
            return ProblemsError(
                [Problem(f"draft {record_id}", message, "nothing more was saved; start again with `iop intake`")]
            )
        record = _record(row)
        if record.status != "draft":
            message = "was completed by another iop intake while this one was open; nothing here was saved"
            return ProblemsError(
                [Problem(f"draft {record_id}", message, f"see it with `iop records show {record_id}`")]
            )
        message = f"was taken over by another iop intake ({where_open(record)}); nothing more was saved here"
        return ProblemsError([Problem(f"draft {record_id}", message, "continue it there")])

    # -- drafts --------------------------------------------------------------------------------------------------

    def save_draft(
        self,
        record_id: int | None,
        pack,
        rules_dir: str | None,
        answers: dict,
        cursor: str | None,
        previous_id: int | None = None,
    ) -> int:
        """Create or update a draft (claimed by this store); returns its id. One transaction, so a crash keeps the
        previous state. Raises ProblemsError when the draft was deleted, completed or taken over elsewhere.
        `previous_id`: on creation, the record this one reassesses."""
        now = _now()
        client_id = answers.get("client_id") or None
        payload = json.dumps(answers, ensure_ascii=False, sort_keys=True)
        if record_id is not None and record_id not in self.held:
            self.claim(record_id)
        with self._guard():
            if record_id is None:
                cur = self.db.execute(
                    "INSERT INTO intakes (status, created_at, updated_at, client_id, pack_name, pack_version, "
                    "pack_hash, rules_dir, answers, cursor, claim_token, claim_pid, claim_host, claimed_at, "
                    "previous_id) VALUES ('draft', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (now, now, client_id, pack.name, pack.version, pack.hash, rules_dir, payload, cursor)
                    + (self.token, os.getpid(), _host(), now, previous_id),
                )
                assert cur.lastrowid is not None  # set by every successful INSERT
                record_id = cur.lastrowid
                self.held.add(record_id)
                return record_id
            cur = self.db.execute(
                "UPDATE intakes SET updated_at = ?, client_id = ?, pack_name = ?, pack_version = ?, pack_hash = ?, "
                "answers = ?, cursor = ?, claimed_at = ? WHERE id = ? AND status = 'draft' AND claim_token = ?",
                (now, client_id, pack.name, pack.version, pack.hash, payload, cursor, now, record_id, self.token),
            )
            if cur.rowcount != 1:
                raise self._lost(record_id)
            return record_id

    def latest_draft(self) -> Record | None:
        """The most recent paused draft (one no other intake has open); None when there are no drafts. When every
        draft is open elsewhere, a problem says where."""
        if self.empty:
            return None
        with self._guard():
            drafts = [
                _record(row)
                for row in self.db.execute(
                    "SELECT * FROM intakes WHERE status = 'draft' ORDER BY updated_at DESC, id DESC"
                )
            ]
        for draft in drafts:
            if draft.claim_token in (None, self.token) or not claim_is_live(draft):
                return draft
        if not drafts:
            return None
        newest = drafts[0]
        message = f"no paused intake to resume; draft {newest.id} is open in another iop intake ({where_open(newest)})"
        raise ProblemsError([Problem(str(self.path), message, "pause it there, or start a new one with `iop intake`")])

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
        if record_id is None:
            record_id = self.save_draft(None, pack, rules_dir, answers, None)
        elif record_id not in self.held:
            self.claim(record_id)
        now = _now()
        with self._guard():
            cur = self.db.execute(
                "UPDATE intakes SET status = 'complete', updated_at = ?, client_id = ?, pack_name = ?, "
                "pack_version = ?, pack_hash = ?, answers = ?, cursor = NULL, report = ?, recommended_level = ?, "
                "actual_level = ?, actual_level_name = ?, placement_reason = ?, placement_note = ?, "
                "placement_steps = ?, claim_token = NULL, claim_pid = NULL, claim_host = NULL, claimed_at = NULL "
                "WHERE id = ? AND status = 'draft' AND claim_token = ?",
                (
                    now,
                    answers.get("client_id") or None,
                    pack.name,
                    pack.version,
                    pack.hash,
                    json.dumps(answers, ensure_ascii=False, sort_keys=True),
                    json.dumps(report, ensure_ascii=False),
                    report["level"]["id"],
                    actual_level,
                    pack.levels[actual_level].name,
                    reason,
                    note or None,
                    pack.steps(report["level"]["id"], actual_level),
                    record_id,
                    self.token,
                ),
            )
            if cur.rowcount != 1:
                raise self._lost(record_id)
        self.held.discard(record_id)
        return record_id

    # -- reading and removing ------------------------------------------------------------------------------------

    def get(self, record_id: int, damaged: bool = False) -> Record:
        """One record. A damaged row is refused with a line saying how to remove it, unless `damaged`."""
        with self._guard():
            row = self._row(record_id)
        if row is None:
            raise _no_such(record_id)
        record = _record(row)
        if record.damage and not damaged:
            raise damaged_problem(record)
        return record

    def list(self, status: str | None = None, limit: int | None = None, client: str | None = None) -> list[Record]:
        """Newest first; damaged rows are included with `damage` set. `client`: only this client id's."""
        if self.empty:
            return []
        query = "SELECT * FROM intakes"
        params: list[Any] = []
        where = []
        if status:
            where.append("status = ?")
            params.append(status)
        if client is not None:
            where.append("client_id = ?")
            params.append(client)
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY id DESC"
        if limit:
            query += " LIMIT ?"
            params.append(limit)
        with self._guard():
            return [_record(row) for row in self.db.execute(query, params)]

    def status_of(self, record_id: int) -> str:
        """The record's status, read without decoding anything else (works on a damaged row)."""
        with self._guard():
            row = (
                None
                if self.empty
                else self.db.execute("SELECT status FROM intakes WHERE id = ?", (record_id,)).fetchone()
            )
        if row is None:
            raise _no_such(record_id)
        return str(row[0])

    def delete(self, record_id: int) -> None:
        """Delete one record, damaged or not."""
        with self._guard():
            cur = self.db.execute("DELETE FROM intakes WHERE id = ?", (record_id,))
        if cur.rowcount != 1:
            raise _no_such(record_id)

    def older_than(self, days: float) -> builtins.list[int]:  # `list` here is Store.list
        """Ids of records last saved more than `days` days ago. `days` must be a finite number >= 0."""
        if not (isinstance(days, (int, float)) and math.isfinite(days) and days >= 0):
            raise ValueError(f"days must be a finite number >= 0, not {days!r}")
        try:
            cutoff = (_clock() - timedelta(days=days)).isoformat(timespec="seconds")
        except OverflowError:
            return []  # before the year 1: nothing is that old
        if self.empty:
            return []
        with self._guard():
            return [
                row[0] for row in self.db.execute("SELECT id FROM intakes WHERE updated_at < ? ORDER BY id", (cutoff,))
            ]

    def purge(self, ids: builtins.list[int]) -> int:
        """Delete the given records in one transaction; returns how many rows were deleted."""
        count = 0
        with self._guard(), self._write():
            for record_id in ids:
                count += self.db.execute("DELETE FROM intakes WHERE id = ?", (record_id,)).rowcount
        return count


def _no_such(record_id: int) -> ProblemsError:
    return ProblemsError([Problem(f"record {record_id}", "no such record", "`iop records list` shows the ids")])


def _complete(record_id: int) -> ProblemsError:
    return ProblemsError(
        [Problem(f"record {record_id}", "is already complete", f"see it with `iop records show {record_id}`")]
    )


def damaged_problem(record: Record) -> ProblemsError:
    return ProblemsError(
        [
            Problem(
                f"record {record.id}",
                f"damaged: its stored {record.damage} cannot be read",
                f"delete it with `iop records delete {record.id}`",
            )
        ]
    )


def _json_object(text: Any) -> dict | None:
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _record(row: sqlite3.Row) -> Record:
    """A row as a Record. Values that cannot be read are replaced by empty ones and named in `damage`, so a damaged
    row can still be listed and deleted; nothing here raises on stored data."""
    keys = set(row.keys())
    damage: list[str] = []

    def text(name: str, optional: bool = True) -> str | None:
        value = row[name] if name in keys else None
        if value is None:
            if not optional:
                damage.append(name)
                return ""
            return None
        if isinstance(value, str):
            return value
        damage.append(name)
        return str(value)

    status = text("status", optional=False)
    if status not in ("draft", "complete"):
        if "status" not in damage:
            damage.append("status")
    answers = _json_object(row["answers"])
    if answers is None:
        damage.append("answers")
        answers = {}
    report = None
    if row["report"] is not None:
        report = _json_object(row["report"])
        level = (report or {}).get("level")
        if not (isinstance(level, dict) and isinstance(level.get("id"), str) and isinstance(level.get("name"), str)):
            damage.append("report")
            report = None
    elif status == "complete":
        damage.append("report")
    pid = row["claim_pid"] if "claim_pid" in keys else None
    steps = row["placement_steps"] if "placement_steps" in keys else None
    previous = row["previous_id"] if "previous_id" in keys else None
    return Record(
        id=row["id"],
        status=status or "",
        created_at=text("created_at", optional=False) or "",
        updated_at=text("updated_at", optional=False) or "",
        client_id=text("client_id"),
        pack_name=text("pack_name", optional=False) or "",
        pack_version=text("pack_version", optional=False) or "",
        pack_hash=text("pack_hash", optional=False) or "",
        rules_dir=text("rules_dir"),
        answers=answers,
        cursor=text("cursor"),
        report=report,
        recommended_level=text("recommended_level"),
        actual_level=text("actual_level"),
        actual_level_name=text("actual_level_name"),
        placement_reason=text("placement_reason"),
        placement_note=text("placement_note"),
        placement_steps=steps if isinstance(steps, int) and not isinstance(steps, bool) else None,
        previous_id=previous if isinstance(previous, int) and not isinstance(previous, bool) else None,
        claim_token=text("claim_token"),
        claim_pid=pid if isinstance(pid, int) else None,
        claim_host=text("claim_host"),
        claimed_at=text("claimed_at"),
        damage=", ".join(damage) or None,
    )
