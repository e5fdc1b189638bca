"""The `postgresql:` connector against a real PostgreSQL at 127.0.0.1:5432, database `test`,
user `postgres` (tests/brokers.py: under CI=true a missing server fails these tests,
elsewhere they skip naming it). Each test uses tables of its own name and drops them
after."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from brokers import closed_port, frys, kill_while_writing, require_server

from frys.connectors.broker import Broker
from frys.connectors.decode import StreamDecoder
from frys.connectors.postgresql import PostgresTableSource, PostgresUri
from frys.connectors.postgresql_sink import OFFSETS_TABLE, PostgresSink
from frys.connectors.registry import IDLE, ConnectorError, SinkContext, UriProblem, check_uri
from frys.dsl.analyzed import StreamDef
from frys.dsl.types import FrysType

ROOT = Path(__file__).resolve().parent.parent
PORT = 5432
SERVER = f"postgresql://postgres@127.0.0.1:{PORT}/test"


@pytest.fixture
def pg() -> Iterator[Any]:
    require_server("PostgreSQL", PORT)
    import psycopg

    connection = psycopg.connect(f"host=127.0.0.1 port={PORT} user=postgres dbname=test",
                                 autocommit=True)
    yield connection
    connection.close()


@pytest.fixture
def names(pg: Any) -> Iterator[list[str]]:
    """Unique table names for one test, dropped afterwards (with their sinks' counts)."""
    prefix = f"frys_test_{uuid.uuid4().hex[:10]}"
    made = [f"{prefix}_{i}" for i in range(4)]
    yield made
    for name in made:
        pg.execute(f'DROP TABLE IF EXISTS "{name}"')
    if pg.execute("SELECT to_regclass(%s)", [OFFSETS_TABLE]).fetchone()[0] is not None:
        pg.execute(f"DELETE FROM {OFFSETS_TABLE} WHERE target = ANY(%s)", [made])


def source_uri(options: str) -> PostgresUri:
    return PostgresUri.parse(f"{SERVER}?{options}", "source")


USERS = {"id": FrysType.STRING, "tier": FrysType.STRING, "credit": FrysType.FLOAT}


class Clock:
    """A clock the test moves: when a source's refresh is due."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def table_source(options: str, columns: dict[str, FrysType] | None = None,
                 key: str | None = "id", event_time: str | None = None,
                 clock: Clock | None = None) -> PostgresTableSource:
    decoder = StreamDecoder("users", dict(columns or USERS), event_time)
    return PostgresTableSource(source_uri(options), decoder, key, key is not None,
                               **({"clock": clock} if clock is not None else {}))


def drain(source: PostgresTableSource) -> tuple[pl.DataFrame, list]:
    """Every batch until the first IDLE (or the end), concatenated, and the dead letters."""
    frames, letters = [], []
    for item in source.batches():
        if item is IDLE:
            break
        frames.append(item[0])
        letters.extend(item[1])
    return (pl.concat(frames) if frames else source.decoder.empty()), letters


def rows_of(frame: pl.DataFrame) -> list[tuple]:
    return sorted(frame.rows(), key=lambda row: tuple(map(str, row)))


def make_users(pg: Any, table: str) -> None:
    pg.execute(f'CREATE TABLE "{table}" (id text PRIMARY KEY, tier text, credit numeric, '
               "note text)")
    pg.execute(f'INSERT INTO "{table}" VALUES (%s, %s, %s, %s), (%s, %s, %s, %s)',
               ["u1", "gold", 10, "x", "u2", "silver", 2.5, None])


# ------------------------------------------------------------------ URI check

@pytest.mark.parametrize(("text", "role", "problem"), [
    ("postgresql://u@localhost:5432/db?table=t", "source", None),
    ("postgres://localhost/db?table=s.t&refresh=5&notify=ch&batch_rows=100", "source", None),
    ("postgresql://localhost/db?query=SELECT%20id%20FROM%20t%20WHERE%20x%20%3E%201", "source",
     None),
    ("postgresql://localhost/db?table=t&key=a,b&create=true", "sink", None),
    ("postgresql://localhost/db?tabel=t", "source",
     "unknown postgresql: option 'tabel' in 'postgresql://localhost/db?tabel=t' (did you "
     "mean 'table'?); known: "),
    ("postgresql://localhost/db", "source", "needs 'table=NAME' or 'query=SELECT...'"),
    ("postgresql://localhost/db?table=t&query=SELECT%201", "source", "(not both)"),
    ("postgresql://localhost/db?query=SELECT%201", "sink",
     "query is an option of a postgresql: source, not of a sink"),
    ("postgresql://localhost/db?table=t&key=id", "source",
     "key is an option of a postgresql: sink, not of a source"),
    ("postgresql://localhost/?table=t", "source", "names no database"),
    ("postgresql:///db?table=t", "source", "names no host"),
    ("postgresql://localhost:99999/db?table=t", "source", "bad port"),
    ("postgresql://localhost/db?table=t&refresh=soon", "source",
     "refresh must be a number of seconds"),
    ("postgresql://localhost/db?table=t&batch_rows=0", "sink",
     "batch_rows must be a positive whole number"),
    ("postgresql://localhost/db?table=a.b.c", "sink", "table must be a name or schema.name"),
    ("postgresql://localhost/db?table=t&create=yes", "sink", "create must be true or false"),
    ("postgresql://localhost/db?table=t&key=,", "sink", "key names no column"),
])
def test_the_uri_check_names_each_problem(text: str, role: str, problem: str | None) -> None:
    found = check_uri(text, role)
    if problem is None:
        assert found is None
    else:
        assert isinstance(found, UriProblem) and problem in found.message, found


# ------------------------------------------------------------------ server down

def test_postgresql_down_at_start_is_a_clear_error_after_retrying() -> None:
    port = closed_port()
    uri = PostgresUri.parse(f"postgresql://127.0.0.1:{port}/test?table=t&connect_timeout=0.3",
                            "source")
    started = time.monotonic()
    with pytest.raises(ConnectorError) as caught:
        PostgresTableSource(uri, StreamDecoder("users", dict(USERS), None), "id", True)
    assert time.monotonic() - started >= 0.1  # it tried again before giving up
    message = str(caught.value)
    assert (f"cannot reach PostgreSQL at 127.0.0.1:{port} for the source of table users"
            in message)
    assert "tried for 0.3s" in message


def test_frys_run_with_postgresql_down_names_the_server(tmp_path: Path) -> None:
    port = closed_port()
    job = tmp_path / "job.frysql"
    (tmp_path / "ev.jsonl").write_text('{"id": "u1"}\n')
    job.write_text("CREATE TABLE users (id STRING PRIMARY KEY, tier STRING) WITH (source = "
                   f"'postgresql://127.0.0.1:{port}/test?table=u&connect_timeout=0.2');\n"
                   "CREATE STREAM ev (id STRING) WITH (source = 'file:ev.jsonl');\n"
                   "SELECT e.id, u.tier FROM ev e JOIN users u ON e.id = u.id;\n")
    run = frys("run", "--exit-when-idle", "200ms", str(job))
    assert run.returncode != 0
    assert f"cannot reach PostgreSQL at 127.0.0.1:{port}" in run.stderr


def test_a_missing_database_fails_at_once_with_the_servers_words(pg: Any) -> None:
    uri = PostgresUri.parse(f"postgresql://postgres@127.0.0.1:{PORT}/no_such_db_frys?table=t",
                            "source")
    started = time.monotonic()
    with pytest.raises(ConnectorError, match='database "no_such_db_frys" does not exist'):
        PostgresTableSource(uri, StreamDecoder("users", dict(USERS), None), "id", True)
    assert time.monotonic() - started < 5  # no backoff for what waiting cannot mend


# ------------------------------------------------------------------ opening: refusals

def test_what_does_not_fit_is_refused_when_the_source_opens(pg: Any, names: list[str]) -> None:
    table = names[0]
    make_users(pg, table)
    with pytest.raises(ConnectorError, match=f'PostgreSQL refuses table {names[1]}: '
                                             f'relation "{names[1]}" does not exist'):
        table_source(f"table={names[1]}")
    with pytest.raises(ConnectorError) as caught:
        table_source(f"table={table}", {"id": FrysType.STRING, "tier": FrysType.INT,
                                        "age": FrysType.INT})
    message = str(caught.value)
    assert f"?table={table} does not fit the source of table users" in message
    assert "column tier is text in PostgreSQL, the stream's is INT: INT takes smallint" \
        in message
    assert "no column 'age' (it has id, tier, credit, note)" in message
    with pytest.raises(ConnectorError, match=r"PostgreSQL refuses the query 'SELECT id FROM "
                                             r"nowhere_at_all': relation \"nowhere_at_all\""):
        table_source("query=SELECT%20id%20FROM%20nowhere_at_all")
    with pytest.raises(ConnectorError, match="PostgreSQL refuses the query 'SELEKT 1': "
                                             "syntax error at or near"):
        table_source("query=SELEKT%201")
    with pytest.raises(ConnectorError, match="stream users is a STREAM, which reads the rows "
                                             "once"):
        table_source(f"table={table}&refresh=1", key=None)


# ------------------------------------------------------------------ reading and typing

def test_every_type_is_read_and_bad_rows_are_dead_letters(pg: Any, names: list[str]) -> None:
    table = names[0]
    pg.execute(f'CREATE TABLE "{table}" (id int4, small int2, big numeric, f float4, '
               "d numeric, b boolean, s varchar(5), j jsonb, at timestamptz, naive timestamp, "
               "day date, epoch int8, iso text)")
    good = ("1, 2, 3, 1.5, 2.25, true, 'abc', '{\"a\": [1]}', '2024-01-01T00:00:01.5+02:00', "
            "'2024-01-01 00:00:02', '2024-01-03', 1704067200000, '2024-01-01T00:00:04Z'")
    pg.execute(f'INSERT INTO "{table}" VALUES ({good})')
    pg.execute(f'INSERT INTO "{table}" (id, at) VALUES (2, now())')  # the rest NULL
    pg.execute(f'INSERT INTO "{table}" (id, f, at) VALUES (3, \'NaN\', now())')
    pg.execute(f'INSERT INTO "{table}" (id, big, at) VALUES (4, 1e30, now())')
    pg.execute(f'INSERT INTO "{table}" (id, big, at) VALUES (5, 2.5, now())')
    pg.execute(f'INSERT INTO "{table}" (id, d, at) VALUES (6, 1e400, now())')
    pg.execute(f'INSERT INTO "{table}" (id, at) VALUES (7, \'infinity\')')
    pg.execute(f'INSERT INTO "{table}" (id, at) VALUES (8, NULL)')
    pg.execute(f'INSERT INTO "{table}" (id, at, iso) VALUES (9, now(), \'soon\')')
    pg.execute(f'INSERT INTO "{table}" (id, at) VALUES (10, \'12000-01-01\')')
    columns = {"id": FrysType.INT, "small": FrysType.INT, "big": FrysType.INT,
               "f": FrysType.FLOAT, "d": FrysType.FLOAT, "b": FrysType.BOOL,
               "s": FrysType.STRING, "j": FrysType.STRING, "at": FrysType.TIMESTAMP,
               "naive": FrysType.TIMESTAMP, "day": FrysType.TIMESTAMP,
               "epoch": FrysType.TIMESTAMP, "iso": FrysType.TIMESTAMP}
    uri = source_uri(f"table={table}&batch_rows=3")
    source = PostgresTableSource(uri, StreamDecoder("ev", columns, "at"), None, False)
    batch, letters = drain(source)
    source.close()
    assert sorted(batch["id"].to_list()) == [1, 2]
    first = batch.filter(pl.col("id") == 1).row(0, named=True)
    assert first["small"] == 2 and first["big"] == 3 and first["f"] == 1.5
    assert first["d"] == 2.25 and first["b"] is True and first["s"] == "abc"
    assert json.loads(first["j"]) == {"a": [1]}
    assert [first[c].isoformat() for c in ("at", "naive", "day", "epoch", "iso")] == [
        "2023-12-31T22:00:01.500000+00:00", "2024-01-01T00:00:02+00:00",
        "2024-01-03T00:00:00+00:00", "2024-01-01T00:00:00+00:00",
        "2024-01-01T00:00:04+00:00"]
    where = f"postgresql://127.0.0.1:{PORT}/test?table={table} row "
    reasons = {int(letter.position[len(where):]): letter.reason for letter in letters}
    assert all(letter.position.startswith(where) for letter in letters)
    assert reasons == {
        3: "field f: FLOAT value nan is not a finite number",
        4: "field big: INT value 1000000000000000000000000000000 is out of the 64-bit range",
        5: "field big: expected INT, got the numeric 2.5",
        6: "field d: FLOAT value 1.000000e+400 is out of the 64-bit range",
        7: "field at: infinity is not a TIMESTAMP",
        8: "field at: the event time is missing",
        9: reasons[9], 10: reasons[10]}
    assert reasons[9].startswith("field iso: cannot parse 'soon' as a TIMESTAMP")
    assert reasons[10].startswith("field at: ") and "outside TIMESTAMP's range" in reasons[10]
    raw = next(letter.raw for letter in letters if letter.position.endswith(" row 5"))
    assert json.loads(raw)["id"] == 5


def test_a_query_is_read_and_a_row_still_bad_is_not_reported_again(
        pg: Any, names: list[str]) -> None:
    table = names[0]
    make_users(pg, table)
    pg.execute(f'INSERT INTO "{table}" VALUES (%s, %s, %s, %s)', ["u3", "gold", "NaN", None])
    query = (f'SELECT id, upper(tier) AS tier, credit * 2 AS credit FROM "{table}" '
             "WHERE tier = 'gold'")
    from urllib.parse import quote

    clock = Clock()
    source = table_source(f"query={quote(query)}&refresh=0.05", clock=clock)
    batch, letters = drain(source)
    assert batch.rows() == [("u1", "GOLD", 20.0)]
    assert [letter.reason for letter in letters] == [
        "field credit: FLOAT value nan is not a finite number"]
    assert "?query=SELECT id, upper(tier) AS tier, credit * 2 AS credit FROM" \
        in letters[0].position
    clock.advance(0.06)
    again, letters = drain(source)
    assert again.height == 0 and letters == []  # nothing new, nothing reported again
    assert source.position() == {"reads": 2, "rows": 0}
    source.close()


# ------------------------------------------------------------------ refreshing

def test_a_refresh_emits_the_changes_and_tombstones_for_deleted_keys(
        pg: Any, names: list[str]) -> None:
    table = names[0]
    make_users(pg, table)
    pg.execute(f'INSERT INTO "{table}" VALUES (%s, %s, %s, %s)', ["u3", "bronze", 1, None])
    clock = Clock()
    source = table_source(f"table={table}&refresh=0.05&batch_rows=2", clock=clock)
    batches = source.batches()
    first = []
    for item in batches:
        if item is IDLE:
            break
        first.append(item[0])
    assert len(first) == 2  # read in batches of batch_rows
    assert rows_of(pl.concat(first)) == [("u1", "gold", 10.0), ("u2", "silver", 2.5),
                                         ("u3", "bronze", 1.0)]
    assert source.position() == {"reads": 1, "rows": 0}
    assert next(batches) is IDLE  # nothing due yet: the job is not blocked
    pg.execute(f'UPDATE "{table}" SET tier = %s WHERE id = %s', ["platinum", "u1"])
    pg.execute(f'UPDATE "{table}" SET note = %s WHERE id = %s', ["only a column the "
                                                                  "stream lacks", "u2"])
    pg.execute(f'DELETE FROM "{table}" WHERE id = %s', ["u3"])
    pg.execute(f'INSERT INTO "{table}" VALUES (%s, %s, %s, %s)', ["u4", "new", None, None])
    clock.advance(0.06)
    changed, letters = drain(source)
    assert letters == []
    assert rows_of(changed) == [("u1", "platinum", 10.0), ("u3", None, None),
                                ("u4", "new", None)]
    assert source.position() == {"reads": 2, "rows": 0}
    clock.advance(0.06)
    assert drain(source)[0].height == 0
    source.close()


def test_a_notification_triggers_a_read(pg: Any, names: list[str]) -> None:
    table, channel = names[0], f"ch_{names[0]}"
    make_users(pg, table)
    source = table_source(f"table={table}&notify={channel}")
    assert drain(source)[0].height == 2
    pg.execute(f'UPDATE "{table}" SET credit = 99 WHERE id = %s', ["u2"])
    time.sleep(0.1)
    assert drain(source)[0].height == 0  # no refresh= and no notification: no read
    with pg.transaction():  # delivered together, at the commit
        pg.execute(f'NOTIFY "{channel}", \'u2 changed\'')
        pg.execute(f'NOTIFY "{channel}"')  # two notifications: one read
    deadline = time.monotonic() + 10
    changed, _ = drain(source)
    while changed.height == 0 and time.monotonic() < deadline:  # until they arrive
        changed, _ = drain(source)
    assert changed.rows() == [("u2", "silver", 99.0)]
    assert source.position() == {"reads": 2, "rows": 0}
    source.close()


def test_a_terminated_session_is_reconnected_and_nothing_is_lost(
        pg: Any, names: list[str]) -> None:
    table = names[0]
    make_users(pg, table)
    pg.execute(f'INSERT INTO "{table}" SELECT %s || n, %s, n, NULL FROM generate_series(1, '
               "50) AS n", ["m", "many"])
    source = table_source(f"table={table}&refresh=0.05&batch_rows=10")
    batches = source.batches()
    item = next(batches)
    assert item is not IDLE
    got = {row[0]: row for row in item[0].rows()}
    pid = source.connection.info.backend_pid
    pg.execute("SELECT pg_terminate_backend(%s)", [pid])  # mid-read: the cursor dies
    pg.execute(f'UPDATE "{table}" SET tier = %s WHERE id = %s', ["changed", "m1"])
    pg.execute(f'DELETE FROM "{table}" WHERE id = %s', ["u1"])
    tombstones = []
    with pytest.warns(RuntimeWarning, match="lost the connection"):
        for _ in range(400):
            item = next(batches)
            if item is IDLE:
                if source.position() == {"reads": 1, "rows": 0}:
                    break
                time.sleep(0.01)
                continue
            for row in item[0].rows():
                if row[1] is None and row[2] is None:
                    tombstones.append(row[0])
                got[row[0]] = row
    assert source.connection.info.backend_pid != pid
    assert tombstones == ["u1"]  # the row given before the session died, deleted since
    assert got["m1"] == ("m1", "changed", 1.0)
    assert sorted(k for k, row in got.items() if row[1] is not None) == sorted(
        ["u2", *(f"m{n}" for n in range(1, 51))])
    source.close()


def test_a_table_without_refresh_is_read_once_and_ends(pg: Any, names: list[str]) -> None:
    make_users(pg, names[0])
    source = table_source(f"table={names[0]}")
    assert not source.growing
    items = list(source.batches())  # to its end: never IDLE
    assert [item[0].height for item in items if item is not IDLE] == [2]
    assert IDLE not in items
    source.close()


def stream_source(table: str, options: str = "") -> PostgresTableSource:
    decoder = StreamDecoder("ev", {"id": FrysType.STRING, "credit": FrysType.FLOAT}, None)
    return PostgresTableSource(source_uri(f"query=SELECT%20*%20FROM%20%22{table}%22%20"
                                          f"ORDER%20BY%20id{options}"), decoder, None, False)


def test_a_resumed_stream_goes_on_after_the_rows_its_checkpoint_counted(
        pg: Any, names: list[str]) -> None:
    table = names[0]
    pg.execute(f'CREATE TABLE "{table}" (id text, credit float8)')
    pg.execute(f'INSERT INTO "{table}" SELECT %s || lpad(n::text, 2, %s), n FROM '
               "generate_series(1, 25) AS n", ["r", "0"])
    first = stream_source(table, "&batch_rows=10")
    batches = first.batches()
    taken = next(batches)
    assert taken is not IDLE and taken[0].height == 10
    checkpoint = first.position()
    assert checkpoint == {"reads": 0, "rows": 10}
    first.close()  # the process dies here
    resumed = stream_source(table, "&batch_rows=10")
    resumed.seek(checkpoint)
    rest, _ = drain(resumed)
    assert rest["id"].to_list() == [f"r{n:02d}" for n in range(11, 26)]
    assert resumed.position() == {"reads": 1, "rows": 0}
    resumed.close()
    done = stream_source(table)
    done.seek({"reads": 1, "rows": 0})
    assert list(done.batches()) == []  # read whole before the crash: nothing again
    done.close()
    with pytest.raises(ConnectorError, match="is not a position of a postgresql: source"):
        stream_source(table).seek({"reads": -1})


def test_a_stream_that_loses_its_session_stops_the_job_naming_the_rows_read(
        pg: Any, names: list[str]) -> None:
    table = names[0]
    pg.execute(f'CREATE TABLE "{table}" (id text, credit float8)')
    pg.execute(f'INSERT INTO "{table}" SELECT %s || n, n FROM generate_series(1, 30) AS n',
               ["r"])
    source = stream_source(table, "&batch_rows=10")
    batches = source.batches()
    assert next(batches) is not IDLE
    pg.execute("SELECT pg_terminate_backend(%s)", [source.connection.info.backend_pid])
    with pytest.raises(ConnectorError, match=r"lost the connection after 10 rows"):
        next(batches)
    source.close()


# ------------------------------------------------------------------ the sink

def sink_context(columns: dict[str, FrysType], resume: bool = False, is_table: bool = False,
                 key: str | None = None) -> SinkContext:
    stream = StreamDef("out", columns, is_table=is_table, primary_key=key)
    return SinkContext(ROOT, "job", stream, Broker(), resume=resume)


OUT = {"k": FrysType.STRING, "v": FrysType.INT, "f": FrysType.FLOAT, "b": FrysType.BOOL,
       "ts": FrysType.TIMESTAMP}


def out_frame(values: range) -> pl.DataFrame:
    return pl.DataFrame({"k": [f"k{n % 3}" for n in values], "v": list(values),
                         "f": [n / 4 for n in values], "b": [n % 2 == 0 for n in values],
                         "ts": pl.Series([n * 1000 for n in values]).cast(
                             pl.Datetime("ms", "UTC"))})


def sink(options: str, columns: dict[str, FrysType] | None = None, **context: Any
         ) -> PostgresSink:
    return PostgresSink(PostgresUri.parse(f"{SERVER}?{options}", "sink"),
                        sink_context(dict(columns or OUT), **context))


def test_the_sink_copies_rows_that_the_source_reads_back(pg: Any, names: list[str]) -> None:
    table = names[0]
    out = sink(f"table={table}&create=true&batch_rows=2")
    weird = pl.DataFrame({"k": ["", None, 'a,"b\nc', "é\t\\N"], "v": [None, -2**63, 2**63 - 1, 0],
                          "f": [float("nan"), 1e308, None, -0.0], "b": [None, True, False, None],
                          "ts": pl.Series([0, None, -62135596800000, 253402300799999]).cast(
                              pl.Datetime("ms", "UTC"))})
    out.write(weird)
    assert out.pre_commit(1) == {"rows": 4}
    out.close()
    read = pg.execute(f'SELECT k, v, f::text, b, ts FROM "{table}" ORDER BY v NULLS FIRST'
                      ).fetchall()
    assert [(k, v, f, b) for k, v, f, b, _ in read] == [
        ("", None, "NaN", None), (None, -2**63, "1e+308", True), ("é\t\\N", 0, "-0", None),
        ('a,"b\nc', 2**63 - 1, None, False)]
    assert [ts.isoformat() if ts else None for *_, ts in read] == [
        "1970-01-01T00:00:00+00:00", None, "9999-12-31T23:59:59.999000+00:00",
        "0001-01-01T00:00:00+00:00"]
    columns = pg.execute("SELECT column_name, data_type FROM information_schema.columns "
                         "WHERE table_name = %s ORDER BY ordinal_position", [table]).fetchall()
    assert columns == [("k", "text"), ("v", "bigint"), ("f", "double precision"),
                       ("b", "boolean"), ("ts", "timestamp with time zone")]
    assert pg.execute(f"SELECT rows FROM {OFFSETS_TABLE} WHERE target = %s",
                      [table]).fetchone() == (4,)


def test_the_sink_upserts_on_its_key_and_a_tables_tombstone_deletes(
        pg: Any, names: list[str]) -> None:
    table = names[0]
    out = sink(f"table={table}&key=k&create=true", is_table=True, key="k")
    out.write(out_frame(range(5)))  # k0 .. k2 several times in one batch: the last wins
    out.write(pl.DataFrame({"k": ["k1"], "v": [None], "f": [None], "b": [None], "ts": [None]},
                           schema=out_frame(range(1)).schema))  # a tombstone: delete k1
    out.close()
    assert pg.execute(f'SELECT k, v FROM "{table}" ORDER BY k').fetchall() == [
        ("k0", 3), ("k2", 2)]
    again = sink(f"table={table}&key=k")
    again.write(out_frame(range(7, 8)))  # k1 again, v 7
    again.close()
    assert pg.execute(f'SELECT k, v FROM "{table}" ORDER BY k').fetchall() == [
        ("k0", 3), ("k1", 7), ("k2", 2)]


def test_what_does_not_fit_is_refused_when_the_sink_opens(pg: Any, names: list[str]) -> None:
    with pytest.raises(ConnectorError, match=f"table {names[0]} does not exist in database "
                                             "test; create it, or add 'create=true'"):
        sink(f"table={names[0]}")
    pg.execute(f'CREATE TABLE "{names[1]}" (k text, v text, f real, b int4, ts date)')
    with pytest.raises(ConnectorError) as caught:
        sink(f"table={names[1]}")
    message = str(caught.value)
    assert "column v is text, which cannot hold the stream's INT" in message
    assert "column b is int4, which cannot hold the stream's BOOL" in message
    assert "column ts is date, which cannot hold the stream's TIMESTAMP" in message
    pg.execute(f'CREATE TABLE "{names[2]}" (k text, v bigint, f float8, b bool, '
               "ts timestamptz)")
    with pytest.raises(ConnectorError, match=r"key=k needs a unique index or primary key on "
                                             r"exactly \(k\)"):
        sink(f"table={names[2]}&key=k")
    with pytest.raises(ConnectorError, match="key column nope is not a column of stream out"):
        sink(f"table={names[2]}&key=nope")


def test_rows_postgresql_refuses_stop_the_sink_with_its_message(
        pg: Any, names: list[str]) -> None:
    pg.execute(f'CREATE TABLE "{names[0]}" (k text, v int2, f float8, b bool, ts timestamptz)')
    out = sink(f"table={names[0]}")
    with pytest.raises(ConnectorError, match='PostgreSQL refuses the rows: value "100000" is '
                                             "out of range for type smallint"):
        out.write(out_frame(range(100_000, 100_001)))
    with pytest.raises(ConnectorError, match="row 2 holds the NUL character in column k"):
        out.write(out_frame(range(2)).with_columns(pl.Series("k", ["a", "b\x00c"])))
    out.close()
    assert pg.execute(f'SELECT count(*) FROM "{names[0]}"').fetchone() == (0,)


def test_a_recovered_sink_skips_the_rows_committed_after_its_checkpoint(
        pg: Any, names: list[str]) -> None:
    table = names[0]
    out = sink(f"table={table}&create=true")
    out.write(out_frame(range(3)))
    state = out.pre_commit(1)
    out.write(out_frame(range(3, 5)))  # written after the checkpoint, then a crash
    out.connection.close()
    resumed = sink(f"table={table}", resume=True)
    resumed.recover(state)
    resumed.write(out_frame(range(3, 7)))  # the replay: rows 3, 4 again, then new ones
    resumed.close()
    assert [v for (v,) in pg.execute(f'SELECT v FROM "{table}" ORDER BY v')] == list(range(7))
    pg.execute(f"UPDATE {OFFSETS_TABLE} SET rows = 1 WHERE target = %s", [table])
    behind = sink(f"table={table}", resume=True)
    with pytest.raises(ConnectorError, match="counts 1 rows written for job job, fewer than "
                                             "the checkpoint's 3"):
        behind.recover(state)
    behind.close()


def test_a_sink_whose_session_is_terminated_reconnects_and_writes_each_row_once(
        pg: Any, names: list[str]) -> None:
    table = names[0]
    out = sink(f"table={table}&create=true")
    out.write(out_frame(range(3)))
    pg.execute("SELECT pg_terminate_backend(%s)", [out.connection.info.backend_pid])
    with pytest.warns(RuntimeWarning, match="lost the connection"):
        out.write(out_frame(range(3, 6)))
    out.close()
    assert [v for (v,) in pg.execute(f'SELECT v FROM "{table}" ORDER BY v')] == list(range(6))


# ------------------------------------------------------------------ jobs

ENRICH_JOB = """
CREATE TABLE users (id STRING PRIMARY KEY, tier STRING, credit FLOAT)
    WITH (source = '{server}?table={users}&refresh=30');
CREATE STREAM payments (user_id STRING, amount INT, ts TIMESTAMP)
    WITH (event_time = ts, source = '{events}');
CREATE STREAM enriched WITH (sink = '{server}?table={out}&create=true');
INSERT INTO enriched SELECT p.user_id AS user_id, p.amount AS amount, u.tier AS tier,
    u.credit AS credit, p.ts AS ts FROM payments p LEFT JOIN users u ON p.user_id = u.id;
"""


def test_a_job_enriches_a_file_stream_with_a_postgresql_table_into_postgresql(
        pg: Any, names: list[str], tmp_path: Path) -> None:
    users, out = names[0], names[1]
    pg.execute(f'CREATE TABLE "{users}" (id text PRIMARY KEY, tier text, credit numeric)')
    rng = random.Random(3)
    table = {f"u{n}": (rng.choice(["gold", "silver", None]), rng.randint(0, 100) / 4)
             for n in range(40)}
    for key, (tier, credit) in table.items():
        pg.execute(f'INSERT INTO "{users}" VALUES (%s, %s, %s)', [key, tier, credit])
    pg.execute(f'INSERT INTO "{users}" VALUES (%s, %s, %s)', ["bad", "x", "NaN"])
    events = [{"user_id": f"u{rng.randint(0, 50)}", "amount": n, "ts": 1000 + n}
              for n in range(500)]
    (tmp_path / "payments.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    job = tmp_path / "job.frysql"
    job.write_text(ENRICH_JOB.format(server=SERVER, users=users, out=out,
                                     events="file:payments.jsonl"))
    run = frys("run", "--exit-when-idle", "300ms", str(job))
    assert run.returncode == 0, run.stderr
    assert "field credit: FLOAT value nan is not a finite number" in run.stderr, run.stderr
    expected = sorted((e["user_id"], e["amount"], *table.get(e["user_id"], (None, None)))
                      for e in events)
    got = sorted(pg.execute(f'SELECT user_id, amount, tier, credit FROM "{out}"').fetchall())
    assert got == expected


def test_a_running_job_sees_an_update_announced_by_notify(
        pg: Any, names: list[str], tmp_path: Path) -> None:
    """A job enriching a followed file: a row updated in PostgreSQL and announced by NOTIFY
    is what the next stream rows join with."""
    users, out, channel = names[0], names[1], f"ch_{names[0]}"
    make_users(pg, users)
    events = tmp_path / "payments.jsonl"
    events.touch()
    job = tmp_path / "job.frysql"
    job.write_text(ENRICH_JOB.format(server=SERVER, users=users, out=out,
                                     events="file:payments.jsonl?follow=true")
                   .replace("&refresh=30", f"&notify={channel}"))
    process = subprocess.Popen([sys.executable, "-m", "frys", "run", "--no-progress",
                                "--exit-when-idle", "1500ms", str(job)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=ROOT)

    def pay(amount: int) -> None:
        with events.open("a") as file:
            file.write(json.dumps({"user_id": "u1", "amount": amount, "ts": amount}) + "\n")

    def written() -> int:
        if pg.execute("SELECT to_regclass(%s)", [out]).fetchone() == (None,):
            return 0
        return int(pg.execute(f'SELECT count(*) FROM "{out}"').fetchone()[0])

    try:
        pay(1)
        deadline = time.monotonic() + 20
        while written() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        pg.execute(f'UPDATE "{users}" SET tier = %s WHERE id = %s', ["platinum", "u1"])
        pg.execute(f'NOTIFY "{channel}"')
        time.sleep(0.5)
        pay(2)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert pg.execute(f'SELECT amount, tier FROM "{out}" ORDER BY amount').fetchall() == [
        (1, "gold"), (2, "platinum")]


WRITER = """
import json, sys, time
path, count = sys.argv[1], int(sys.argv[2])
with open(path, "a") as out:
    for start in range(0, count, 40):
        out.write("".join(json.dumps({"user_id": "u%d" % (n % 7), "amount": n, "ts": 1000 + n})
                          + "\\n" for n in range(start, min(start + 40, count))))
        out.flush()
        time.sleep(0.02)
"""


def test_a_job_killed_again_and_again_writes_each_row_once(
        pg: Any, names: list[str], tmp_path: Path) -> None:
    """SIGKILL `frys run --state` while it reads a followed file (another process appends to
    it) enriched by a PostgreSQL table into a PostgreSQL table; start it again each time;
    once the writer is done and the job has gone idle, the table holds every event once."""
    users, out = names[0], names[1]
    count = 2000
    pg.execute(f'CREATE TABLE "{users}" (id text PRIMARY KEY, tier text, credit numeric)')
    for n in range(7):
        pg.execute(f'INSERT INTO "{users}" VALUES (%s, %s, %s)', [f"u{n}", f"t{n}", n])
    events = tmp_path / "payments.jsonl"
    events.touch()
    job = tmp_path / "job.frysql"
    job.write_text(ENRICH_JOB.format(server=SERVER, users=users, out=out,
                                    events="file:payments.jsonl?follow=true"))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(events), str(count)],
                              cwd=ROOT)
    kills = kill_while_writing(job, tmp_path / "state", writer, seed=7, lifetime=(0.6, 1.2),
                               idle="400ms")
    assert kills >= 1
    got = pg.execute(f'SELECT amount, user_id, tier FROM "{out}" ORDER BY amount').fetchall()
    assert got == [(n, f"u{n % 7}", f"t{n % 7}") for n in range(count)]
    written = pg.execute(f"SELECT rows FROM {OFFSETS_TABLE} WHERE target = %s",
                         [out]).fetchone()
    assert written == (count,)


def test_the_documented_example_compiles() -> None:
    import re

    from frys.compiler import compile_text

    text = (ROOT / "docs" / "connectors.md").read_text()
    section = text[text.index("## PostgreSQL"):]
    example = re.findall(r"```frysql\n(.*?)```", section, flags=re.S)[0]
    job = compile_text(example, "docs/connectors.md")
    assert set(job.streams) >= {"users", "payments", "enriched"}
