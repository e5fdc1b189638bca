"""Random cases for the differential fuzzer, reproducible from (seed, index) alone:
`generate_case(seed, index)` seeds its own random.Random with both, so one case can be
regenerated without the ones before it.

A case is 1-5 pattern elements (variables with every quantifier, greedy and reluctant, explicit
repetition keywords, groups nested at most twice, NOT in the middle and at the end), DEFINE
conditions over name and price (and, with `iterative`, against an earlier variable's event),
UNTIL, WITHIN (both kinds), one of the five skip strategies, PARTITION BY sometimes; and 4-14
events over a small alphabet, so that matches happen.

What Flink 2.3 refuses at compile time (and two constructs it crashes on with a
NullPointerException: a NOT after a group that can match nothing, an optional element right
after a NOT) is mostly steered around (`flink_fixups`); a small share of cases
(`Features.probes`) keeps one such construct on purpose, since a refusal on one side only is a
difference too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import cast

from .spec import (
    Case,
    Cond,
    Contiguity,
    Event,
    Group,
    Inner,
    Item,
    Pattern,
    Quant,
    Skip,
    Var,
    Within,
)

ALPHABET = ("a", "b", "c", "d", "x")
VAR_NAMES = "abcdefgh"
NEG_NAMES = "xyzw"
CMPS = ("=", "<>", "<", "<=", ">", ">=")
_INNER: dict[str, Inner] = {"strict": "STRICT", "relaxed": "RELAXED", "any": "ANY"}


@dataclass(frozen=True)
class Features:
    explicit_inner: bool = True     # `b+ STRICT|RELAXED|ANY`, `(x y)+? RELAXED`
    iterative: bool = True          # `v.price > a.price` (an earlier variable's event)
    groups: bool = True
    negation: bool = True
    not_next_at_end: bool = True    # `a NOT x` ending a pattern (no WITHIN needed)
    probes: float = 0.03            # share of cases that keep one construct Flink refuses


DEFAULT_FEATURES = Features()


def _weighted(rng: random.Random, table: dict[str, float]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


# a mutable draft of an element, frozen into spec objects at the end
@dataclass
class _El:
    kind: str                       # "var" | "group" | "not"
    name: str = ""
    quant: Quant | None = None
    contiguity: Contiguity = "strict"
    items: list[_El] | None = None


class _Generator:
    def __init__(self, seed: int, index: int, features: Features) -> None:
        self.rng = random.Random(f"frys-flink-oracle:{seed}:{index}")
        self.seed, self.index, self.f = seed, index, features
        self.var_names = iter(VAR_NAMES)
        self.neg_names = iter(NEG_NAMES)
        self.notes: list[str] = []

    # ---- structure

    def quant(self, *, group: bool, chain_head: bool) -> Quant | None:
        rng = self.rng
        table = ({"": 15, "+": 30, "*": 10, "?": 15, "{n}": 10, "{n,}": 10, "{n,m}": 10}
                 if group else
                 {"": 45, "+": 15, "*": 8, "?": 10, "{n}": 7, "{n,}": 6, "{n,m}": 9})
        kind = _weighted(rng, table)
        if not kind:
            return None
        n = m = 0
        if kind == "{n}":
            n = rng.choice((1, 2, 2, 2, 3))
        elif kind == "{n,}":
            n = rng.choice((0, 1, 2, 2, 3))
        elif kind == "{n,m}":
            n = rng.choice((0, 1, 1, 2, 2))
            m = max(n, 1) + rng.choice((0, 1, 1, 2))
        reluctant = rng.random() < {"?": 0.3, "{n}": 0.1}.get(kind, 0.4)
        q = Quant(kind, n, m, reluctant)  # type: ignore[arg-type]
        # frys refuses a repetition keyword on a quantifier that cannot repeat ({1}, {1,1},
        # {0,1}) where Flink accepts times(1).consecutive(): deliberately stricter, not probed
        if (q.can_repeat and self.f.explicit_inner
                and (chain_head or rng.random() < 0.35)):
            inner: Inner = rng.choice(("STRICT", "RELAXED", "ANY"))
            q = replace(q, inner=inner)
        return q

    def contiguity(self) -> Contiguity:
        return cast(Contiguity, _weighted(self.rng, {"strict": 35, "relaxed": 45, "any": 20}))

    def chain(self, size: int, depth: int) -> list[_El]:
        rng = self.rng
        out: list[_El] = []
        for i in range(size):
            contiguity = self.contiguity()
            if (i > 0 and depth == 0 and self.f.negation and out[-1].kind != "not"
                    and rng.random() < 0.2):
                name = next(self.neg_names, None)
                if name is not None:
                    out.append(_El("not", name, None, rng.choice(("strict", "relaxed"))))
                    continue
            if self.f.groups and depth < 2 and rng.random() < (0.15 if depth == 0 else 0.08):
                inner = self.chain(_weighted_int(rng, {1: 15, 2: 60, 3: 25}), depth + 1)
                if inner:
                    quant = self.quant(group=True, chain_head=False)
                    if quant is not None and quant.repeats and all(map(_can_be_empty, inner)):
                        # a loop whose body can match nothing never ends (in Flink too)
                        _make_nonempty(inner)
                    out.append(_El("group", quant=quant, contiguity=contiguity, items=inner))
                    continue
            name = next(self.var_names, None)
            if name is None:
                break
            out.append(_El("var", name, self.quant(group=False, chain_head=i == 0 and depth > 0),
                           contiguity))
        return out

    # ---- what Flink refuses

    def inner_of(self, el: _El, position: int, chain_lead: Inner) -> Inner:
        assert el.quant is not None
        if el.quant.inner is not None:
            return el.quant.inner
        if position == 0:
            return chain_lead
        return _INNER[el.contiguity]

    def greedy(self, el: _El, position: int, lead: Inner) -> bool:
        """Greedy in Flink's translation (not on a group, nor on a loop repeated with ANY,
        nor where the number of repetitions cannot vary)."""
        q = el.quant
        return (q is not None and q.varies and not q.reluctant
                and el.kind != "group" and self.inner_of(el, position, lead) != "ANY")

    def align_group_heads(self, chain: list[_El], lead: Inner) -> None:
        """A loop heading a group repeats, in Flink, as the group's own repetitions are
        joined (relaxed for a group that does not repeat), whatever consecutive() or
        allowCombinations() says on it; frys honours a keyword written on it (a documented
        departure). So the keyword written is the one Flink applies."""
        for i, el in enumerate(chain):
            if el.items is None:
                continue
            head = el.items[0]
            q = el.quant
            if q is not None and q.kind != "?":
                flink_inner = q.inner or (lead if i == 0 else _INNER[el.contiguity])
            else:
                flink_inner = "RELAXED"
            if head.kind == "var" and head.quant is not None and head.quant.can_repeat:
                head.quant = replace(head.quant, inner=flink_inner)
            self.align_group_heads(el.items, "STRICT")

    @staticmethod
    def optional(el: _El) -> bool:
        return el.quant is not None and el.quant.optional

    def flink_fixups(self, chain: list[_El], lead: Inner, probe: str) -> None:
        """Steer around what Flink refuses; `probe` names the one rule to leave broken."""
        for i, el in enumerate(chain):
            if el.items is not None:
                self.flink_fixups(el.items, "STRICT", probe)
            if i == 0:
                continue
            prev = chain[i - 1]
            if (self.optional(el) and self.greedy(prev, i - 1, lead)
                    and probe != "optional after greedy"):
                prev.quant = replace(prev.quant, reluctant=True)  # type: ignore[arg-type]
            if el.kind == "not" and self.optional(prev) and probe != "NOT after optional":
                prev.quant = _required(prev.quant)
            # Flink crashes (NullPointerException) on these rather than refusing them
            if (el.kind == "not" and prev.items is not None and _can_be_empty(prev)
                    and probe != "NOT after a group that can match nothing"):
                _make_nonempty(prev.items)
            if (prev.kind == "not" and _can_be_empty(el)
                    and probe != "optional element after NOT"):
                if el.items is not None:
                    el.quant = _required(el.quant)
                    _make_nonempty(el.items)
                else:
                    el.quant = _required(el.quant)

    def probe_rules(self, chain: list[_El], lead: Inner) -> list[str]:
        """The refusal rules this draft would break without fixups (the probe candidates)."""
        broken: set[str] = set()

        def walk(ch: list[_El], ld: Inner) -> None:
            for i, el in enumerate(ch):
                if el.items is not None:
                    walk(el.items, "STRICT")
                if i and self.optional(el) and self.greedy(ch[i - 1], i - 1, ld):
                    broken.add("optional after greedy")
                if i and el.kind == "not" and self.optional(ch[i - 1]):
                    broken.add("NOT after optional")
                if i and el.kind == "not" and ch[i - 1].items is not None \
                        and _can_be_empty(ch[i - 1]):
                    broken.add("NOT after a group that can match nothing")
                if i and ch[i - 1].kind == "not" and _can_be_empty(el):
                    broken.add("optional element after NOT")
        walk(chain, lead)
        return sorted(broken)

    # ---- conditions

    def atom(self, v: str, letters: list[str]) -> Cond:
        rng = self.rng
        kind = _weighted(rng, {"eq": 60, "in": 12, "ne": 6, "price": 22})
        if kind == "eq":
            return Cond("cmp", field="name", cmp="=", value=rng.choice(letters))
        if kind == "ne":
            return Cond("cmp", field="name", cmp="<>", value=rng.choice(letters))
        if kind == "in":
            return Cond("in", field="name", values=tuple(sorted(set(rng.sample(letters, 2)))))
        return Cond("cmp", field="price", cmp=rng.choice(CMPS), value=float(rng.randint(1, 5)))

    def condition(self, v: str, letters: list[str], refs: list[str]) -> Cond:
        rng = self.rng
        if refs and self.f.iterative and rng.random() < 0.15:
            ref = Cond("ref", field="price", cmp=rng.choice(CMPS), var=rng.choice(refs),
                       ref_field="price")
            if rng.random() < 0.6:
                return Cond("and", (self.atom(v, letters), ref))
            return ref
        shape = _weighted(rng, {"atom": 70, "and": 15, "or": 10, "not": 5})
        if shape == "atom":
            return self.atom(v, letters)
        if shape == "not":
            return Cond("not", (self.atom(v, letters),))
        return Cond(shape, (self.atom(v, letters), self.atom(v, letters)))  # type: ignore[arg-type]

    # ---- the case

    def case(self) -> Case:
        rng = self.rng
        size = _weighted_int(rng, {1: 10, 2: 30, 3: 30, 4: 20, 5: 10})
        chain = self.chain(size, 0)
        lead: Contiguity | None = None
        head = chain[0]
        if head.quant is not None and head.quant.repeats and rng.random() < 0.45:
            lead = rng.choice(("relaxed", "relaxed", "any"))
        elif rng.random() < 0.03:
            lead = rng.choice(("relaxed", "any"))
        lead_inner: Inner = _INNER[lead] if lead else "STRICT"

        # WITHIN; a pattern ending in `-> NOT x` needs one
        within = None
        ends_in_not = chain[-1].kind == "not"
        if ends_in_not and chain[-1].contiguity == "strict" and not self.f.not_next_at_end:
            chain[-1].contiguity = "relaxed"
        needs_within = ends_in_not and chain[-1].contiguity == "relaxed"
        if rng.random() < 0.35 or (needs_within and rng.random() > self.f.probes):
            # WITHIN t BETWEEN EVENTS bounds every gap in frys; Flink bounds only the gaps
            # into elements without a quantifier (a documented departure), so between-events
            # cases have none
            within = Within(rng.randint(1, 20),
                            between=not _has_quantifier(chain) and rng.random() < 0.5)
        if needs_within and within is None:
            self.notes.append("probe: -> NOT at the end without WITHIN")

        self.align_group_heads(chain, lead_inner)  # first: it can make a head loop greedy
        probe = ""
        candidates = self.probe_rules(chain, lead_inner)
        if candidates and rng.random() < self.f.probes:
            probe = rng.choice(candidates)
            self.notes.append(f"probe: {probe}")
        self.flink_fixups(chain, lead_inner, probe)

        items = _freeze(chain)
        pattern = Pattern(items=items, skip=Skip("no_skip"), lead=lead)
        variables = pattern.variables()

        # conditions: letters the events will mostly use
        letters = rng.sample(ALPHABET, rng.choice((2, 3, 3, 4)))
        defines: list[tuple[str, Cond]] = []
        untils: list[tuple[str, Cond]] = []
        refs: list[str] = []  # earlier top-level singletons (always bound when read)
        top = {it.element.name for it in items if isinstance(it.element, Var)}
        for v in variables:
            if v.negated or rng.random() < 0.9:
                defines.append((v.name, self.condition(v.name, letters, refs)))
            if (not v.negated and v.quant is not None and v.quant.unbounded
                    and rng.random() < 0.25):
                if v.name not in dict(defines):
                    defines.append((v.name, self.atom(v.name, letters)))
                untils.append((v.name, self.atom(v.name, letters)))
            if v.name in top and v.quant is None and not v.negated:
                refs.append(v.name)

        skip_kind = rng.choice(("no_skip", "skip_to_next", "skip_past_last", "skip_to_first",
                                "skip_to_last"))
        skip_var = ""
        if skip_kind in ("skip_to_first", "skip_to_last"):
            # Flink finds only top-level names (not a group's variables); frys also takes
            # a group's (an extension, docs/language.md), so those are not compared
            top_outputs = [v.name for v in variables if not v.negated and v.name in top]
            if top_outputs:
                skip_var = rng.choice(top_outputs)
            else:
                skip_kind = rng.choice(("no_skip", "skip_to_next", "skip_past_last"))
        skip = Skip(skip_kind, skip_var)  # type: ignore[arg-type]
        pattern = replace(pattern, skip=skip, defines=tuple(defines), untils=tuple(untils),
                          within=within, partition=rng.random() < 0.25)
        return Case(self.seed, self.index, pattern, self.events(letters), tuple(self.notes))

    def events(self, letters: list[str]) -> tuple[Event, ...]:
        rng = self.rng
        ts = rng.choice((0, 1000, 1_700_000_000_000))
        out = []
        for i in range(rng.randint(4, 14)):
            if i:
                ts += _weighted_int(rng, {0: 25, 1: 30, 2: 20, 3: 12, 5: 8, 9: 5})
            name = rng.choice(letters) if rng.random() < 0.8 else rng.choice(ALPHABET)
            out.append(Event(i, rng.choice("pq"), name, float(rng.randint(1, 5)), ts))
        return tuple(out)


def _weighted_int(rng: random.Random, table: dict[int, float]) -> int:
    return rng.choices(list(table), weights=list(table.values()))[0]


def _has_quantifier(chain: list[_El]) -> bool:
    return any(el.quant is not None or (el.items is not None and _has_quantifier(el.items))
               for el in chain)


def _can_be_empty(el: _El) -> bool:
    if el.kind == "not":
        return True
    if el.quant is not None and el.quant.optional:
        return True
    return el.items is not None and all(map(_can_be_empty, el.items))


def _make_nonempty(chain: list[_El]) -> None:
    head = chain[0]
    head.quant = _required(head.quant)
    if head.items is not None:
        _make_nonempty(head.items)


def _required(q: Quant | None) -> Quant | None:
    """The quantifier without its optional path: * -> +, ? -> none, {0,m} -> {1,m}."""
    if q is None or not q.optional:
        return q
    if q.kind == "?":
        return None
    if q.kind == "*":
        return replace(q, kind="+")
    return replace(q, n=1, m=max(q.m, 1))


def _freeze(chain: list[_El]) -> tuple[Item, ...]:
    items = []
    for el in chain:
        element: Var | Group
        if el.kind == "group":
            assert el.items is not None
            element = Group(_freeze(el.items), el.quant)
        else:
            element = Var(el.name, el.quant, negated=el.kind == "not")
        items.append(Item(element, el.contiguity))
    return tuple(items)


def generate_case(seed: int, index: int, features: Features = DEFAULT_FEATURES) -> Case:
    return _Generator(seed, index, features).case()


def generate(seed: int, count: int, features: Features = DEFAULT_FEATURES) -> list[Case]:
    return [generate_case(seed, i, features) for i in range(count)]
