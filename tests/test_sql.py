"""Issue 16: the pack as one SQL query (`iop rules sql`), run by DuckDB and SQLite, gives what `iop score` gives.

Row for row, on the enumerated parity rows (every value of every field around each fixture, about 37,000 rows), on
records whose instruments are partly answered, and on a generated set with blanks, misspelt and invalid cells and
every alert: the same level, rule, reason, alerts and status, and an error in the same rows, naming the same
column. The one step SQL leaves out, the search over missing answers, sends a row to review (never a less intensive
level); `iop score --engine duckdb` settles those rows too, and then agrees on every row. The conditions the grammar
fuzz test draws give the engine's three-valued answer in both engines, and hostile column names, table names and
cells cannot break the query.
"""

from __future__ import annotations

import csv
import io
import os
import random
import sqlite3
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from iop_cli.exit_codes import Exit
from iop_cli.lang.expr import ExprError, parse
from iop_cli.lang.sql import DIALECTS, Dialect, UnwritableText, sql
from iop_cli.warehouse import query as Q

from .conftest import iop_in_process
from .test_condition_fuzz import DTYPES, EDGES, FIELDS, Grammar
from .test_score_parity import UNANSWERED, domain, enumerate_rows, partly_answered_rows, score_rows

duckdb = pytest.importorskip("duckdb")

OUTCOME = ("level", "rule", "reason", "alerts", "status")


def run_duckdb(query: Q.Query, header: list[str], rows: list[dict[str, str]], flag: bool = True) -> list[dict]:
    """The query over a DuckDB table of text columns (an empty cell is NULL, as a CSV reader gives it), loaded from
    a CSV file (row by row inserts are slow in DuckDB)."""
    import tempfile

    duck = DIALECTS["duckdb"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([[row.get(h, "") for h in header] for row in rows])
        con = duckdb.connect()
        columns = "{" + ", ".join(f"{duck.text(h)}: 'VARCHAR'" for h in header) + "}"
        con.execute(
            f"CREATE TABLE intake AS SELECT * FROM read_csv({duck.text(str(path))}, header = false, "
            f"auto_detect = false, columns = {columns}, delim = ',', quote = '\"', escape = '\"')"
        )
    cursor = con.execute(query.text(flag=flag))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def run_sqlite(query: Q.Query, header: list[str], rows: list[dict[str, str]], flag: bool = True) -> list[dict]:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE intake (" + ", ".join(f"{DIALECTS['sqlite'].ident(h)} TEXT" for h in header) + ")")
    con.executemany(
        f"INSERT INTO intake VALUES ({', '.join('?' * len(header))})",
        [[row.get(h) or None for h in header] for row in rows],
    )
    cursor = con.execute(query.text(flag=flag))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


RUNNERS = {"duckdb": run_duckdb, "sqlite": run_sqlite}


def differences(got: list[dict], scored: list[dict[str, str]], otherwise: str) -> tuple[list, int]:
    """The rows where the query and `iop score` disagree, and how many rows the query left to the search. A row
    left to the search must be in review in the query, and have missing answers in `iop score`."""
    wrong, searched = [], 0
    assert len(got) == len(scored)
    for number, (have, want) in enumerate(zip(got, scored, strict=True)):
        if have[Q.SEARCH]:
            searched += 1
            ok = have["level"] == otherwise and have["status"] == "review" and want["missing"]
            if not ok:
                wrong.append((number, "search", have, want))
            continue
        mine = tuple(have[c] or "" for c in OUTCOME)
        theirs = tuple(want[c] for c in OUTCOME)
        if mine != theirs:
            wrong.append((number, mine, theirs))
        elif want["status"] == "error" and (have["error"] or "").split(":")[0] != want["error"].split(":")[0]:
            wrong.append((number, "error", have["error"], want["error"]))
    return wrong, searched


@pytest.fixture(scope="module")
def parity(pack, tmp_path_factory):
    rows = enumerate_rows(pack)
    return rows, score_rows(pack, rows, tmp_path_factory.mktemp("sql"))


def cells_of(given: dict) -> dict[str, str]:
    """A test case's answers as CSV cells: yes/no, a;b for a selection, numbers as written."""
    return {
        k: "yes" if v is True else "no" if v is False else ";".join(v) if isinstance(v, (list, tuple)) else str(v)
        for k, v in given.items()
    }


def whole_record(pack) -> dict[str, str]:
    """The first of the pack's test cases that is a whole record (an instrument module's own tests are not)."""
    return next(cells_of(case.given) for case in pack.tests if len(case.given) >= 15)


def messy_rows(pack, total: int = 6000) -> list[dict[str, str]]:
    """Whole records with one cell in twelve blank, answers written as exports write them (case, spaces, y/n, 5.0)
    and some that do not fit (junk, out of range, too many choices), so that every alert and error is met."""
    values = domain(pack)
    bases = [cells_of(case.given) for case in pack.tests if len(case.given) >= 15]
    rng = random.Random(20261207)
    junk = [
        "abc",
        "-",
        "12x",
        "yes!",
        "1.5",
        "none of these",
        "1e999",
        "٣",
        "0x10",
        "nan",
        "2;;;;;;;;;;;;;;;;;;;;;;;;;;",
    ]
    rows = []
    while len(rows) < total:
        row = dict(rng.choice(bases)) if rng.random() < 0.7 else {f: rng.choice(o) for f, o in values.items()}
        for field in values:
            roll = rng.random()
            if roll < 1 / 12:
                row[field] = UNANSWERED
            elif roll < 0.2:
                row[field] = rng.choice(values[field])
            cell = row.get(field, "")
            if cell and rng.random() < 0.15:
                cell = rng.choice([f" {cell} ", cell.upper(), cell.title(), f"{cell}.0" if cell.isdigit() else cell])
            if pack.questions[field].type == "yesno" and rng.random() < 0.1:
                cell = rng.choice(["y", "n", "Y", "N", "1", "0", "true", "FALSE", "\tyes\n"])
            if pack.questions[field].type == "multi" and cell and rng.random() < 0.2:
                cell = " ; ".join(part.upper() for part in cell.split(";")) + rng.choice(["", ";", "; "])
            if rng.random() < 0.002:
                cell = rng.choice(junk)
            row[field] = cell
        rows.append(row)
    return rows


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_the_query_agrees_with_iop_score_on_every_parity_row(pack, parity, engine):
    rows, scored = parity
    header = [q.id for q in pack.asked]
    got = RUNNERS[engine](Q.build(pack, header, "intake", DIALECTS[engine]), header, rows)
    wrong, searched = differences(got, scored, pack.otherwise.level)
    assert not wrong, f"{len(wrong)} rows differ; first: {wrong[:3]}"
    assert 0 < searched < len(rows) / 10  # the search is the exception, and it is met
    # The outcome columns are named as `iop score` names them, after the input's.
    assert list(got[0])[: len(header) + 6] == [*header, *Q.OUTPUTS]


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_partly_answered_instruments_and_messy_cells_agree(pack, tmp_path, engine):
    header = [q.id for q in pack.asked]
    for name, rows in (("partly", partly_answered_rows(pack)), ("messy", messy_rows(pack))):
        (tmp_path / name).mkdir()
        scored = score_rows(pack, rows, tmp_path / name)
        got = RUNNERS[engine](Q.build(pack, header, "intake", DIALECTS[engine]), header, rows)
        wrong, _ = differences(got, scored, pack.otherwise.level)
        assert not wrong, f"{name}: {len(wrong)} rows differ; first: {wrong[:3]}"
        if name == "messy":
            statuses = {row["status"] for row in scored}
            assert statuses == {"ok", "provisional", "review", "error"}
            alerts = {a for row in scored for a in row["alerts"].split(";") if a}
            assert alerts == {a.id for a in pack.alerts}
            errors = sum(row["status"] == "error" for row in scored)
            assert len(rows) / 50 < errors < len(rows) / 2


def engine_score(tmp_path: Path, pack, rows: list[dict[str, str]], *args: str) -> list[dict[str, str]]:
    header = [q.id for q in pack.asked]
    source = tmp_path / "in.csv"
    with open(source, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows([{h: row.get(h, "") for h in header} for row in rows])
    out = tmp_path / "out.csv"
    result = iop_in_process("score", str(source), "-o", str(out), "--engine", "duckdb", "-q", *args)
    assert result.returncode == 0, result.stderr
    return list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))


def test_iop_score_engine_duckdb_gives_what_iop_score_gives_on_every_row(pack, parity, tmp_path):
    """The rows the query leaves to the search are settled by the engine inside DuckDB: every row agrees."""
    rows, scored = parity
    got = engine_score(tmp_path, pack, rows)
    assert len(got) == len(scored)
    wrong = [
        (n, row)
        for n, (row, want) in enumerate(zip(got, scored, strict=True))
        if any(row[c] != want[c] for c in OUTCOME)
    ]
    assert not wrong, f"{len(wrong)} rows differ; first: {wrong[:3]}"
    # Rows the search placed at a level are among them (the query alone would have sent them to review).
    assert any(want["missing"] and want["status"] != "review" for want in scored)


def test_engine_duckdb_keeps_the_input_order_of_a_large_file(pack, parity, tmp_path):
    """Past about 8 MB of input, DuckDB's rewrite of a long `IN (...)` list into a join put rows out of order
    (80,000 rows: 77,952 moved). Three copies of the parity rows, each numbered: every row comes back in its place
    with what `iop score` gives it."""
    rows, scored = parity
    many = [{**row, "client_id": f"R{n}"} for n, row in enumerate(rows * 3)]
    got = engine_score(tmp_path, pack, many)
    assert (tmp_path / "in.csv").stat().st_size > 12 << 20
    assert [row["client_id"] for row in got] == [f"R{n}" for n in range(len(many))]
    wrong = [
        n for n, (row, want) in enumerate(zip(got, scored * 3, strict=True)) if any(row[c] != want[c] for c in OUTCOME)
    ]
    assert not wrong, f"{len(wrong)} rows differ; first: {wrong[:3]}"


def test_engine_duckdb_settles_alike_when_its_memo_is_cleared(pack, parity, tmp_path, monkeypatch):
    """The memo of settled rows is bounded (cleared when full, as a realistic file brings new rows to settle all
    along): with room for three rows, the rows with missing answers still get what `iop score` gives them."""
    from iop_cli.warehouse import duckdb_engine

    monkeypatch.setattr(duckdb_engine, "MEMO_LIMIT", 3)
    calls = []
    made = duckdb_engine._settler

    def counted(*args):
        settle = made(*args)

        def each(*cells):
            calls.append(cells)
            return settle(*cells)

        each.__signature__ = settle.__signature__  # type: ignore[attr-defined]
        return each

    monkeypatch.setattr(duckdb_engine, "_settler", counted)
    rows, scored = parity
    picked = [n for n, want in enumerate(scored) if want["missing"]][:600]
    got = engine_score(tmp_path, pack, [rows[n] for n in picked])
    assert [{c: r[c] for c in OUTCOME} for r in got] == [{c: scored[n][c] for c in OUTCOME} for n in picked]
    assert len(set(calls)) > 3  # the memo was full and cleared, more than once


def test_engine_duckdb_on_messy_cells(pack, tmp_path):
    rows = messy_rows(pack, 3000)
    scored = score_rows(pack, rows, tmp_path)
    got = engine_score(tmp_path, pack, rows)
    for row, want in zip(got, scored, strict=True):
        assert tuple(row[c] for c in OUTCOME) == tuple(want[c] for c in OUTCOME)
        assert row["error"].split(":")[0] == want["error"].split(":")[0]


# -- the grammar fuzz test's conditions ----------------------------------------------------------------------------

SQL_TYPES = {"integer": "BIGINT", "number": "DOUBLE", "yesno": "BOOLEAN", "choice": "VARCHAR", "text": "VARCHAR"}


def _fuzz_rows() -> list[dict]:
    chooser = random.Random(16)
    rows = [dict.fromkeys(FIELDS), {n: v[0] for n, v in EDGES.items()}, {n: v[-2] for n, v in EDGES.items()}]
    while len(rows) < 24:
        rows.append({name: chooser.choice(values) for name, values in EDGES.items()})
    return rows


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_every_condition_the_grammar_draws_gives_the_engines_answer(engine):
    assert set(DTYPES) >= {t.kind for t in FIELDS.values()}
    dialect = DIALECTS[engine]
    rows = _fuzz_rows()
    con: object
    if engine == "duckdb":
        con = duckdb.connect()
        types = SQL_TYPES
    else:
        con = sqlite3.connect(":memory:")
        types = {"integer": "INTEGER", "number": "REAL", "yesno": "INTEGER", "choice": "TEXT", "text": "TEXT"}
    columns = ", ".join(f"{dialect.ident(n)} {types[t.kind]}" for n, t in FIELDS.items())
    con.execute(f"CREATE TABLE t (row_id INTEGER, {columns})")  # type: ignore[attr-defined]
    con.executemany(  # type: ignore[attr-defined]
        f"INSERT INTO t VALUES (?, {', '.join('?' * len(FIELDS))})",
        [[i, *(row[n] for n in FIELDS)] for i, row in enumerate(rows)],
    )
    grammar = Grammar(20261207)
    checked = 0
    for _ in range(60):
        accepted = []
        for _ in range(50):
            try:
                expression = parse(grammar.condition(), FIELDS)
                accepted.append((expression, sql(expression.root, dialect.ident, dialect)))
            except ExprError:
                continue
            except UnwritableText:
                continue  # a word with a NUL or a lone surrogate: `iop rules sql` refuses such a pack (tested below)
        if not accepted:
            continue
        select = ", ".join(f"{text} AS c{i}" for i, (_, text) in enumerate(accepted))
        got = con.execute(f"SELECT {select} FROM t ORDER BY row_id").fetchall()  # type: ignore[attr-defined]
        for i, (expression, _) in enumerate(accepted):
            want = [expression.evaluate(row) for row in rows]
            have = [None if r[i] is None else bool(r[i]) for r in got]
            assert have == want, (expression.source, [(w, h) for w, h in zip(want, have, strict=True) if w != h][:3])
            checked += 1
    assert checked >= 1500


# -- names and values that try to break out ------------------------------------------------------------------------

HOSTILE_NAMES = [
    'age"; DROP TABLE intake; --',
    "client`id",
    "it's",
    "a\\b",
    "new\nline",
    "level",  # an input column named like an output column
    "Überweisung ☃",
    "c0",  # the query's own first internal name
]


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_hostile_column_names_table_names_and_cells_cannot_break_the_query(pack, engine):
    asked = [q.id for q in pack.asked]
    header = [*asked, *HOSTILE_NAMES]
    base = whole_record(pack)
    cells = ["'); DROP TABLE intake; --", '"', "\\", "\x01\x7f", "=1+1", "Ünïcödé", "", "x" * 300]
    rows = [{**base, **{name: cells[(i + j) % len(cells)] for j, name in enumerate(HOSTILE_NAMES)}} for i in range(8)]
    rows.append({**base, "primary_substance": "'; DROP TABLE intake; --", "age": "3'4"})
    query = Q.build(pack, header, "intake", DIALECTS[engine])
    got = RUNNERS[engine](query, header, rows, flag=False)
    assert len(got) == len(rows)
    names = list(got[0])
    assert names[len(asked) : len(header)] == [*HOSTILE_NAMES[:5], "input_level", *HOSTILE_NAMES[6:]]
    for row, have in zip(rows, got, strict=True):
        for name, shown in zip(HOSTILE_NAMES, names[len(asked) : len(header)], strict=True):
            assert (have[shown] or "") == row.get(name, "")  # every input cell comes back as it was
    assert {have["status"] for have in got[:-1]} <= {"ok", "provisional", "review"}
    assert got[-1]["status"] == "error" and got[-1]["error"].startswith("age: ")
    assert "primary_substance: " in got[-1]["error"]


def test_identifiers_and_literals_are_quoted_for_each_dialect():
    expected = {
        "duckdb": ('"a""b"', "'it''s \\'"),
        "sqlite": ('"a""b"', "'it''s \\'"),
        "postgres": ('"a""b"', "'it''s \\'"),
        "snowflake": ('"a""b"', "'it\\'s \\\\'"),
        "spark": ('`a"b`', "'it\\'s \\\\'"),
        "bigquery": ('`a"b`', "'it\\'s \\\\'"),
    }
    assert set(expected) == set(DIALECTS)
    for name, (ident, text) in expected.items():
        dialect = DIALECTS[name]
        assert dialect.ident('a"b') == ident
        assert dialect.text("it's \\") == text
    assert DIALECTS["spark"].ident("a`b") == "`a``b`"
    assert DIALECTS["bigquery"].ident("a`b") == "`a\\`b`"
    assert DIALECTS["bigquery"].text("a\nb") == "'a\\u000ab'"  # a line break cannot stand in a BigQuery literal
    assert DIALECTS["postgres"].table("ward.intake") == '"ward"."intake"'
    for bad in ("a\x00b", "\ud800"):
        with pytest.raises(UnwritableText):
            DIALECTS["duckdb"].text(bad)


def test_no_dialect_turns_a_failed_cast_into_a_number():
    """SQLite's CAST('abc' AS INTEGER) is 0: a number is read only after the cell is checked to be one, and the
    dialects that have a safe cast use it."""
    sqlite = DIALECTS["sqlite"]
    assert sqlite.try_cast is None
    con = sqlite3.connect(":memory:")
    from iop_cli.lang.sql import decimal_test

    for text, ok in [("12", True), ("-1.5e3", True), (".5", True), ("1.", True), ("abc", False), ("1e", False),
                     ("1.2.3", False), ("--1", False), ("", False), ("1e+", False), ("+.e1", False), ("٣", False)]:  # fmt: skip
        assert bool(con.execute(f"SELECT {decimal_test(sqlite.text(text), sqlite)}").fetchone()[0]) is ok, text
    for name, dialect in DIALECTS.items():
        if dialect.try_cast is not None:
            assert dialect.cast("x", "T", safe=True) != "CAST(x AS T)", name


def test_every_dialect_writes_the_default_pack(pack):
    for name in DIALECTS:
        text = Q.build(pack, [q.id for q in pack.asked], "warehouse.intake", DIALECTS[name]).text()
        assert text.startswith("WITH") and "level" in text
        assert "'" not in DIALECTS[name].table("warehouse.intake")


def test_the_dialect_table_is_the_only_place_engines_differ():
    """The differences between engines are fields of `Dialect` (a small, tested table), not branches scattered
    through the writer."""
    fields = set(Dialect.__dataclass_fields__)
    assert {"quote", "backslash_escapes", "bigint", "double", "string", "contains", "trim", "matches"} <= fields
    source = Path(Q.__file__).read_text(encoding="utf-8")
    assert source.count('self.d.name == "postgres"') == 1  # NUMERIC for huge exponents: the one named exception


# -- the commands --------------------------------------------------------------------------------------------------


def test_rules_sql_prints_a_query_duckdb_runs(pack, tmp_path):
    out = tmp_path / "q.sql"
    result = iop_in_process("rules", "sql", "--dialect", "duckdb", "--table", "intake", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    header = [q.id for q in pack.asked]
    con = duckdb.connect()
    con.execute("CREATE TABLE intake (" + ", ".join(f'"{h}" VARCHAR' for h in header) + ")")
    con.execute(f"INSERT INTO intake ({', '.join(header)}) VALUES ({', '.join('NULL' for _ in header)})")
    (row,) = con.execute(out.read_text(encoding="utf-8")).fetchall()
    assert row[-2:] == ("error", "blank row")


def test_rules_sql_takes_the_columns_from_a_file_or_a_list(tmp_path):
    source = tmp_path / "export.csv"
    source.write_text("record,age_years,primary_substance\n1,34,alcohol\n", encoding="utf-8")
    result = iop_in_process("rules", "sql", "-d", "postgres", "--like", str(source), "--table", "x.y")
    assert result.returncode != 0
    assert "missing standard columns" in result.stderr and result.stderr.count("\n") == 1
    both = iop_in_process("rules", "sql", "-d", "sqlite", "--like", str(source), "--columns", "a,b")
    assert both.returncode != 0 and "give one of them" in both.stderr


def test_rules_sql_refuses_map_features_it_does_not_write(tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns:\n  age: age_years\nvalues:\n  housing:\n    '1': stable\n", encoding="utf-8")
    result = iop_in_process("rules", "sql", "-d", "duckdb", "--map", str(mapping))
    assert result.returncode != 0
    assert "value codes" in result.stderr and result.stderr.count("\n") == 1


def _write(path: Path, header: list[str], rows: list[list[str]], ending: str = "\n") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator=ending)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_engine_duckdb_refuses_what_it_would_read_differently(pack, tmp_path):
    header = [q.id for q in pack.asked]
    one = ["" for _ in header]
    blank = tmp_path / "blank.csv"
    blank.write_text(",".join(header) + "\n" + ",".join(one) + "\n\n" + ",".join(one) + "\n", encoding="utf-8")
    result = iop_in_process("score", str(blank), "-o", str(tmp_path / "o.csv"), "--engine", "duckdb")
    assert result.returncode == Exit.INPUT_ERROR and f"{blank}:3: a blank line" in result.stderr
    assert not (tmp_path / "o.csv").exists()
    long = tmp_path / "long.csv"
    # (DuckDB reads extra cells that are all empty as if they were not there: nothing is lost.)
    long.write_text(",".join(header) + "\n" + ",".join([*one, "secret"]) + "\n", encoding="utf-8")
    result = iop_in_process("score", str(long), "-o", str(tmp_path / "o.csv"), "--engine", "duckdb")
    assert result.returncode == Exit.INPUT_ERROR and f"{long}:2:" in result.stderr
    assert "secret" not in result.stderr and result.stderr.count("\n") == 1
    for args in (["-"], [str(long), "--format", "xlsx"]):
        result = iop_in_process("score", *args, "-o", str(tmp_path / "o.x"), "--engine", "duckdb")
        assert result.returncode == Exit.INPUT_ERROR and result.stderr.startswith("error: --engine duckdb")
    huge = tmp_path / "huge.csv"  # a cell of 3 MB: a row longer than DuckDB reads, not a row of the wrong shape
    huge.write_text(",".join(header) + "\n" + ",".join(["H" * (3 << 20), *one[1:]]) + "\n", encoding="utf-8")
    result = iop_in_process("score", str(huge), "-o", str(tmp_path / "o.csv"), "--engine", "duckdb")
    assert result.returncode == Exit.INPUT_ERROR and result.stderr.count("\n") == 1 and "HHH" not in result.stderr
    assert f"{huge}:2: this row is longer than DuckDB's reader takes (2 MB)" in result.stderr


def test_engine_duckdb_finds_a_blank_line_across_blocks(tmp_path):
    """The blank-line scan reads the file a block at a time (a memory map counted the whole file as the process's
    memory): a blank line that straddles two blocks is found at the same line as in the whole file, LF or CR LF."""
    from iop_cli.warehouse.duckdb_engine import _blank_line

    def whole(data: bytes) -> int | None:
        found = [at for at in (data.find(b"\n\n"), data.find(b"\n\r\n")) if at >= 0]
        return None if not found else data[: min(found) + 1].count(b"\n") + 1

    rng = random.Random(5)
    path = tmp_path / "f.csv"
    opened = SimpleNamespace(name=str(path))
    for _ in range(1500):
        data = bytes(rng.choice(b'ab,\r\n"') for _ in range(rng.randint(0, 30)))
        path.write_bytes(data)
        for block in (1, 2, 3, 5, 64):
            assert _blank_line(opened, block) == whole(data), (data, block)  # type: ignore[arg-type]


def test_engine_duckdb_writes_csv_jsonl_and_parquet_privately(pack, parity, tmp_path):
    import polars as pl

    rows, scored = parity
    rows, scored = rows[:2000], scored[:2000]
    header = [q.id for q in pack.asked]
    source = _write(tmp_path / "in.csv", header, [[row.get(h, "") for h in header] for row in rows], "\r\n")
    parquet_in = tmp_path / "in.parquet"
    pl.read_csv(source, infer_schema=False).write_parquet(parquet_in)
    for given in (source, parquet_in):
        for fmt in ("csv", "jsonl", "parquet"):
            out = tmp_path / f"out.{fmt}"
            result = iop_in_process("score", str(given), "-o", str(out), "-f", fmt, "--engine", "duckdb", "-q")
            assert result.returncode == 0, result.stderr
            assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
            frame = (
                pl.read_csv(out, infer_schema=False)
                if fmt == "csv"
                else pl.read_ndjson(out, infer_schema_length=None)
                if fmt == "jsonl"
                else pl.read_parquet(out)
            )
            assert frame.height == len(rows)
            assert frame["level"].fill_null("").to_list() == [want["level"] for want in scored]
            assert frame["status"].to_list() == [want["status"] for want in scored]


def test_engine_duckdb_summary_strict_and_formula_cells(pack, tmp_path):
    header = [q.id for q in pack.asked]
    base = whole_record(pack)
    rows = [[base.get(h, "") for h in header] for _ in range(3)]
    rows[1][header.index("client_id")] = "=HYPERLINK(1)"
    rows[2][header.index("age")] = "abc"
    source = _write(tmp_path / "in.csv", header, rows)
    summary = tmp_path / "summary.json"
    out = tmp_path / "out.csv"
    result = iop_in_process(
        "score", str(source), "-o", str(out), "--engine", "duckdb", "--summary-json", str(summary), "-q"
    )
    assert result.returncode == 0, result.stderr
    import json

    data = json.loads(summary.read_text(encoding="utf-8"))
    assert data["rows"] == 3 and data["status"]["error"] == 1
    written = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert written[1]["client_id"] == "'=HYPERLINK(1)"  # a spreadsheet does not run it
    assert written[2]["error"].startswith("age: 'abc' is not a whole number")
    strict = iop_in_process("score", str(source), "-o", str(tmp_path / "s.csv"), "--engine", "duckdb", "--strict")
    assert strict.returncode == Exit.INPUT_ERROR and not (tmp_path / "s.csv").exists()


# -- engines that run only where they are installed ----------------------------------------------------------------


@pytest.mark.skipif(
    not os.environ.get("IOP_TEST_POSTGRES"),
    reason="set IOP_TEST_POSTGRES to a psql connection string (e.g. dbname=postgres) to run the query in PostgreSQL",
)
def test_the_postgres_query_agrees_in_postgresql(pack, parity, tmp_path):
    import subprocess

    rows, scored = parity
    rows, scored = rows[:6000], scored[:6000]
    # A table has no order, and PostgreSQL may scan it in parallel: each row carries its number.
    header = ["row_number", *(q.id for q in pack.asked)]
    data = _write(
        tmp_path / "rows.csv", header, [[str(i), *(row.get(h, "") for h in header[1:])] for i, row in enumerate(rows)]
    )
    pg = DIALECTS["postgres"]
    query = Q.build(pack, header, "pg_temp.intake", pg).text(flag=True)
    script = tmp_path / "run.sql"
    columns = ", ".join(f"{pg.ident(h)} TEXT" for h in header)
    script.write_text(
        f"CREATE TEMP TABLE intake ({columns});\n"
        f"\\copy intake FROM '{data}' WITH (FORMAT csv, HEADER true)\n"
        f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true);\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        ["psql", os.environ["IOP_TEST_POSTGRES"], "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = [
        {k: (None if v == "" else (v == "t") if k == Q.SEARCH else v) for k, v in row.items()}
        for row in sorted(csv.DictReader(io.StringIO(done.stdout)), key=lambda r: int(r["row_number"]))
    ]
    wrong, searched = differences(got, scored, pack.otherwise.level)
    assert not wrong, f"{len(wrong)} rows differ; first: {wrong[:3]}"
    assert searched


@pytest.mark.skipif(
    os.environ.get("IOP_TEST_SPARK") != "1",
    reason="set IOP_TEST_SPARK=1 to run both Spark ways (needs pyspark, pyarrow, pandas and Java 17)",
)
def test_spark_sql_and_map_in_arrow_agree_with_iop_score(pack, parity, tmp_path):
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    from iop_cli.warehouse.spark import output_schema, score_partitions, sql_query

    rows, scored = parity
    rows, scored = rows[:3000], scored[:3000]
    header = ["row_number", *(q.id for q in pack.asked)]
    data = _write(
        tmp_path / "rows.csv", header, [[str(i), *(row.get(h, "") for h in header[1:])] for i, row in enumerate(rows)]
    )
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.codegen.wholeStage", "false")
        .getOrCreate()
    )
    try:
        frame = spark.read.csv(str(data), header=True, inferSchema=False, multiLine=True, escape='"')
        frame.createOrReplaceTempView("intake")
        by_sql = spark.sql(sql_query(None, header, "intake", flag=True)).toPandas()
        by_python = frame.mapInArrow(score_partitions(None, header), output_schema(None, header)).toPandas()
    finally:
        spark.stop()
    by_sql = by_sql.sort_values("row_number", key=lambda c: c.astype(int))
    by_python = by_python.sort_values("row_number", key=lambda c: c.astype(int))
    got = [{k: (None if v != v else v) for k, v in r.items()} for r in by_sql.to_dict("records")]
    wrong, searched = differences(got, scored, pack.otherwise.level)
    assert not wrong, f"spark.sql: {len(wrong)} rows differ; first: {wrong[:3]}"
    settled = [{k: (None if v != v else v) for k, v in r.items()} for r in by_python.to_dict("records")]
    for have, want in zip(settled, scored, strict=True):  # every row, the searched ones too
        assert tuple(have[c] or "" for c in OUTCOME) == tuple(want[c] for c in OUTCOME)


def test_the_readme_warehouse_commands_use_options_the_commands_have():
    """Docs tested against --help: every option the README's "Scoring in a warehouse" commands use is in that
    command's help."""
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Scoring in a warehouse", 1)[1].split("\n### ", 1)[0]
    commands = [line.split("#")[0].strip() for line in section.splitlines() if line.startswith("iop ")]
    assert len(commands) >= 5
    for command in commands:
        words = command.split()
        path = words[1:3] if words[1] == "rules" else words[1:2]
        shown = iop_in_process(*path, "--help").stdout
        for option in re.findall(r"(?<!\S)(--?[a-z][a-z-]*)", command):
            assert option in shown, (command, option)


# -- what a review found ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_ids_that_differ_only_in_case_stay_apart(tmp_path, engine):
    """DuckDB, Spark and BigQuery read names without regard to case: the query's own columns are named by each
    field's place in the pack, so `Drinks` and `drinks` never meet."""
    from iop_cli.batch.mapping import load_mapping
    from iop_cli.pack.build import load_pack

    small = load_pack(Path(__file__).parent / "packs" / "case_ids")
    mapping_file = tmp_path / "m.yaml"
    mapping_file.write_text("columns:\n  Drinks: A\n  drinks: B\n", encoding="utf-8")
    mapping = load_mapping(str(mapping_file), small)
    rows = [{"A": "1", "B": "9"}, {"A": "9", "B": "1"}, {"A": "1", "B": "1"}]
    got = RUNNERS[engine](Q.build(small, ["A", "B"], "intake", DIALECTS[engine], mapping), ["A", "B"], rows)
    assert [row["level"] for row in got] == ["crisis", "clinician_review", "op"]


def test_output_names_are_unique_without_regard_to_case():
    names = Q.sql_names(["Status", "LEVEL", "Age", "age", "", "input_status"])
    assert names == ["input_Status", "input_LEVEL", "Age", "age_2", "column_5", "input_status_2", *Q.OUTPUTS]


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_edge_cells_agree_with_iop_score(pack, tmp_path, engine):
    """Empty parts do not count towards a selection's limit; numbers too large or too small for a double; a
    template that states the answer twice."""
    base = whole_record(pack)
    edges = [
        ("other_substances", "alcohol" + ";" * 30),
        ("other_substances", ";".join(["alcohol"] * 25)),
        ("cows", "1e400"),
        ("cows", "1e-400"),
        ("age", "3.4e1"),
        ("age", "1e200000"),
        ("ciwa_ar", "0.0"),
        ("dsm5_criteria_count", "+4"),
    ]
    rows = [{**base, field: value} for field, value in edges]
    header = [q.id for q in pack.asked]
    scored = score_rows(pack, rows, tmp_path)
    got = RUNNERS[engine](Q.build(pack, header, "intake", DIALECTS[engine]), header, rows)
    wrong, _ = differences(got, scored, pack.otherwise.level)
    assert not wrong, wrong
    assert [row["status"] == "error" for row in scored] == [False, True, True, False, False, True, False, False]


def test_unwritable_names_and_unreadable_files_get_one_line(pack, tmp_path):
    columns = ",".join([*(q.id for q in pack.asked), "x\udcff"])  # a byte that is not UTF-8, as argv gives it
    result = iop_in_process("rules", "sql", "-d", "duckdb", "--columns", columns)
    assert result.returncode == Exit.INPUT_ERROR and result.stderr.count("\n") == 1
    assert "not UTF-8" in result.stderr
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    result = iop_in_process("score", str(bad), "-o", str(tmp_path / "o.csv"), "--engine", "duckdb")
    assert result.returncode == Exit.INPUT_ERROR and "Parquet" in result.stderr and result.stderr.count("\n") == 1


def test_engine_duckdb_counts_its_own_output_whatever_the_cells(pack, tmp_path):
    """The summary reads the output back as the CSV it wrote: a column whose cells all hold the same number of
    semicolons cannot make DuckDB guess another delimiter."""
    header = [q.id for q in pack.asked]
    base = whole_record(pack)
    rows = [[*(base.get(h, "") for h in header), "1;2;3;4;5;6;7;8"] for _ in range(40)]
    source = _write(tmp_path / "in.csv", [*header, "a;b;c;d;e;f;g;h"], rows)
    summary = tmp_path / "s.json"
    result = iop_in_process(
        "score", str(source), "-o", str(tmp_path / "o.csv"), "--engine", "duckdb", "-q", "--summary-json", str(summary)
    )
    assert result.returncode == 0, result.stderr
    import json

    assert json.loads(summary.read_text(encoding="utf-8"))["rows"] == 40


def test_what_a_first_try_found(pack, tmp_path):
    """A new user's first try: no reason column, a typed Parquet file to CSV, a missing file, --strict, a required
    option left out, empty names."""
    import polars as pl

    header = [q.id for q in pack.asked]
    base = whole_record(pack)
    source = _write(tmp_path / "in.csv", header, [[base.get(h, "") for h in header]] * 3)
    out = tmp_path / "o.csv"
    result = iop_in_process("score", str(source), "-o", str(out), "--engine", "duckdb", "--columns", "no-reason")
    assert result.returncode == 0, result.stderr
    assert "reason" not in out.read_text(encoding="utf-8").splitlines()[0].split(",")
    typed = tmp_path / "typed.parquet"
    pl.read_csv(source).write_parquet(typed)  # age, counts and scores as integers
    result = iop_in_process("score", str(typed), "-o", str(out), "--engine", "duckdb", "-q")
    assert result.returncode == 0, result.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 4
    result = iop_in_process("score", str(tmp_path / "nothere.csv"), "-o", str(out), "--engine", "duckdb")
    assert result.returncode == Exit.INPUT_ERROR and "no such file" in result.stderr
    bad = _write(tmp_path / "bad.csv", header, [[*(base.get(h, "") for h in header[:-1]), "maybe"]])
    result = iop_in_process("score", str(bad), "-o", str(tmp_path / "s.csv"), "--engine", "duckdb", "--strict")
    assert result.returncode == Exit.INPUT_ERROR and result.stderr.count("\n") == 1 and "maybe" not in result.stderr
    assert "1 row with an error" in result.stderr and not (tmp_path / "s.csv").exists()
    result = iop_in_process("rules", "sql")
    assert result.returncode == Exit.USAGE and result.stderr.count("\n") == 1 and "\\x0a" not in result.stderr
    for args in (["--table", ""], ["--table", "a..b"], ["--columns", "a,,b"]):
        result = iop_in_process("rules", "sql", "-d", "postgres", *args)
        assert result.returncode == Exit.USAGE and "empty name" in result.stderr
