"""The pattern runtime against the brute-force reference (tests/pattern_reference.py) on random
patterns of 1-4 single variables with strict / relaxed / any-relaxed contiguity, negations
between variables, WITHIN, and AFTER MATCH NO SKIP, over random small streams."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st
from pattern_reference import (
    Condition,
    Gap,
    Negation,
    ReferencePattern,
    Variable,
    reference_matches,
)

import frys

STREAM = ("CREATE STREAM ev (id INT, name STRING, price FLOAT, ts TIMESTAMP)"
          " WITH (event_time = ts);\n")
NAMES = ("a", "b", "c")


@dataclass(frozen=True)
class ConditionSpec:
    """`name IN names` (when given) AND `price > <earlier>.price` (when given)."""

    names: tuple[str, ...] | None
    price_above: str | None

    def text(self, variable: str) -> str | None:
        parts = []
        if self.names is not None:
            if len(self.names) == 1:
                parts.append(f"{variable}.name = '{self.names[0]}'")
            else:
                parts.append(f"{variable}.name IN ({', '.join(repr(n) for n in self.names)})")
        if self.price_above is not None:
            parts.append(f"{variable}.price > {self.price_above}.price")
        return " AND ".join(parts) if parts else None

    def predicate(self) -> Condition:
        names, above = self.names, self.price_above

        def condition(event, bindings) -> bool:  # type: ignore[no-untyped-def]
            if names is not None and event["name"] not in names:
                return False
            return above is None or event["price"] > bindings[above]["price"]

        return condition


@dataclass(frozen=True)
class GapSpec:
    contiguity: str                       # before the next variable
    negation: ConditionSpec | None = None
    next_only: bool = False               # `a NOT x` rather than `a -> NOT x`
    before_not: str = ""                  # the arrow written before NOT ('' when next_only)


@dataclass(frozen=True)
class PatternSpec:
    conditions: tuple[ConditionSpec, ...]
    gaps: tuple[GapSpec, ...]
    within: int | None

    @property
    def variables(self) -> list[str]:
        return [f"v{i}" for i in range(len(self.conditions))]

    def text(self) -> str:
        tokens = ["v0"]
        for i, gap in enumerate(self.gaps):
            if gap.negation is not None:
                tokens += [gap.before_not, f"NOT x{i}"]
            tokens += [gap.contiguity, f"v{i + 1}"]
        pattern = " ".join(t for t in tokens if t)
        defines = [(v, c.text(v)) for v, c in zip(self.variables, self.conditions, strict=True)]
        defines += [(f"x{i}", g.negation.text(f"x{i}")) for i, g in enumerate(self.gaps)
                    if g.negation is not None]
        define = ", ".join(f"{v} AS {t}" for v, t in defines if t is not None)
        within = f" WITHIN {self.within}ms" if self.within is not None else ""
        return (f"PATTERN ({pattern}){within}" + (f" DEFINE {define}" if define else "")
                + " AFTER MATCH NO SKIP")

    def reference(self) -> ReferencePattern:
        variables = [Variable(v, c.predicate())
                     for v, c in zip(self.variables, self.conditions, strict=True)]
        gaps = [Gap(g.contiguity, None if g.negation is None else
                    Negation(f"x{i}", g.negation.predicate(), g.next_only))
                for i, g in enumerate(self.gaps)]
        return ReferencePattern(variables, gaps, self.within)


def conditions(earlier: list[str]) -> st.SearchStrategy[ConditionSpec]:
    names = st.one_of(st.none(), st.sampled_from(NAMES).map(lambda n: (n,)),
                      st.lists(st.sampled_from(NAMES), min_size=2, max_size=2, unique=True)
                      .map(tuple))
    above = st.none() if not earlier else st.one_of(st.none(), st.none(),
                                                     st.sampled_from(earlier))
    return st.builds(ConditionSpec, names, above)


@st.composite
def patterns(draw: st.DrawFn) -> PatternSpec:
    count = draw(st.integers(1, 4))
    variables = [f"v{i}" for i in range(count)]
    specs = tuple(draw(conditions(variables[:i])) for i in range(count))
    gaps = []
    for i in range(count - 1):
        contiguity = draw(st.sampled_from(["", "->", "->>"]))
        if draw(st.integers(0, 2)) == 0:
            next_only = draw(st.booleans())
            before = "" if next_only else draw(st.sampled_from(["->", "->", "->>"]))
            negation = draw(conditions(variables[:i + 1]))
            gaps.append(GapSpec(contiguity, negation, next_only, before))
        else:
            gaps.append(GapSpec(contiguity))
    within = draw(st.one_of(st.none(), st.integers(1, 12)))
    return PatternSpec(specs, tuple(gaps), within)


@st.composite
def event_lists(draw: st.DrawFn) -> list[dict[str, object]]:
    count = draw(st.integers(1, 12))
    events, ts = [], 0
    for i in range(count):
        ts += draw(st.sampled_from([0, 1, 1, 2, 3]))
        events.append({"id": i, "name": draw(st.sampled_from(NAMES)),
                       "price": float(draw(st.integers(1, 3))), "ts": ts})
    return events


def frys_matches(spec: PatternSpec, events: list[dict[str, object]]) -> list[tuple[int, ...]]:
    select = ", ".join(f"{v}.id AS {v}_id" for v in spec.variables)
    pipeline = frys.Pipeline.from_text(STREAM + f"SELECT {select} FROM ev {spec.text()};\n")
    pipeline.publish("ev", events)
    pipeline.finish()
    rows = pipeline.results("select_1")
    return [tuple(int(row[f"{v}_id"]) for v in spec.variables)
            for row in rows.iter_rows(named=True)]


def check(spec: PatternSpec, events: list[dict[str, object]]) -> None:
    expected = Counter(reference_matches(spec.reference(), events))
    actual = Counter(frys_matches(spec, events))
    assert actual == expected, (spec.text(), events, sorted(expected.elements()),
                                sorted(actual.elements()))


@settings(max_examples=300, deadline=None)
@given(patterns(), event_lists())
def test_runtime_matches_reference(spec: PatternSpec, events: list[dict[str, object]]) -> None:
    check(spec, events)
