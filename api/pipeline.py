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
that do not fit the stream's schema go to `dead_letters` (with the reason) and are counted in
`stats`, they never raise; with `RuntimeOptions(allowed_paths=...)` the job touches no file
outside those folders (connectors/sandbox.py), and one that asks to is refused before
anything is opened; the results of every query's output stream (INSERT INTO targets
and bare SELECTs, named select_1, select_2, ... in file order) are kept for `results()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import polars as pl

from frys.connectors.broker import Broker
from frys.connectors.bus import Collector
from frys.connectors.decode import conform_frame, split_out_of_range
from frys.dsl import FrysError, compile_text
from frys.dsl.parser import read_job
from frys.dsl.planner import plan
from frys.engine.graph import JobGraph
from frys.engine.runtime import DEFAULT_OPTIONS, JobStats, Runtime, RuntimeOptions


class Pipeline:
    """A compiled .frysql job with its embedded runtime."""

    def __init__(self, text: str, source_name: str = "<query>",
                 base_dir: str | Path = ".",
                 clock: Callable[[], float] = time.monotonic,
                 options: RuntimeOptions = DEFAULT_OPTIONS,
                 bus: Broker | None = None) -> None:
        analyzed = compile_text(text, source_name, limits=options.limits)
        self.graph: JobGraph = plan(analyzed)
        # debug mode (options.trace_matches): why each partial match of a pattern ended
        self.match_traces: list[dict[str, object]] = []
        try:
            self.runtime = Runtime(self.graph, Path(base_dir), clock=clock, options=options,
                                   on_trace=self.match_traces.append, broker=bus)
        except FrysError as error:  # raised by an operator or a connector: show the line
            raise error.with_source(source_name, text) from None
        self._collectors: dict[str, Collector] = {
            node.output_topic: self.runtime.collect(node.output_topic)
            for node in self.graph.queries
        }

    @classmethod
    def from_text(cls, text: str, base_dir: str | Path = ".",
                  clock: Callable[[], float] = time.monotonic,
                  options: RuntimeOptions = DEFAULT_OPTIONS,
                  bus: Broker | None = None) -> Pipeline:
        """Compile .frysql text; `file:` and `wal:` paths resolve against `base_dir`;
        `clock` (monotonic seconds) measures streams' idle timeouts; `options` sets limits,
        debug modes and WAL settings; the streams become topics of `bus` (a new Broker
        unless given). With `options.allowed_paths` (e.g. `RuntimeOptions(allowed_paths=
        (base_dir,))`), a job naming a file that does not resolve inside those folders
        raises OutsideSandbox (a FrysError) before any file is opened."""
        return cls(text, "<query>", base_dir, clock, options, bus)

    @classmethod
    def from_file(cls, path: str | Path, options: RuntimeOptions = DEFAULT_OPTIONS,
                  bus: Broker | None = None) -> Pipeline:
        """Compile a .frysql file; `file:` and `wal:` paths resolve against the file's
        folder; the job's WAL consumers are named after the file."""
        path = Path(path)
        return cls(read_job(path), str(path), path.parent, options=options, bus=bus)

    @property
    def bus(self) -> Broker:
        """The broker whose topics are this job's streams: subscribe to them (wildcards,
        consumer groups) from other threads, or publish to them."""
        return self.runtime.broker

    @property
    def stats(self) -> JobStats:
        return self.runtime.stats

    def explain(self) -> str:
        """The operator graph as text."""
        return self.graph.explain()

    def publish(self, stream: str, events: Iterable[Mapping[str, object]] | pl.DataFrame
                ) -> None:
        """Publish events to a stream: dicts (validated like JSON input; misfits become dead
        letters) or a polars DataFrame whose columns are cast to the stream's schema."""
        decoder = self.runtime.decoders.get(stream)
        if decoder is None:
            raise KeyError(f"unknown stream {stream!r}; streams: {', '.join(self.runtime.topics)}")
        if isinstance(events, pl.DataFrame):
            batch, dead = split_out_of_range(conform_frame(events, decoder.columns, stream),
                                             stream, f"{stream}:api:frame")
            self.runtime.publish(stream, batch, dead)
            return
        records = [(dict(event), f"{stream}:api:{n}", repr(event))
                   for n, event in enumerate(events, start=1)]
        batch, dead = decoder.decode_records(records)
        self.runtime.publish(stream, batch, dead)

    def subscribe(self, stream: str, callback: Callable[[pl.DataFrame], None]) -> None:
        """Call `callback` with every batch published to `stream` from now on."""
        self.runtime.subscribe(stream, callback)

    def check_idle(self) -> None:
        """Let inputs silent for longer than their stream's `idle_timeout` stop holding its
        watermark back, so windows behind them fire. Every publish does this as well; call it
        from a timer when a long-lived pipeline may see no input at all for a while."""
        self.runtime.check_idle()

    def run(self) -> JobStats:
        """Read the job's bounded sources to their end, then finish."""
        return self.runtime.run()

    def finish(self) -> None:
        """End of input on every stream: all windows fire, sinks close."""
        self.runtime.finish()

    def results(self, stream: str) -> pl.DataFrame:
        """Everything a query has written to `stream` so far, as one DataFrame."""
        collector = self._collectors.get(stream)
        if collector is None:
            raise KeyError(f"no query writes to {stream!r}; query outputs: "
                           f"{', '.join(self._collectors) or '(none)'}")
        return collector.frame(self.runtime.topics[stream].schema)

