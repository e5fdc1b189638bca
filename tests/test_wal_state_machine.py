"""The WAL against a model: a hypothesis state machine of publishing, consuming, committing
and restarting (writer and consumer), and property tests of the record encoding."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from frys.connectors.wal import (
    FsyncPolicy,
    LogReader,
    OffsetStore,
    PayloadFormat,
    Record,
    WriteAheadLog,
)
from frys.connectors.wal.records import (
    BODY_HEAD,
    HEADER,
    MAX_BODY,
    NO_TIME,
    RECORD_OVERHEAD,
    decode_at,
    encode,
    scan,
)

CONSUMER = "machine"
SEGMENT_BYTES = 300  # small: the machine's logs roll over many segments

Event = tuple[bytes, int]  # (payload of its record, index in the record)

records_strategy = st.lists(st.tuples(st.binary(max_size=120), st.integers(1, 5)),
                            min_size=1, max_size=4)


def events_of(found: list[tuple[Record, int]]) -> list[Event]:
    return [(record.payload, i) for record, skip in found for i in range(skip, record.count)]


class WalMachine(RuleBasedStateMachine):
    """The model: the list of every event published, the consumer's position in it, and the
    offset it last committed."""

    @initialize()
    def open_log(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="wal-machine-"))
        self.wal = WriteAheadLog(self.directory, FsyncPolicy.never(),
                                 segment_bytes=SEGMENT_BYTES)
        self.store = OffsetStore(self.directory)
        self.events: list[Event] = []
        self.position = 0
        self.committed: int | None = None
        self.reader = LogReader(self.directory, 0)

    @rule(items=records_strategy, many=st.booleans())
    def publish(self, items: list[tuple[bytes, int]], many: bool) -> None:
        start = self.wal.next_offset
        if many:
            offsets = self.wal.append_many(
                [(payload, count, NO_TIME, NO_TIME, PayloadFormat.RAW)
                 for payload, count in items])
        else:
            offsets = [self.wal.append(payload, count) for payload, count in items]
        expected = []
        for _, count in items:
            expected.append(start)
            start += count
        assert offsets == expected
        for payload, count in items:
            self.events.extend((payload, i) for i in range(count))

    @rule(data=st.data())
    def consume(self, data: st.DataObject) -> None:
        """Read what is there, then process only some of it: the reader continues from
        there, perhaps in the middle of a record."""
        found = events_of(self.reader.read())
        assert found == self.events[self.position:]
        processed = data.draw(st.integers(0, len(found)), label="processed")
        self.position += processed
        self.reader.seek(self.position)

    @rule()
    def commit(self) -> None:
        self.store.commit(CONSUMER, self.position)
        self.committed = self.position

    def _resume_consumer(self) -> None:
        self.reader.close()
        committed = self.store.load(CONSUMER)
        assert committed == self.committed
        self.position = committed or 0
        self.reader = LogReader(self.directory, committed)
        assert self.reader.offset == self.position

    @rule()
    def restart(self) -> None:
        """Writer and consumer stop (cleanly) and start again from what is on disk."""
        self.wal.close()
        self.wal = WriteAheadLog(self.directory, FsyncPolicy.never(),
                                 segment_bytes=SEGMENT_BYTES)
        assert self.wal.recovery == []
        self._resume_consumer()

    @rule()
    def consumer_crash(self) -> None:
        """The consumer alone dies: it goes back to its committed offset."""
        self._resume_consumer()

    @precondition(lambda self: self.events)
    @rule(data=st.data())
    def read_from_anywhere(self, data: st.DataObject) -> None:
        offset = data.draw(st.integers(0, len(self.events)), label="offset")
        reader = LogReader(self.directory, offset)
        try:
            assert events_of(reader.read()) == self.events[offset:]
            assert reader.damage == []
        finally:
            reader.close()

    @invariant()
    def offsets_match_the_model(self) -> None:
        assert self.wal.next_offset == len(self.events)
        assert self.wal.start_offset == 0
        assert self.store.load(CONSUMER) == self.committed

    def teardown(self) -> None:
        if hasattr(self, "wal"):
            self.wal.close()
            self.reader.close()
            shutil.rmtree(self.directory, ignore_errors=True)


WalMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=30,
                                        deadline=None)
TestWalMachine = WalMachine.TestCase


# ------------------------------------------------------------------ the record encoding

fields = st.tuples(
    st.integers(0, 2**64 - 1),  # offset
    st.integers(1, 2**32 - 1),  # count
    st.integers(-(2**63), 2**63 - 1),  # min time
    st.integers(-(2**63), 2**63 - 1),  # max time
    st.sampled_from(PayloadFormat),
    st.binary(max_size=300),
)


@given(fields, st.binary(max_size=20))
def test_decode_reads_back_what_encode_wrote(values: tuple, prefix: bytes) -> None:
    offset, count, low, high, payload_format, payload = values
    frame = encode(offset, count, low, high, payload_format, payload)
    assert len(frame) == RECORD_OVERHEAD + len(payload)
    expected = Record(offset, count, low, high, payload_format, payload)
    for data in (prefix + frame, memoryview(prefix + frame + b"trailing bytes")):
        assert decode_at(data, len(prefix), offset) == (expected, None)
        assert decode_at(data, len(prefix), None) == (expected, None)
    assert expected.frame_size == len(frame)
    assert expected.next_offset == offset + count
    record, why = decode_at(frame, 0, offset + 1)
    assert record is None
    assert why == f"record holds offset {offset} where {offset + 1} was expected"


@given(fields, st.data())
def test_a_cut_record_is_incomplete(values: tuple, data: st.DataObject) -> None:
    frame = encode(*values)
    cut = data.draw(st.integers(0, len(frame) - 1), label="cut")
    assert decode_at(frame[:cut], 0, values[0]) == (None, "incomplete")


@given(fields, st.data())
def test_any_flipped_byte_is_caught(values: tuple, data: st.DataObject) -> None:
    frame = bytearray(encode(*values))
    at = data.draw(st.integers(0, len(frame) - 1), label="at")
    frame[at] ^= data.draw(st.integers(1, 255), label="xor")
    record, why = decode_at(bytes(frame), 0, None)
    assert record is None
    if at >= 4:  # the length is intact: the checksum catches it
        assert why == "checksum mismatch"
    else:
        assert why is not None


@given(st.lists(st.tuples(st.integers(1, 1000), st.binary(max_size=50)), max_size=8),
       st.integers(0, 1000), st.binary(max_size=60))
def test_scan_finds_every_record_and_stops_at_a_torn_tail(
        items: list[tuple[int, bytes]], first: int, tail: bytes) -> None:
    frames, records, offset = [], [], first
    for count, payload in items:
        frames.append(encode(offset, count, 1, 2, PayloadFormat.JSONL, payload))
        records.append(Record(offset, count, 1, 2, PayloadFormat.JSONL, payload))
        offset += count
    data = b"".join(frames)
    assert scan(data, first) == type(scan(data, first))(records, len(data), offset, None)
    # a torn record after them: the scan keeps every whole one
    torn = encode(offset, 1, 0, 0, PayloadFormat.RAW, tail)[: len(tail) + RECORD_OVERHEAD - 1]
    result = scan(data + torn, first)
    assert (result.records, result.valid_bytes, result.next_offset, result.problem) == \
        (records, len(data), offset, "incomplete" if torn else None)
    # without records kept it still measures the same
    assert scan(data + torn, first, keep_records=False).valid_bytes == len(data)


def test_impossible_headers_are_damage() -> None:
    no_events = encode(5, 0, 0, 0, PayloadFormat.RAW, b"x")
    assert decode_at(no_events, 0, 5) == (None, "impossible record header (count 0, format 0)")
    unknown_format = encode(5, 1, 0, 0, 9, b"x")
    assert decode_at(unknown_format, 0, 5) == \
        (None, "impossible record header (count 1, format 9)")
    too_short = HEADER.pack(BODY_HEAD.size - 1, 0) + bytes(BODY_HEAD.size)
    assert decode_at(too_short, 0, None) == \
        (None, f"impossible record length {BODY_HEAD.size - 1}")
    too_long = HEADER.pack(MAX_BODY + 1, 0)
    assert decode_at(too_long, 0, None) == (None, f"impossible record length {MAX_BODY + 1}")
