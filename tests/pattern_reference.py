"""A brute-force reference matcher for a small fragment of frys patterns: the specification
that tests/test_pattern_reference.py checks the NFA runtime against.

The fragment (one partition, `AFTER MATCH NO SKIP`, so every match is reported and every event
may start one):

* a sequence of 1-4 single variables, no quantifiers, each with a condition given as a Python
  predicate `cond(event, bindings)`; `bindings` maps the names of the variables bound so far
  to their events (so `price > a.price` is `lambda e, b: e["price"] > b["a"]["price"]`);
* between two consecutive variables a contiguity, as written before the second one:
  `''` strict (`a b`: b is the very next event), `'->'` relaxed (`a -> b`: b is the FIRST later
  event that satisfies b's condition given the bindings), `'->>'` non-deterministic relaxed
  (`a ->> b`: any later event that satisfies it);
* optionally one negation between two variables:
  - `a NOT x <c> b` (Flink `notNext`): the event right after a exists and is not x; b is then
    found with contiguity <c> as if the NOT were not written, i.e. counting from that event
    (so `a NOT x -> b` lets b be the very next event, if it is not also an x);
  - `a -> NOT x <c> b` (Flink `notFollowedBy`; `a ->> NOT x` means the same): no x strictly
    between a and b, and b itself is not an x either, unless b is the pattern's last
    variable. That last clause is Flink's: the check for x is a stop state reached from b's
    state on the same event, and Flink's NFA drops every partial match that the event
    produces on a path that reaches a stop state, but reports a completed match it produces
    anyway (NFA.doProcess: final states go to potentialMatches before shouldDiscardPath is
    looked at). x's condition sees the bindings made before b;
* `WITHIN w`: the last event's time minus the first event's time is less than w.

Events are dicts with at least `id` and `ts`; they are matched in event-time order, equal times
in the order given (a stable sort).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Event = Mapping[str, Any]
Condition = Callable[[Event, Mapping[str, Event]], bool]


@dataclass(frozen=True)
class Variable:
    name: str
    condition: Condition


@dataclass(frozen=True)
class Negation:
    name: str
    condition: Condition
    next_only: bool  # True: `a NOT x` (notNext); False: `a -> NOT x` (notFollowedBy)


@dataclass(frozen=True)
class Gap:
    """What joins variable i to variable i+1: the contiguity written right before variable
    i+1, and an optional negation written between them."""

    contiguity: str  # '' | '->' | '->>'
    negation: Negation | None = None


@dataclass(frozen=True)
class ReferencePattern:
    variables: Sequence[Variable]
    gaps: Sequence[Gap]  # len(variables) - 1 of them
    within: int | None = None


def reference_matches(pattern: ReferencePattern, events: Sequence[Event]) -> list[tuple[int, ...]]:
    """Every match as the tuple of the ids of its variables' events, in pattern order."""
    assert len(pattern.gaps) == len(pattern.variables) - 1
    ordered = sorted(events, key=lambda e: e["ts"])  # stable: equal times keep arrival order
    matches: list[tuple[int, ...]] = []

    def extend(index: int, position: int, bindings: dict[str, Event]) -> None:
        """Variable `index` is bound to the event at `position`; bind the next ones."""
        if index == len(pattern.variables) - 1:
            first, last = bindings[pattern.variables[0].name], ordered[position]
            if pattern.within is None or last["ts"] - first["ts"] < pattern.within:
                matches.append(tuple(bindings[v.name]["id"] for v in pattern.variables))
            return
        following = pattern.variables[index + 1]
        is_last = index + 1 == len(pattern.variables) - 1
        for q in candidates(pattern.gaps[index], following, position, bindings, ordered,
                            is_last):
            extend(index + 1, q, {**bindings, following.name: ordered[q]})

    start = pattern.variables[0]
    for position, event in enumerate(ordered):
        if start.condition(event, {}):
            extend(0, position, {start.name: event})
    return matches


def candidates(gap: Gap, variable: Variable, position: int, bindings: Mapping[str, Event],
               ordered: Sequence[Event], is_last: bool) -> list[int]:
    """Positions the variable after `gap` may take, the previous one being at `position`."""
    negation = gap.negation
    if negation is not None and negation.next_only:
        after = position + 1
        if after >= len(ordered) or negation.condition(ordered[after], bindings):
            return []  # the event right after is an x (or there is none yet): no match
    found: list[int] = []
    for q in range(position + 1, len(ordered)):
        event = ordered[q]
        takes = variable.condition(event, bindings)
        if negation is not None and not negation.next_only and \
                negation.condition(event, bindings):
            # an x before the variable ends this partial match; only a last variable may
            # still take the x event itself (see the module docstring)
            if takes and is_last:
                found.append(q)
            break
        if takes:
            found.append(q)
            if gap.contiguity != "->>":
                break  # strict and relaxed take one event; any-relaxed takes every one
        elif gap.contiguity == "":
            break  # strict: only the very next event may be taken
    return found
