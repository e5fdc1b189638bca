"""Broker message payloads (connectors/payloads.py): every encoding round-trips a stream's
batch, and hostile messages are dead letters positioned by their message, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frys.connectors.decode import StreamDecoder
from frys.connectors.payloads import (
    ENCODINGS,
    UriOptionError,
    UriOptions,
    connect_with_backoff,
    decode_messages,
    encode_batch,
)
from frys.connectors.registry import ConnectorError
from frys.dsl.types import FrysType

COLUMNS = {"id": FrysType.INT, "price": FrysType.FLOAT, "ok": FrysType.BOOL,
           "name": FrysType.STRING, "ts": FrysType.TIMESTAMP}


def decoder() -> StreamDecoder:
    return StreamDecoder("orders", dict(COLUMNS), "ts", "ms")


def batch_of(rows: list[tuple[int, float | None, bool | None, str | None, int]]
             ) -> pl.DataFrame:
    return decoder().decode_records(
        [({"id": i, "price": p, "ok": o, "name": n, "ts": t}, f"row {k}", "")
         for k, (i, p, o, n, t) in enumerate(rows)])[0]


rows_strategy = st.lists(st.tuples(
    st.integers(-2**63, 2**63 - 1),
    st.none() | st.floats(allow_nan=False, allow_infinity=False),
    st.none() | st.booleans(),
    st.none() | st.text(),
    st.integers(0, 4_102_444_800_000)), max_size=40)


@settings(max_examples=60, deadline=None)
@given(rows=rows_strategy, encoding=st.sampled_from(ENCODINGS))
def test_every_encoding_round_trips_a_batch(rows, encoding) -> None:
    batch = batch_of(rows)
    messages = encode_batch(batch, encoding, message_bytes=200)
    if encoding != "arrow":
        assert len(messages) == batch.height
    decoded, letters = decode_messages(decoder(), messages,
                                       [f"m{i}" for i in range(len(messages))], encoding)
    assert letters == []
    assert decoded.equals(batch)


def test_arrow_messages_split_a_batch_by_size_and_keep_its_order() -> None:
    batch = batch_of([(i, i / 2, i % 2 == 0, "x" * 50, 1000 * i) for i in range(1000)])
    messages = encode_batch(batch, "arrow", message_bytes=4096)
    assert len(messages) > 10
    assert all(len(m) < 4096 * 3 for m in messages)
    decoded, letters = decode_messages(decoder(), messages, ["p"] * len(messages), "arrow")
    assert letters == [] and decoded.equals(batch)


def test_json_messages_may_span_lines_and_bad_ones_are_positioned_by_their_message() -> None:
    messages = [b'{"id": 1,\n "price": 2.5, "ts": 1000}', b"not json", b"\xff\xfe{}",
                b'{"id": "x", "ts": 5}', b'{"id": 3, "ts": "2024-01-01T00:00:00Z"}',
                b"[" * 5000 + b"]" * 5000]
    batch, letters = decode_messages(decoder(), messages, [f"seq {i}" for i in range(6)],
                                     "json")
    assert batch["id"].to_list() == [1, 3]
    assert batch["ts"].to_list()[1] == datetime(2024, 1, 1, tzinfo=UTC)
    by_position = {letter.position: letter.reason for letter in letters}
    assert set(by_position) == {"seq 1", "seq 2", "seq 3", "seq 5"}
    assert "id" in by_position["seq 3"]
    assert "nested too deeply" in by_position["seq 5"]


def test_oversize_messages_are_dead_letters_not_decoded() -> None:
    big = b'{"id": 1, "ts": 1, "name": "' + b"x" * 5000 + b'"}'
    for encoding, payload in (("json", big), ("msgpack", b"\x80" * 5000),
                              ("arrow", b"\x00" * 5000)):
        batch, letters = decode_messages(decoder(), [payload], ["tag 7"], encoding,
                                         max_bytes=4096)
        assert batch.height == 0
        [letter] = letters
        assert letter.position == "tag 7"
        assert "5000 bytes" in letter.reason or f"{len(payload)} bytes" in letter.reason
        assert "max_bytes=4096" in letter.reason
        assert len(letter.raw) < 1100


def test_malformed_msgpack_and_arrow_are_dead_letters() -> None:
    good = msgspec.msgpack.encode({"id": 2, "ts": 9})
    batch, letters = decode_messages(decoder(), [b"\xc1", good, msgspec.msgpack.encode([1])],
                                     ["a", "b", "c"], "msgpack")
    assert batch["id"].to_list() == [2]
    assert [letter.position for letter in letters] == ["a", "c"]
    assert "malformed msgpack" in letters[0].reason

    arrow = encode_batch(batch_of([(1, 1.0, True, "a", 5)]), "arrow")[0]
    batch, letters = decode_messages(decoder(), [arrow[:-20], b"junk", arrow],
                                     ["x", "y", "z"], "arrow")
    assert batch["id"].to_list() == [1]
    assert [letter.position for letter in letters] == ["x", "y"]
    assert all("Arrow IPC" in letter.reason for letter in letters)


def test_arrow_rows_without_an_event_time_are_positioned_by_row() -> None:
    frame = pl.DataFrame({"id": [1, 2], "ts": [5, None]})
    payload = encode_batch(frame, "arrow")[0]
    batch, letters = decode_messages(decoder(), [payload], ["seq 4"], "arrow")
    assert batch["id"].to_list() == [1]
    [letter] = letters
    assert letter.position == "seq 4 row 1"


def test_uri_options_name_the_option_the_value_and_the_uri() -> None:
    uri = "nats://h/s?stream=S&durabel=d"
    with pytest.raises(UriOptionError, match=r"unknown nats: option 'durabel'.*durable"):
        UriOptions(uri, "stream=S&durabel=d", "nats", "source", source=["stream", "durable"])
    with pytest.raises(UriOptionError, match="an option of a nats: sink, not of a source"):
        UriOptions(uri, "dedupe=true", "nats", "source", source=["durable"], sink=["dedupe"])
    options = UriOptions(uri, "batch=0&ack=maybe&wait=nan&format=xml", "nats", "source",
                         source=["batch", "ack", "wait"], common=["format"])
    with pytest.raises(UriOptionError, match="batch must be a positive whole number"):
        options.positive_int("batch", 10)
    with pytest.raises(UriOptionError, match=r"ack must be true or false.*'maybe'"):
        options.boolean("ack", True)
    with pytest.raises(UriOptionError, match="wait must be a number of seconds"):
        options.seconds("wait", 1.0)
    with pytest.raises(UriOptionError, match="format must be json or msgpack or arrow"):
        options.encoding()


def test_connect_with_backoff_retries_then_names_the_server() -> None:
    calls = []

    def refuse() -> None:
        calls.append(1)
        raise ConnectionRefusedError("refused")

    with pytest.raises(ConnectorError, match=r"cannot reach NATS at h:1 \(tried for 0.3s\)"):
        connect_with_backoff(refuse, timeout=0.3, what="NATS at h:1")
    assert len(calls) >= 3

    answers = iter([OSError("down"), OSError("down"), "client"])

    def flaky() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert connect_with_backoff(flaky, timeout=5, what="x") == "client"
