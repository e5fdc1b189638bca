"""Continuing a changed job from a checkpoint (or savepoint) of the job it was: its state
is matched query by query, by name (engine/query_runner.py `query_names`: a `-- name:`
line, else the output stream), and each query's state is judged by a *state signature*,
the parts of its plan that decide what its state means.

* A query whose signature is unchanged takes its state over. For a window aggregate the
  signature is the window (kind, size, slide, gap or rows, event time), the input streams,
  the GROUP BY keys and the aggregates: WHERE, HAVING, the SELECT list, lateness and the
  EMIT mode may change (a changed filter applies to the events from now on). A stateless
  query (filter, project) keeps only its inputs' watermark: any change but its inputs is
  compatible. Patterns and joins keep their state only when their whole plan is unchanged.
* A window aggregate (not a count window) whose only change is its aggregates takes over
  the open windows: kept aggregates keep their partials, added ones start empty in every
  open window (they count the events from now on), removed ones are dropped.
* A query the checkpoint does not know starts empty; a query the job no longer has is
  dropped, with a warning.
* Anything else is incompatible: refused, naming the query and the reason, unless the run
  allows dropping state (`--allow-state-drop`), when that query starts empty, with a
  warning.

Streams are matched by name too: each keeps its event time (watermark, per producer by
producer name; new producers start as in a new job); sources and sinks by stream and URI
(a new source reads from its start, a new sink starts empty).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from frys.dsl.printer import expr_to_sql, interval_text
from frys.engine.graph import (
    CountWindowSpec,
    FilterProjectSpec,
    HopSpec,
    QueryNode,
    RunningAggregateSpec,
    SessionSpec,
    TumbleSpec,
    aggregate_text,
)

Signature = dict[str, object]

# the signature's fields of a window aggregate, in the order a refusal names them
_AGGREGATE_FIELDS = ("operator", "inputs", "window", "keys", "aggregates")


def state_signature(node: QueryNode) -> Signature:
    """What a query's state depends on, as plain data (kept in each checkpoint)."""
    spec = node.operator
    inputs = list(node.inputs)
    if isinstance(spec, FilterProjectSpec):
        return {"operator": "filter", "inputs": inputs}
    if isinstance(spec, RunningAggregateSpec | TumbleSpec | HopSpec | SessionSpec
                  | CountWindowSpec):
        clauses = spec.clauses
        if isinstance(spec, TumbleSpec):
            kind, window = "tumbling window", f"TUMBLE({interval_text(spec.size_ms)})"
        elif isinstance(spec, HopSpec):
            kind, window = "hopping window", (f"HOP({interval_text(spec.size_ms)}, "
                                              f"{interval_text(spec.slide_ms)})")
        elif isinstance(spec, SessionSpec):
            kind, window = "session window", f"SESSION({interval_text(spec.gap_ms)})"
        elif isinstance(spec, CountWindowSpec):
            kind, window = "count window", f"ROWS({spec.rows}, {spec.rows_slide})"
        else:
            kind, window = "running aggregate", "no window"
        if clauses.event_time is not None:
            window += f" on {clauses.event_time}"
        return {"operator": kind, "inputs": inputs, "window": window,
                "keys": [f"{expr_to_sql(expr)} AS {name}" for name, expr in clauses.group_keys],
                "aggregates": [aggregate_text(a) + (f" ({a.parameter})" if a.parameter
                                                    is not None else "")
                               for a in clauses.aggregates]}
    return {"operator": _KINDS.get(type(spec).__name__, type(spec).__name__), "inputs": inputs,
            "plan": spec.describe()}


# how a refusal names the other operators
_KINDS = {"PatternMatchSpec": "pattern", "IntervalJoinSpec": "interval join",
          "WindowJoinSpec": "window join", "TableJoinSpec": "table join",
          "TableScanSpec": "table scan"}


@dataclass
class UpgradePlan:
    """What each query of the new job does with the checkpoint's state: `carried` (name ->
    None: taken over as it is; a list: the old index of each aggregate, None for an added
    one), `fresh` (starts empty), `dropped` (the checkpoint's state not used: name ->
    reason), and the `notes` a run prints about it."""

    carried: dict[str, list[int | None] | None] = field(default_factory=dict)
    fresh: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class StateNotCompatible(ValueError):
    """A changed job cannot take over some query's state; each problem names the query."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(
            "the job changed, and its state cannot be carried over for "
            + "; ".join(self.problems)
            + " (run with --allow-state-drop to start those queries empty, or keep them as "
              "they were)")


def plan_upgrade(old: Mapping[str, Signature], new: Mapping[str, Signature],
                 allow_state_drop: bool = False) -> UpgradePlan:
    """Match the checkpoint's queries (`old`: name -> signature) with the job's (`new`).
    Raises StateNotCompatible naming every query whose state cannot be carried, unless
    `allow_state_drop`."""
    plan = UpgradePlan()
    problems = []
    for name, signature in new.items():
        before = old.get(name)
        if before is None:
            plan.fresh.append(name)
            plan.notes.append(f"query {name} is new: it starts empty")
            continue
        if before == signature:
            plan.carried[name] = None
            continue
        if before["operator"] == "filter":  # it had no state but its inputs' watermark
            plan.fresh.append(name)
            continue
        reason = _incompatibility(before, signature)
        if reason is None:  # only its aggregates changed
            kept = list(before["aggregates"])  # type: ignore[call-overload]
            aggregates: list[str] = signature["aggregates"]  # type: ignore[assignment]
            old_of = [kept.index(a) if a in kept else None for a in aggregates]
            plan.carried[name] = old_of
            added = [a for a, o in zip(aggregates, old_of, strict=True) if o is None]
            removed = [a for a in kept if a not in aggregates]
            if added:
                plan.notes.append(f"query {name}: {', '.join(added)} start empty in the "
                                  "windows already open")
            if removed:
                plan.notes.append(f"query {name}: {', '.join(removed)} dropped")
            continue
        if allow_state_drop:
            plan.dropped[name] = reason
            plan.fresh.append(name)
            plan.warnings.append(f"query {name}: {reason}: its state is dropped "
                                 "(--allow-state-drop), it starts empty")
        else:
            problems.append(f"query {name} ({reason})")
    if problems:
        raise StateNotCompatible(problems)
    for name in old:
        if name not in new:
            plan.dropped[name] = "the job no longer has it"
            plan.warnings.append(f"query {name} is gone from the job: its state is dropped")
    return plan


def _incompatibility(before: Signature, after: Signature) -> str | None:
    """Why a query's state cannot be carried from `before` to `after`; None when only a
    window aggregate's aggregates differ (carried by GroupedAggregation.with_aggregates)."""
    if before["operator"] != after["operator"]:
        return f"its operator changed: {before['operator']} -> {after['operator']}"
    if "plan" in after:
        changed = [line for line in after["plan"]  # type: ignore[attr-defined]
                   if line not in before.get("plan", ())]  # type: ignore[operator]
        detail = f": now {changed[0]}" if changed else ""
        if before["inputs"] != after["inputs"]:
            detail = f": its inputs were {', '.join(before['inputs'])}"  # type: ignore[arg-type]
        return f"its {after['operator']} plan changed{detail}"
    for name in _AGGREGATE_FIELDS:
        if name != "aggregates" and before.get(name) != after.get(name):
            return f"its {name} changed: {_text(before.get(name))} -> {_text(after.get(name))}"
    if after["operator"] == "count window":
        return ("a count window's aggregates changed (it buffers its events as the old "
                "aggregates' inputs)")
    return None


def _text(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    return str(value)


def remap_clock(old: Mapping[str, object], old_producers: Sequence[str],
                fresh: Mapping[str, object], producers: Sequence[str]) -> dict[str, object]:
    """A topic's event-time snapshot (engine.channel.ChannelClock.snapshot) of the old job,
    rewritten for the new job's producers (by name, `producers`; `fresh`: the new topic's
    own snapshot, what a producer the old job did not have starts from)."""
    where = {name: index for index, name in enumerate(old_producers)}

    def per_producer(old_values: Sequence[object], fresh_values: Sequence[object]
                     ) -> list[object]:
        return [old_values[where[name]] if name in where else value
                for name, value in zip(producers, fresh_values, strict=True)]

    old_combined: Mapping[str, object] = old["combined"]  # type: ignore[assignment]
    fresh_combined: Mapping[str, object] = fresh["combined"]  # type: ignore[assignment]
    combined = {"current": old_combined["current"],
                **{key: per_producer(old_combined[key], fresh_combined[key])  # type: ignore[arg-type]
                   for key in ("watermarks", "holding", "done")}}
    return {"combined": combined, "ended": old["ended"],
            **{key: per_producer(old[key], fresh[key])  # type: ignore[arg-type]
               for key in ("latest_event_ms", "offered")}}
