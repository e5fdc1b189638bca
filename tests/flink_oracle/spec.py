"""The neutral case spec of the differential fuzzer: one pattern and its events, rendered both
as a frys `.frysql` job and as the JSON from which FlinkCepOracle.java builds a Flink 2.3
`Pattern` (and, for a human, as that Pattern's Java code).

The translation table (frys -> Flink 2.3) lives here and only here; README.md states it.

    a b / a -> b / a ->> b        .next("b") / .followedBy("b") / .followedByAny("b")
    a NOT x b / a -> NOT x -> b    .notNext("x") / .notFollowedBy("x")
    b+ b+?                        .oneOrMore().greedy() / .oneOrMore()
    b* b*?                        .oneOrMore().optional().greedy() / .oneOrMore().optional()
    b? b??                        .optional()
    b{n}                          .times(n)
    b{n,} b{n,}?                  .timesOrMore(n)[.greedy()]          ({0,} is *)
    b{n,m} b{n,m}?                .times(n, m)[.greedy()]    ({0,m}: .times(1, m).optional())
    greedy on a group or on a loop repeated with ANY: no .greedy() (Flink refuses it there;
                                  docs/language.md: frys reads both as reluctant)
    loop repetitions              .consecutive() (strict) / default (relaxed) / .allowCombinations()
                                  from the keyword after the quantifier (STRICT/RELAXED/ANY), else
                                  from the contiguity written before the element; the first element
                                  of a pattern: strict, unless a leading arrow (-> relaxed, ->> any)
    (x -> y)+?                    .followedBy(Pattern.begin("x").followedBy("y")).oneOrMore()
    DEFINE b AS c UNTIL s         .where(c) ... .until(s)
    WITHIN t                      .within(t) on the last element
    WITHIN t BETWEEN EVENTS       .within(t, PREVIOUS_AND_CURRENT) on every element
    AFTER MATCH ...               Pattern.begin(first, AfterMatchSkipStrategy.xxx())

Per element, the Flink calls come in one fixed order (the driver follows it too): contiguity,
where, quantifier, optional, consecutive/allowCombinations, greedy, until, within.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Union, cast

STREAM_COLUMNS = "id INT, k STRING, name STRING, price FLOAT, ts TIMESTAMP"

# ---------------------------------------------------------------------------- conditions

Op = Literal["true", "and", "or", "not", "cmp", "in", "ref"]


@dataclass(frozen=True)
class Cond:
    """A DEFINE (or UNTIL) condition of one variable, as a small tree.

    cmp: `v.<field> <cmp> <value>`; in: `v.<field> IN (<values>)`;
    ref: `v.<field> <cmp> <var>.<ref_field>` (the last event bound to an earlier variable)."""

    op: Op
    args: tuple[Cond, ...] = ()
    field: str = ""
    cmp: str = ""
    value: str | float | None = None
    values: tuple[str | float, ...] = ()
    var: str = ""
    ref_field: str = ""

    def refs(self) -> set[str]:
        """The other variables this condition reads."""
        own = {self.var} if self.op == "ref" else set()
        return own.union(*(a.refs() for a in self.args))

    def to_json(self) -> dict[str, object]:
        if self.op in ("and", "or"):
            return {"op": self.op, "args": [a.to_json() for a in self.args]}
        if self.op == "not":
            return {"op": "not", "arg": self.args[0].to_json()}
        if self.op == "cmp":
            return {"op": "cmp", "field": self.field, "cmp": self.cmp, "value": self.value}
        if self.op == "in":
            return {"op": "in", "field": self.field, "values": list(self.values)}
        if self.op == "ref":
            return {"op": "ref", "field": self.field, "cmp": self.cmp, "var": self.var,
                    "refField": self.ref_field}
        return {"op": "true"}

    def frysql(self, v: str) -> str:
        if self.op == "true":
            return "TRUE"
        if self.op in ("and", "or"):
            joined = f" {self.op.upper()} ".join(a.frysql(v) for a in self.args)
            return f"({joined})"
        if self.op == "not":
            return f"NOT ({self.args[0].frysql(v)})"
        if self.op == "cmp":
            return f"{v}.{self.field} {self.cmp} {_literal(self.value)}"
        if self.op == "in":
            return f"{v}.{self.field} IN ({', '.join(_literal(x) for x in self.values)})"
        return f"{v}.{self.field} {self.cmp} {self.var}.{self.ref_field}"

    def java(self) -> str:
        """The condition as a Java boolean expression over `e` (the event) and `ctx`."""
        if self.op == "true":
            return "true"
        if self.op in ("and", "or"):
            joined = (" && " if self.op == "and" else " || ").join(a.java() for a in self.args)
            return f"({joined})"
        if self.op == "not":
            return f"!({self.args[0].java()})"
        if self.op == "cmp":
            return _java_cmp(f"e.{self.field}", self.cmp, self.value)
        if self.op == "in":
            return "(" + " || ".join(_java_cmp(f"e.{self.field}", "=", x)
                                     for x in self.values) + ")"
        other = f'last(ctx, "{self.var}").{self.ref_field}'
        if self.field == "name":
            return _java_string_cmp(f"e.{self.field}", self.cmp, other)
        return f"e.{self.field} {_JAVA_OPS[self.cmp]} {other}"


_JAVA_OPS = {"=": "==", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _literal(value: object) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _java_cmp(left: str, cmp: str, value: object) -> str:
    if isinstance(value, str):
        return _java_string_cmp(left, cmp, json.dumps(value))
    return f"{left} {_JAVA_OPS[cmp]} {_literal(value)}"


def _java_string_cmp(left: str, cmp: str, right: str) -> str:
    if cmp == "=":
        return f"{left}.equals({right})"
    if cmp == "<>":
        return f"!{left}.equals({right})"
    return f"{left}.compareTo({right}) {_JAVA_OPS[cmp]} 0"


TRUE = Cond("true")

# ---------------------------------------------------------------------------- pattern

Contiguity = Literal["strict", "relaxed", "any"]
Inner = Literal["STRICT", "RELAXED", "ANY"]

_ARROWS: dict[str, str] = {"strict": "", "relaxed": "-> ", "any": "->> "}
_INNER_OF: dict[str, Inner] = {"strict": "STRICT", "relaxed": "RELAXED", "any": "ANY"}


@dataclass(frozen=True)
class Quant:
    """A quantifier as written in frys: kind `+ * ? {n} {n,} {n,m}`, a trailing `?` (reluctant),
    and optionally an explicit repetition keyword (STRICT/RELAXED/ANY) after it."""

    kind: Literal["+", "*", "?", "{n}", "{n,}", "{n,m}"]
    n: int = 0
    m: int = 0
    reluctant: bool = False
    inner: Inner | None = None

    @property
    def repeats(self) -> bool:
        return self.kind != "?"

    @property
    def can_repeat(self) -> bool:
        """More than one repetition possible ({1}, {1,1}, {0,1} cannot: frys refuses a
        repetition keyword on them)."""
        if self.kind == "{n}":
            return self.n > 1
        if self.kind == "{n,m}":
            return self.m > 1
        return self.repeats

    @property
    def varies(self) -> bool:
        """Can the number of repetitions vary (a loop, or {n,m} with n < m)? Only then does
        greedy mean anything, and only then does Flink's translation carry .greedy() (on
        times(n, n) it would only make Flink refuse an optional element after it)."""
        if self.kind in ("+", "*", "{n,}"):
            return True
        return self.kind == "{n,m}" and max(self.n, 1) < self.m

    @property
    def unbounded(self) -> bool:
        return self.kind in ("+", "*", "{n,}")

    @property
    def optional(self) -> bool:
        return (self.kind in ("*", "?") or (self.kind in ("{n,}", "{n,m}") and self.n == 0))

    def frysql(self) -> str:
        text = {"+": "+", "*": "*", "?": "?", "{n}": f"{{{self.n}}}",
                "{n,}": f"{{{self.n},}}", "{n,m}": f"{{{self.n},{self.m}}}"}[self.kind]
        if self.reluctant:
            text += "?"
        if self.inner is not None:
            text += f" {self.inner}"
        return text

    def flink(self, default_inner: Inner, group: bool = False) -> dict[str, object]:
        """The Flink quantifier: loop, from, to, optional, inner, greedy."""
        inner = self.inner or default_inner
        q: dict[str, object] = {"loop": "one", "from": 0, "to": 0, "optional": False,
                                "greedy": False, "inner": "relaxed"}
        if self.kind == "?":
            q["optional"] = True
            return q
        q["inner"] = {"STRICT": "consecutive", "RELAXED": "relaxed",
                      "ANY": "allowCombinations"}[inner]
        greedy = not self.reluctant and not group and inner != "ANY" and self.varies
        if self.kind == "+":
            q.update(loop="oneOrMore", greedy=greedy)
        elif self.kind == "*" or (self.kind == "{n,}" and self.n == 0):
            q.update(loop="oneOrMore", optional=True, greedy=greedy)
        elif self.kind == "{n,}":
            q.update(loop="timesOrMore", greedy=greedy, **{"from": self.n})
        elif self.kind == "{n}":
            q.update(loop="times", **{"from": self.n})
        else:  # {n,m}
            q.update(loop="timesRange", greedy=greedy, optional=self.n == 0,
                     **{"from": max(self.n, 1), "to": self.m})
        return q


@dataclass(frozen=True)
class Var:
    name: str
    quant: Quant | None = None
    negated: bool = False


@dataclass(frozen=True)
class Group:
    items: tuple[Item, ...]
    quant: Quant | None = None


@dataclass(frozen=True)
class Item:
    """An element with the contiguity written before it (ignored for a chain's first item,
    whose leading arrow is the chain's `lead`)."""

    element: Union[Var, Group]  # noqa: UP007 (a forward reference)
    contiguity: Contiguity = "strict"


@dataclass(frozen=True)
class Within:
    ms: int
    between: bool = False  # WITHIN t BETWEEN EVENTS


SkipKind = Literal["no_skip", "skip_to_next", "skip_past_last", "skip_to_first", "skip_to_last"]


@dataclass(frozen=True)
class Skip:
    kind: SkipKind
    var: str = ""

    def frysql(self) -> str:
        return {"no_skip": "AFTER MATCH NO SKIP",
                "skip_to_next": "AFTER MATCH SKIP TO NEXT EVENT",
                "skip_past_last": "AFTER MATCH SKIP PAST LAST EVENT",
                "skip_to_first": f"AFTER MATCH SKIP TO FIRST {self.var}",
                "skip_to_last": f"AFTER MATCH SKIP TO LAST {self.var}"}[self.kind]

    def java(self) -> str:
        return {"no_skip": "AfterMatchSkipStrategy.noSkip()",
                "skip_to_next": "AfterMatchSkipStrategy.skipToNext()",
                "skip_past_last": "AfterMatchSkipStrategy.skipPastLastEvent()",
                "skip_to_first": f'AfterMatchSkipStrategy.skipToFirst("{self.var}")',
                "skip_to_last": f'AfterMatchSkipStrategy.skipToLast("{self.var}")'}[self.kind]


@dataclass(frozen=True)
class Pattern:
    items: tuple[Item, ...]
    skip: Skip
    lead: Contiguity | None = None  # a leading arrow: `-> a+ b` (relaxed), `->> a+ b` (any)
    defines: tuple[tuple[str, Cond], ...] = ()  # in DEFINE order
    untils: tuple[tuple[str, Cond], ...] = ()
    within: Within | None = None
    partition: bool = False

    # ---- structure

    def variables(self) -> list[Var]:
        """Every variable, in written order (groups flattened)."""
        out: list[Var] = []

        def walk(items: tuple[Item, ...]) -> None:
            for it in items:
                if isinstance(it.element, Group):
                    walk(it.element.items)
                else:
                    out.append(it.element)
        walk(self.items)
        return out

    def output_variables(self) -> list[str]:
        return [v.name for v in self.variables() if not v.negated]

    def condition(self, name: str) -> Cond | None:
        return dict(self.defines).get(name)

    def until(self, name: str) -> Cond | None:
        return dict(self.untils).get(name)

    # ---- frys

    def frysql_pattern(self) -> str:
        """`PATTERN (...)` and everything after it up to the skip strategy."""
        parts = [f"PATTERN ({_ARROWS[self.lead] if self.lead else ''}"
                 f"{_items_frysql(self.items)})"]
        if self.within is not None:
            parts.append(f"WITHIN {self.within.ms} MILLISECONDS"
                         + (" BETWEEN EVENTS" if self.within.between else ""))
        defines = []
        untils = dict(self.untils)
        for name, cond in self.defines:
            text = f"{name} AS {cond.frysql(name)}"
            if name in untils:
                text += f" UNTIL {untils[name].frysql(name)}"
            defines.append(text)
        if defines:
            parts.append("DEFINE " + ",\n       ".join(defines))
        parts.append(self.skip.frysql())
        return "\n".join(parts)

    def frysql(self, source: str | None = None) -> str:
        """The whole job: the stream (from `source`, e.g. 'file:events.jsonl', if given) and
        one query selecting each non-negated variable's event ids."""
        options = "event_time = ts" + (f", source = '{source}'" if source else "")
        outputs = ", ".join(f"ARRAY_AGG({v}.id) AS {v}_ids" for v in self.output_variables())
        partition = "PARTITION BY k\n" if self.partition else ""
        return (f"CREATE STREAM ev ({STREAM_COLUMNS}) WITH ({options});\n"
                f"SELECT {outputs}\nFROM ev\n{partition}{self.frysql_pattern()};\n")

    # ---- Flink

    def flink_json(self) -> dict[str, object]:
        within = None
        if self.within is not None:
            within = {"ms": self.within.ms,
                      "kind": "between" if self.within.between else "first_last"}
        return {"skip": {"kind": self.skip.kind, "var": self.skip.var},
                "within": within,
                "elements": self._flink_items(self.items, _INNER_OF[self.lead or "strict"])}

    def _flink_items(self, items: tuple[Item, ...], first_inner: Inner) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for i, it in enumerate(items):
            el = it.element
            default_inner = first_inner if i == 0 else _INNER_OF[it.contiguity]
            if i == 0:
                contiguity = "begin"
            elif isinstance(el, Var) and el.negated:
                contiguity = {"strict": "notNext", "relaxed": "notFollowedBy"}[it.contiguity]
            else:
                contiguity = {"strict": "next", "relaxed": "followedBy",
                              "any": "followedByAny"}[it.contiguity]
            node: dict[str, object] = {"contiguity": contiguity}
            if isinstance(el, Group):
                # a group's first element repeats strictly, as a pattern's first element does
                node.update(kind="group", elements=self._flink_items(el.items, "STRICT"))
            else:
                cond, until = self.condition(el.name), self.until(el.name)
                node.update(kind="var", name=el.name,
                            cond=cond.to_json() if cond else None,
                            until=until.to_json() if until else None)
            node["quant"] = (el.quant.flink(default_inner, isinstance(el, Group))
                             if el.quant else None)
            out.append(node)
        return out

    def java(self) -> str:
        """The Flink Pattern as Java source, for a human reading a reproduction."""
        elements = cast(list[dict[str, Any]], self.flink_json()["elements"])
        body = self._java_items(elements, self.skip.java())
        within = ""
        if self.within is not None and not self.within.between:
            within = f"\n        .within(Duration.ofMillis({self.within.ms}))"
        return ("// Event: {long id; String k; String name; double price; long ts}\n"
                "// cond(...): an IterativeCondition<Event> from a lambda (e, ctx) -> boolean;\n"
                "// last(ctx, \"a\"): the last event of ctx.getEventsForPattern(\"a\").\n"
                f"Pattern<Event, Event> pattern = {body}{within};\n"
                f"// {'keyed by k, ' if self.partition else ''}events in timestamp order; "
                "advanceTime(ts) before each timestamp's events, advanceTime(Long.MAX_VALUE) "
                "at the end\n")

    def _java_items(self, elements: list[dict[str, Any]], skip: str | None,
                    indent: str = "        ") -> str:
        within = ""
        if self.within is not None and self.within.between:
            within = (f"\n{indent}.within(Duration.ofMillis({self.within.ms}), "
                      "WithinType.PREVIOUS_AND_CURRENT)")
        text = ""
        for i, node in enumerate(elements):
            if node["kind"] == "group":
                target = self._java_items(node["elements"], None, indent + "    ")
            else:
                target = f'"{node["name"]}"'
            if i == 0:
                args = target + (f", {skip}" if skip else "")
                text += f"Pattern.begin({args})"
            else:
                text += f"\n{indent}.{node['contiguity']}({target})"
            if node.get("cond"):
                text += f"\n{indent}.where(cond((e, ctx) -> {_cond_of(node['cond']).java()}))"
            q = node.get("quant")
            if isinstance(q, dict):
                loop = q["loop"]
                if loop == "oneOrMore":
                    text += ".oneOrMore()"
                elif loop == "times":
                    text += f".times({q['from']})"
                elif loop == "timesRange":
                    text += f".times({q['from']}, {q['to']})"
                elif loop == "timesOrMore":
                    text += f".timesOrMore({q['from']})"
                if q["optional"]:
                    text += ".optional()"
                if loop != "one" and q["inner"] == "consecutive":
                    text += ".consecutive()"
                elif loop != "one" and q["inner"] == "allowCombinations":
                    text += ".allowCombinations()"
                if q["greedy"]:
                    text += ".greedy()"
            if node.get("until"):
                text += f"\n{indent}.until(cond((e, ctx) -> {_cond_of(node['until']).java()}))"
            text += within
        return text


def _cond_of(data: object) -> Cond:
    assert isinstance(data, dict)
    op = data["op"]
    if op in ("and", "or"):
        return Cond(op, tuple(_cond_of(a) for a in data["args"]))
    if op == "not":
        return Cond("not", (_cond_of(data["arg"]),))
    if op == "cmp":
        return Cond("cmp", field=data["field"], cmp=data["cmp"], value=data["value"])
    if op == "in":
        return Cond("in", field=data["field"], values=tuple(data["values"]))
    if op == "ref":
        return Cond("ref", field=data["field"], cmp=data["cmp"], var=data["var"],
                    ref_field=data["refField"])
    return TRUE


def _items_frysql(items: tuple[Item, ...]) -> str:
    out = []
    for i, it in enumerate(items):
        arrow = "" if i == 0 else _ARROWS[it.contiguity]
        el = it.element
        if isinstance(el, Group):
            text = f"({_items_frysql(el.items)})"
        else:
            text = ("NOT " if el.negated else "") + el.name
        if el.quant is not None:
            text += el.quant.frysql()
        out.append(arrow + text)
    return " ".join(out)


# ---------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Event:
    id: int       # unique, the arrival index
    k: str        # partition key
    name: str
    price: float
    ts: int       # epoch milliseconds, nondecreasing in arrival order

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "k": self.k, "name": self.name, "price": self.price,
                "ts": self.ts}


@dataclass(frozen=True)
class Case:
    seed: int
    index: int
    pattern: Pattern
    events: tuple[Event, ...]
    notes: tuple[str, ...] = field(default=())  # e.g. "probe: optional after greedy"

    @property
    def key(self) -> str:
        return f"{self.seed}-{self.index}"

    def with_events(self, events: tuple[Event, ...]) -> Case:
        return Case(self.seed, self.index, self.pattern, events, self.notes)

    def flink_json(self) -> dict[str, object]:
        """The driver's input line. `flush_held`: at the end of the input, Flink also emits
        the matches its skip strategy still holds back (through its own pruning), as frys
        does at the end of input (a documented departure: without WITHIN, Flink holds them
        for ever); the result's `held` still counts them."""
        return {"id": self.key, "pattern": self.pattern.flink_json(),
                "partition": self.pattern.partition, "flush_held": True,
                "events": [e.to_json() for e in self.events]}

    def events_jsonl(self) -> str:
        return "".join(json.dumps(e.to_json()) + "\n" for e in self.events)
