"""The Python API: run .frysql jobs inside a program.

    import frys
    pipeline = frys.Pipeline.from_text('''
        CREATE STREAM trades (symbol STRING, price FLOAT, ts TIMESTAMP)
            WITH (event_time = ts);
        SELECT symbol, window_start, AVG(price) AS avg_price
        FROM trades GROUP BY symbol, TUMBLE(1 MINUTE);
    ''')
    pipeline.publish("trades", [{"symbol": "A", "price": 1.5, "ts": 1_700_000_000_000}])
    pipeline.finish()                      # end of input: every window fires
    print(pipeline.results("select_1"))    # a polars DataFrame

Guarantees: `publish` runs the batch through the whole graph before it returns; records
(dicts, or rows of a DataFrame, LazyFrame or Arrow table) that do not fit the stream's
schema go to `dead_letters` (with the reason and the position) and are counted in `stats`,
they never raise; with `RuntimeOptions(allowed_paths=...)` the job touches no file outside
those folders (connectors/sandbox.py), and one that asks to is refused before anything is
opened; the results of every query's output stream (INSERT INTO targets and bare SELECTs,
named select_1, select_2, ... in file order) are kept for `results()` as `keep_results`
says: all of them (the default), none, or the most recent N rows per stream. Input that
decodes but probably not as meant (a schema column no event has, epoch seconds read as
milliseconds) raises a DataWarning once per stream, also listed in `data_warnings`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from frys.checkpointing import JOB_FILE, Checkpointer, StopRequested, open_state, record_job
from frys.compiler import compile_text
from frys.connectors.broker import Broker
from frys.connectors.bus import Topic
from frys.connectors.decode import DataWarning, FrysWarning
from frys.connectors.subscriber import BatchSubscriber
from frys.dsl import FrysError
from frys.dsl.parser import read_job
from frys.engine.graph import JobGraph
from frys.engine.job_stats import JobStats
from frys.engine.planner import plan
from frys.engine.runtime import DEFAULT_OPTIONS, Runtime, RuntimeOptions

if TYPE_CHECKING:
    import pyarrow

    from frys.engine.checkpoint import Checkpoint, CheckpointStore

__all__ = ["DataWarning", "FrysWarning", "Pipeline", "ResultsNotKept"]


class ResultsNotKept(RuntimeError):
    """`results()` of a pipeline built with keep_results=False."""


class _Results(BatchSubscriber):
    """Keeps a query output's batches for `results()`: all of them (limit None), or the
    most recent `limit` rows, counting the rows it let go."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.batches: deque[pl.DataFrame] = deque()
        self.rows = 0  # rows in `batches`
        self.dropped = 0  # older rows let go to stay within `limit`

    def on_batch(self, topic: Topic, batch: pl.DataFrame) -> None:
        if not batch.height:
            return
        self.batches.append(batch)
        self.rows += batch.height
        if self.limit is None:
            return
        # whole batches first; the oldest kept batch is cut only when `frame()` asks
        while self.batches and self.rows - self.batches[0].height >= self.limit:
            oldest = self.batches.popleft()
            self.rows -= oldest.height
            self.dropped += oldest.height

    def frame(self, schema: Mapping[str, pl.DataType] | None) -> pl.DataFrame:
        if not self.batches:
            return pl.DataFrame(schema=schema)
        frame = pl.concat(self.batches, how="vertical")
        return frame if self.limit is None else frame.tail(self.limit)

    @property
    def dropped_rows(self) -> int:
        """Rows written to the stream that `frame()` no longer returns."""
        if self.limit is None:
            return 0
        # up to limit - 1 rows of the oldest kept batch are past the limit, not yet cut
        return self.dropped + max(0, self.rows - self.limit)


def _as_frame(events: object) -> pl.DataFrame | None:
    """`events` as a DataFrame if it is a table (polars, or Arrow through polars), None if it
    should be iterated as dicts. pyarrow is imported only when given an Arrow object, so
    programs that never use Arrow never pay for its import."""
    if isinstance(events, pl.DataFrame):
        return events
    if isinstance(events, pl.LazyFrame):
        return events.collect()
    package = type(events).__module__.partition(".")[0]
    if package == "pyarrow":
        import pyarrow as pa
        if isinstance(events, (pa.Table, pa.RecordBatch)):
            frame = pl.from_arrow(events)
            assert isinstance(frame, pl.DataFrame)  # a table or batch never gives a Series
            return frame
        raise TypeError(f"cannot publish a {type(events).__name__}: give a pyarrow Table "
                        "or RecordBatch")
    if package == "pandas":
        raise TypeError("cannot publish a pandas object: give pl.from_pandas(frame)")
    return None




def _idle_millis(value: float | str | None) -> int | None:
    """Pipeline.run's `exit_when_idle` in milliseconds: seconds, or a duration text."""
    if value is None:
        return None
    millis: int | None = None
    if isinstance(value, str):
        from frys.cli import positive_duration_ms

        millis = positive_duration_ms(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        millis = round(value * 1000)
    if millis is None or millis <= 0:
        raise ValueError(f"exit_when_idle must be a positive number of seconds or a "
                         f"duration such as '500ms' or '2s', not {value!r}")
    return millis


class Pipeline:
    """A compiled .frysql job with its embedded runtime. With `state=<folder>`, its
    checkpoints (`checkpoint()`) are kept there, and a pipeline built on the same folder,
    or `Pipeline.resume(folder)`, continues from the newest whole one."""

    def __init__(self, text: str, source_name: str = "<query>",
                 base_dir: str | Path = ".",
                 clock: Callable[[], float] = time.monotonic,
                 options: RuntimeOptions = DEFAULT_OPTIONS,
                 bus: Broker | None = None,
                 keep_results: bool | int = True,
                 state: str | Path | None = None,
                 from_savepoint: str | None = None) -> None:
        if isinstance(keep_results, bool):
            limit = None
        elif isinstance(keep_results, int) and keep_results > 0:
            limit = keep_results
        else:
            raise ValueError(f"keep_results must be True, False or a positive number of "
                             f"rows, got {keep_results!r}")
        analyzed = compile_text(text, source_name, limits=options.limits)
        self.graph: JobGraph = plan(analyzed)
        # debug mode (options.trace_matches): why each partial match of a pattern ended
        self.match_traces: list[dict[str, object]] = []
        self._store: CheckpointStore | None = None
        if from_savepoint is not None and state is None:
            raise ValueError("from_savepoint names a savepoint of a state folder: give "
                             "state=<folder> too")
        resume = (self._open_state(Path(state), text, from_savepoint) if state is not None
                  else None)
        try:
            self.runtime = Runtime(self.graph, Path(base_dir), clock=clock, options=options,
                                   on_trace=self.match_traces.append, broker=bus,
                                   resume=resume)
        except FrysError as error:  # raised by an operator or a connector: show the line
            self._release_state()
            raise error.with_source(source_name, text) from None
        except BaseException:  # a changed job whose state cannot be carried over, ...
            self._release_state()
            raise
        if state is not None:  # the job its state now belongs to (it may have changed)
            record_job(Path(state), text)
            assert self._store is not None
            Checkpointer(self._store, self.runtime).begin(resumed=resume is not None)
        # the runtime builds each stream's decoder; the stream's time_unit is set here
        # one store per query output (INSERT INTO targets and bare SELECTs); none when
        # results are not kept, so a long-running pipeline holds no output at all
        self._keep_results = keep_results
        self._results: dict[str, _Results] = {}
        if keep_results is not False:
            for node in self.graph.queries:
                if node.output_topic not in self._results:
                    store = self._results[node.output_topic] = _Results(limit)
                    self.runtime.topics[node.output_topic].subscribe(store)
        self._query_outputs = list(dict.fromkeys(n.output_topic for n in self.graph.queries))

    def _open_state(self, directory: Path, text: str, savepoint: str | None
                    ) -> Checkpoint | None:
        """Keep the job's checkpoints in `directory` (engine/checkpoint.py); what to
        continue from: savepoint `savepoint` if named, else the newest whole checkpoint
        there, if any (a restart after a crash or a stop): its sources then resume at their
        positions and its sinks are cut back to it. A changed job takes over the state of
        its queries by name (engine/upgrade.py; `runtime.upgrade_notes` says what)."""
        self._store, latest = open_state(directory, text, savepoint)
        return latest

    def _release_state(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def close(self) -> None:
        """Release the state folder (another process or pipeline may then open it) without
        a last checkpoint (`stop()` takes one). Nothing is lost: the next pipeline on the
        folder continues from its newest checkpoint."""
        self._release_state()

    @classmethod
    def resume(cls, state: str | Path, base_dir: str | Path = ".",
               options: RuntimeOptions = DEFAULT_OPTIONS, bus: Broker | None = None,
               keep_results: bool | int = True) -> Pipeline:
        """The pipeline whose state `state` keeps (a `Pipeline(..., state=...)` that was
        stopped or killed), continuing from its newest whole checkpoint: the job's text is
        kept in the folder beside its checkpoints."""
        state = Path(state)
        job = state / JOB_FILE
        if not job.is_file():
            raise FileNotFoundError(f"no job in {state}: not the state folder of a pipeline "
                                    f"(it holds {JOB_FILE} and its checkpoints)")
        return cls(job.read_text(), str(job), base_dir, options=options, bus=bus,
                   keep_results=keep_results, state=state)

    def savepoint(self, name: str) -> Path:
        """Write the job's state now as savepoint `name` in the state folder
        (`checkpoints/savepoints/<name>/`, never removed by retention); returns its folder.
        A changed job starts from it with `Pipeline(text, state=..., from_savepoint=name)`:
        each query's state is carried over where it still means the same (engine/
        upgrade.py)."""
        if self._store is None:
            raise ValueError("this pipeline keeps no state: build it with state=<folder>")
        if self.runtime.finished:
            raise ValueError("the pipeline's input has ended (run() or finish()): there is "
                             "no state left to save")
        return Checkpointer(self._store, self.runtime).savepoint(name)

    def stop(self) -> int:
        """Stop without ending the input: take a last checkpoint and release the state
        folder (another process may resume it). Open windows, partial matches and join
        state are not flushed: the pipeline that resumes continues them. Returns the
        checkpoint's id. Nothing may be published after it."""
        if self._store is None:
            raise ValueError("this pipeline keeps no state: build it with state=<folder>; "
                             "finish() ends the input instead")
        checkpoint_id = self.checkpoint()
        self._store.close()
        self._store = None
        return checkpoint_id

    def checkpoint(self) -> int:
        """Write the job's state now (a batch boundary: nothing is in flight between two
        publishes) to the state folder, atomically; returns the checkpoint's id. A pipeline
        resumed from it continues exactly as this one would: the same rows from the same
        further input (results already returned are not returned again)."""
        if self._store is None:
            raise ValueError("this pipeline keeps no state: build it with state=<folder>")
        if self.runtime.finished:
            raise ValueError("the pipeline's input has ended (run() or finish()): there is "
                             "no state left to checkpoint")
        return Checkpointer(self._store, self.runtime).checkpoint()

    @classmethod
    def from_text(cls, text: str, base_dir: str | Path = ".",
                  clock: Callable[[], float] = time.monotonic,
                  options: RuntimeOptions = DEFAULT_OPTIONS,
                  bus: Broker | None = None,
                  keep_results: bool | int = True) -> Pipeline:
        """Compile .frysql text; `file:` and `wal:` paths resolve against `base_dir`;
        `clock` (monotonic seconds) measures streams' idle timeouts; `options` sets limits,
        debug modes and WAL settings; the streams become topics of `bus` (a new Broker
        unless given). With `options.allowed_paths` (e.g. `RuntimeOptions(allowed_paths=
        (base_dir,))`), a job naming a file that does not resolve inside those folders
        raises OutsideSandbox (a FrysError) before any file is opened. `keep_results`: what
        `results()` keeps of each query's output: everything (True), nothing (False: rows
        only reach subscribers and sinks), or the most recent N rows per stream."""
        return cls(text, "<query>", base_dir, clock, options, bus, keep_results)

    @classmethod
    def from_file(cls, path: str | Path, options: RuntimeOptions = DEFAULT_OPTIONS,
                  bus: Broker | None = None, keep_results: bool | int = True) -> Pipeline:
        """Compile a .frysql file; `file:` and `wal:` paths resolve against the file's
        folder; the job's WAL consumers are named after the file. `keep_results` as for
        `from_text`."""
        path = Path(path)
        return cls(read_job(path), str(path), path.parent, options=options, bus=bus,
                   keep_results=keep_results)

    @property
    def bus(self) -> Broker:
        """The broker whose topics are this job's streams: subscribe to them (wildcards,
        consumer groups) from other threads, or publish to them."""
        return self.runtime.broker

    @property
    def stats(self) -> JobStats:
        return self.runtime.stats

    @property
    def data_warnings(self) -> list[str]:
        """Every DataWarning given so far (at most one per stream and kind), in stream
        order: the same messages `warnings` shows."""
        return [message for decoder in self.runtime.decoders.values()
                for message in decoder.warnings]

    def explain(self) -> str:
        """The operator graph as text."""
        return self.graph.explain()

    def publish(self, stream: str,
                events: Iterable[Mapping[str, object]] | pl.DataFrame | pl.LazyFrame
                | pyarrow.Table | pyarrow.RecordBatch) -> None:
        """Publish events to a stream: dicts (validated like JSON input), or a table — a
        polars DataFrame, a LazyFrame (collected) or a pyarrow Table or RecordBatch — whose
        columns are cast to the stream's schema (missing ones NULL, extra ones dropped).
        TIMESTAMP columns take datetimes, integers in the stream's time_unit, and strings
        (ISO-8601 or integer text) read as JSON input reads them. A row or dict that does
        not fit (a time that cannot be read or is out of range, no event time, a value of the
        wrong type) is a dead letter positioned `<stream>:api:<n>` (the 1-based dict) or
        `<stream>:api:frame row <n>` (the 0-based row); a table column of a type that cannot
        be cast at all raises TypeError."""
        decoder = self.runtime.decoders.get(stream)
        if decoder is None:
            raise KeyError(f"unknown stream {stream!r}; streams: {', '.join(self.runtime.topics)}")
        frame = _as_frame(events)
        if frame is not None:
            batch, dead = decoder.decode_frame(frame, f"{stream}:api:frame")
        else:
            records = [(dict(event), f"{stream}:api:{n}", repr(event))
                       for n, event in enumerate(events, start=1)]  # type: ignore[arg-type]
            batch, dead = decoder.decode_events(records)
        self.runtime.publish(stream, batch, dead)

    def subscribe(self, stream: str, callback: Callable[[pl.DataFrame], None]) -> None:
        """Call `callback` with every batch published to `stream` from now on."""
        self.runtime.subscribe(stream, callback)

    def check_idle(self) -> None:
        """Let inputs silent for longer than their stream's `idle_timeout` stop holding its
        watermark back, so windows behind them fire. Every publish does this as well; call it
        from a timer when a long-lived pipeline may see no input at all for a while."""
        self.runtime.check_idle()

    def run(self, checkpoint_every_events: int | None = None,
            exit_when_idle: float | str | None = None) -> JobStats:
        """Read the job's sources to their end, then finish (end of input: every window
        fires). With a state folder and `checkpoint_every_events`, a checkpoint is taken
        between two batches each time that many events have been read, so a run killed
        midway resumes from the last one (`Pipeline.resume`): its sources go on from their
        positions and its sinks are cut back to it, so the output ends as one
        uninterrupted run's.

        Growing sources (`file:...?follow=true`, `wal:`, `stdin:`) have no end: the run
        goes on until `exit_when_idle` (seconds, or a duration as the language writes one:
        "500ms", "2s") has passed with no source having anything new. Then, with a state
        folder, the run stops like `stop()`: a last checkpoint, no window fires, the
        state folder is released, and a pipeline resumed from it over the grown input
        continues the open windows; without one there is nothing to continue from, so the
        input ends there (windows fire, sources commit). `stats` is returned either way."""
        idle_ms = _idle_millis(exit_when_idle)
        if checkpoint_every_events is None and (idle_ms is None or self._store is None):
            return self.runtime.run(exit_when_idle_ms=idle_ms)
        if self._store is None:
            raise ValueError("this pipeline keeps no state: build it with state=<folder>")
        checkpointer = Checkpointer(self._store, self.runtime, checkpoint_every_events,
                                    exit_when_idle_ms=idle_ms)
        try:
            return self.runtime.run(after_batch=checkpointer.after_batch)
        except StopRequested:  # idle: stopped at its last checkpoint, as stop() does
            self._release_state()
            return self.runtime.stats

    def finish(self) -> None:
        """End of input on every stream: all windows fire, sinks close."""
        self.runtime.finish()

    def results(self, stream: str) -> pl.DataFrame:
        """What a query has written to `stream` so far, as one DataFrame: everything, or
        with keep_results=N the most recent N rows (`results_dropped` counts the others).
        Raises ResultsNotKept with keep_results=False, KeyError for a stream no query
        writes to."""
        if stream not in self._query_outputs:
            raise KeyError(f"no query writes to {stream!r}; query outputs: "
                           f"{', '.join(self._query_outputs) or '(none)'}")
        if self._keep_results is False:
            raise ResultsNotKept(
                f"results of {stream!r} were not kept: this pipeline was built with "
                "keep_results=False; subscribe to the stream (pipeline.subscribe) or give it "
                "a sink, or build it with keep_results=True or a number of rows")
        return self._results[stream].frame(self.runtime.topics[stream].schema)

    def results_dropped(self, stream: str) -> int:
        """How many rows written to `stream` `results()` no longer returns (keep_results=N
        keeps the most recent N); 0 when everything is kept."""
        self.results(stream)  # the same errors for a stream with no results
        return self._results[stream].dropped_rows
