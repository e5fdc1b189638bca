"""The scale-out runtime: a job graph lowered onto a bytewax dataflow (docs/scale-out.md).

* `key_groups.py`: the fixed number of key groups rows are hashed into, stably;
* `inband.py`: the items that travel between steps (rows of one producer, its watermark,
  its end) and both halves of a channel's event time when it travels in-band: what a
  producer stamps on what it sends, what a step combines over its upstream producers;
* `group_step.py`: one query's key group as a bytewax stateful step, a QueryRunner
  (engine/query_runner.py) between in-band inputs and outputs;
* `io.py`: frys sources and sinks as bytewax partitioned sources and sinks;
* `lowering.py`: the JobGraph onto a bytewax Dataflow;
* `cluster.py`: running it: workers, local processes, several hosts, recovery.
"""
