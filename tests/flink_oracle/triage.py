"""Groups differences by likely cause, by re-running each differing case in variants and
seeing which ones make frys and Flink agree (`python -m tests.flink_oracle --triage`).

The groups are hypotheses for a human, not verdicts; each names the variant that removed the
difference:

  between-events     WITHIN t BETWEEN EVENTS: Flink checks within(t, PREVIOUS_AND_CURRENT) only
                     in the taking state of an element without a quantifier (not in loops, and
                     not once an optional element's wait skipped an event); the difference goes
                     away without WITHIN or with WITHIN t (first and last).
  skip-order         several matches complete with the same start event; which one the skip
                     strategy keeps (Flink: the order of a java.util.PriorityQueue whose
                     comparator ties them); NO SKIP agrees.
  group-head-loop    a loop heading a group (`s (a+? STRICT b)`): Flink repeats it relaxed
                     whatever consecutive()/allowCombinations() says; frys repeats it as the
                     group is entered, whatever its keyword says. Without the loop they agree.
  looping-group-exit the documented departure (docs/language.md): in a looping group repeated
                     relaxedly, Flink leaves the loop after an event it skipped between
                     repetitions (the same match twice, or a match across the skipped event);
                     repeating the group STRICT on both sides agrees.
  <variant> agrees   otherwise: the variants that removed the difference (none: "other").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace

from .oracle import FlinkOracle
from .run import Outcome, compare, run_frys_limited
from .spec import Group, Item, Pattern, Quant, Skip, Var


def _map_quants(items: tuple[Item, ...], f: Callable[[Quant | None, bool], Quant | None]
                ) -> tuple[Item, ...]:
    out = []
    for it in items:
        el = it.element
        if isinstance(el, Group):
            el = replace(el, items=_map_quants(el.items, f), quant=f(el.quant, True))
        else:
            el = replace(el, quant=f(el.quant, False))
        out.append(replace(it, element=el))
    return tuple(out)


def _reluctant(q: Quant | None, group: bool) -> Quant | None:
    return replace(q, reluctant=True) if q is not None and q.kind != "?" else q


def _map_groups(items: tuple[Item, ...], f: Callable[[Group], Group]) -> tuple[Item, ...]:
    out = []
    for it in items:
        el = it.element
        if isinstance(el, Group):
            el = f(replace(el, items=_map_groups(el.items, f)))
        out.append(replace(it, element=el))
    return tuple(out)


def _heads_single(g: Group) -> Group:
    """A group whose first element is a loop, with that element unquantified."""
    head = g.items[0]
    q = head.element.quant
    if isinstance(head.element, Var) and q is not None and q.can_repeat:
        head = replace(head, element=replace(head.element, quant=None))
    return replace(g, items=(head, *g.items[1:]))


def _repeats_strict(g: Group) -> Group:
    """A looping group repeated STRICT."""
    q = g.quant
    return replace(g, quant=replace(q, inner="STRICT")) if q is not None and q.repeats else g


def variants(p: Pattern) -> Iterator[tuple[str, Pattern]]:
    if p.skip.kind != "no_skip":
        yield "NO SKIP", replace(p, skip=Skip("no_skip"))
    if p.within is not None:
        yield "no WITHIN", replace(p, within=None)
        yield ("WITHIN (first and last)" if p.within.between else "WITHIN BETWEEN EVENTS",
               replace(p, within=replace(p.within, between=not p.within.between)))
    yield "all reluctant", replace(p, items=_map_quants(p.items, _reluctant))
    heads = _map_groups(p.items, _heads_single)
    if heads != p.items:
        yield "loops heading groups made single", replace(p, items=heads)
    strict = _map_groups(p.items, _repeats_strict)
    if strict != p.items:
        yield "looping groups repeated STRICT", replace(p, items=strict)
    if p.partition:
        yield "no PARTITION BY", replace(p, partition=False)


def _has_quantifier(items: tuple[Item, ...]) -> bool:
    """Some element (or a group's) has a quantifier: a loop or an optional element."""
    return any(it.element.quant is not None
               or (isinstance(it.element, Group) and _has_quantifier(it.element.items))
               for it in items)


_INNER = {"strict": "STRICT", "relaxed": "RELAXED", "any": "ANY"}


def _relaxed_looping_group(items: tuple[Item, ...], lead: str = "strict") -> bool:
    for i, it in enumerate(items):
        el = it.element
        if isinstance(el, Group):
            q = el.quant
            if q is not None and q.repeats:
                inner = q.inner or _INNER[lead if i == 0 else it.contiguity]
                if inner != "STRICT":
                    return True
            if _relaxed_looping_group(el.items):
                return True
    return False


def _message(error: str) -> str:
    """An error without its class path, position and source line: what groups refusals."""
    text = error.split(" (at ")[0].split(" / caused by: ")[-1]
    text = re.sub(r"<query>:\d+:\d+: error: ", "", text)
    text = re.sub(r"^[\w.$]+\.(\w+(Exception|Error)): ", r"\1: ", text)
    return text[:120]


def triage(oracle: FlinkOracle, o: Outcome) -> tuple[str, list[str]]:
    """(group, the variants that made both sides agree) for a difference of matches; a
    refusal or a crash is grouped by its message."""
    if o.kind != "matches":
        side = o.frys if o.kind.startswith("frys") else o.flink
        return f"{o.kind}: {_message(side.get('error', ''))}", []
    case = o.case
    agreeing: list[str] = []
    for name, pattern in variants(case.pattern):
        v = replace(case, pattern=pattern)
        if compare(v, oracle.run(v), run_frys_limited(v)).status == "agree":
            agreeing.append(name)
    p = case.pattern
    if "loops heading groups made single" in agreeing:
        return "group-head-loop", agreeing
    if "looping groups repeated STRICT" in agreeing and not o.only_frys \
            and _relaxed_looping_group(p.items, p.lead or "strict"):
        return "looping-group-exit", agreeing
    if (p.within is not None and p.within.between and _has_quantifier(p.items)
            and ("no WITHIN" in agreeing or "WITHIN (first and last)" in agreeing)):
        return "between-events", agreeing
    if p.skip.kind != "no_skip" and "NO SKIP" in agreeing:
        return "skip-order", agreeing
    return (", ".join(agreeing) + " agrees") if agreeing else "other", agreeing


def triage_all(oracle: FlinkOracle, outcomes: list[Outcome]
               ) -> dict[str, list[tuple[Outcome, list[str]]]]:
    groups: dict[str, list[tuple[Outcome, list[str]]]] = {}
    for o in outcomes:
        if not o.differs:
            continue
        group, agreeing = triage(oracle, o)
        groups.setdefault(group, []).append((o, agreeing))
    return dict(sorted(groups.items(), key=lambda kv: -len(kv[1])))


def report(groups: dict[str, list[tuple[Outcome, list[str]]]],
           describe: Callable[[Outcome, bool], str], samples: int = 2) -> str:
    lines = []
    total = Counter({g: len(v) for g, v in groups.items()})
    lines.append("differences by likely cause: "
                 + ", ".join(f"{g} {n}" for g, n in total.most_common()))
    for group, items in groups.items():
        lines.append(f"\n=== {group}: {len(items)} case(s): "
                     + " ".join(o.case.key for o, _ in items))
        smallest = sorted(items, key=lambda oa: (len(oa[0].case.events),
                                                 len(oa[0].case.pattern.frysql_pattern())))
        for o, agreeing in smallest[:samples]:
            lines.append(describe(o, False)
                         + (f"\nagree when: {', '.join(agreeing)}" if agreeing else ""))
    return "\n".join(lines)
