"""Pattern AST -> automaton: the SASE+ NFA of Flink CEP, built the way Flink 2.3's
NFACompiler builds it (ported method by method, each method naming the one it ports), so
that frys patterns mean what the equivalent Flink patterns mean. The differential fuzzer in
tests/flink_oracle/ checks that against the real Flink library; the few places where frys
departs on purpose are listed in docs/language.md ("Departures from Flink").

A pattern first becomes a chain of `Stage`s (Flink's `Pattern` objects: one per element,
with its quantifier, optionality, greediness and consuming strategies), then states are
created from the end of the chain backwards. A `State` has edges:

* TAKE: the event satisfies the condition; it joins the match under the state's variable;
* IGNORE: the event is skipped, the partial match stays (relaxed contiguity: when the event
  does not match, `NOT take`; non-deterministic relaxed: always, `TRUE`);
* PROCEED: an epsilon move to another state, evaluated with the same event (optional
  elements, the end of a loop, negations).

`Stop` states end a partial match (a NOT matched); the `Final` state completes it; a
`Pending` state (a trailing `-> NOT x`) completes it when WITHIN runs out. The runtime
(nfa.py) walks these edges exactly as Flink's NFA.computeNextStates does.

Conditions are small trees over variables' DEFINE conditions (`Var`), UNTIL conditions
(`Until`) and boolean connectives, evaluated by the runtime against an event and a partial
match.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from frys.dsl import ast

# ------------------------------------------------------------------ conditions


@dataclass(frozen=True)
class Var:
    """The DEFINE condition of a variable (TRUE when it has none)."""

    variable: int


@dataclass(frozen=True)
class Until:
    """The UNTIL condition of a variable's loop."""

    variable: int


@dataclass(frozen=True)
class Not:
    operand: Condition


@dataclass(frozen=True)
class And:
    left: Condition
    right: Condition


@dataclass(frozen=True)
class Or:
    left: Condition
    right: Condition


@dataclass(frozen=True)
class TrueCondition:
    pass


TRUE = TrueCondition()
Condition = Var | Until | Not | And | Or | TrueCondition


def conjunction(left: Condition | None, right: Condition) -> Condition:
    return right if left is None or left == TRUE else And(left, right)


# ------------------------------------------------------------------ states


class Action(Enum):
    TAKE = 0
    IGNORE = 1
    PROCEED = 2


class Kind(Enum):
    START = "start"
    NORMAL = "normal"
    FINAL = "final"
    STOP = "stop"
    # a pattern ending in `-> NOT x` (with WITHIN): partial matches wait here, ignoring
    # everything but x (which stops them), and complete when WITHIN runs out (Flink's
    # StateType.Pending)
    PENDING = "pending"


@dataclass(eq=False)
class Edge:
    action: Action
    source: State
    target: State
    condition: Condition


@dataclass(eq=False)
class State:
    """One NFA state. `variable` is the index of the pattern variable whose events it takes
    (-1 for the final state); `name` is unique, for explain and debugging."""

    name: str
    variable: int
    kind: Kind
    edges: list[Edge] = field(default_factory=list)
    index: int = -1  # position in Automaton.states

    def take(self, target: State | None, condition: Condition) -> None:
        self.edges.append(Edge(Action.TAKE, self, target or self, condition))

    def ignore(self, target: State | None, condition: Condition) -> None:
        self.edges.append(Edge(Action.IGNORE, self, target or self, condition))

    def proceed(self, target: State, condition: Condition) -> None:
        self.edges.append(Edge(Action.PROCEED, self, target, condition))

    @property
    def is_final(self) -> bool:
        return self.kind is Kind.FINAL

    @property
    def is_stop(self) -> bool:
        return self.kind is Kind.STOP

    @property
    def is_pending(self) -> bool:
        return self.kind is Kind.PENDING

    def __repr__(self) -> str:
        return f"State({self.name})"


def decision_edges(state: State, holds: Callable[[Edge], bool]) -> list[Edge]:
    """The TAKE and IGNORE edges an event meets from `state`: those whose condition `holds`,
    with PROCEED edges followed to their targets (an epsilon move: the same event is
    evaluated there; Flink's createDecisionGraph). Each state is visited once (the runtime's
    walk, nfa.Matcher._advance, visits a state as often as Flink does)."""
    found: list[Edge] = []
    stack = [state]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for edge in current.edges:
            if not holds(edge):
                continue
            if edge.action is Action.PROCEED:
                stack.append(edge.target)
            else:
                found.append(edge)
    return found


# ------------------------------------------------------------------ stages (Flink Patterns)

STRICT, SKIP_TILL_NEXT, SKIP_TILL_ANY, NOT_NEXT, NOT_FOLLOW = (
    "strict", "skip_till_next", "skip_till_any", "not_next", "not_follow")
_CONTIGUITY = {"": STRICT, "->": SKIP_TILL_NEXT, "->>": SKIP_TILL_ANY}


@dataclass
class Stage:
    """One element of the pattern chain, as Flink's Pattern: `strategy` joins it to the
    element before (Flink's consuming strategy; the first element's is STRICT, as
    `Pattern.begin` makes it); `inner` joins the repetitions of a loop (Flink's inner
    consuming strategy); `times` = (from, to) for `{n}` / `{n,m}` and (from, from) for a
    loop of at least `from`. `greedy` is Flink's GREEDY property, which Flink allows only on
    a single variable that repeats, and not with ANY repetitions (ast.greedy_in_flink)."""

    variable: int
    name: str
    strategy: str
    inner: str = SKIP_TILL_NEXT
    inner_written: bool = False  # `inner` spelled out (STRICT/RELAXED/ANY), not derived
    looping: bool = False
    times: tuple[int, int] | None = None
    optional: bool = False
    greedy: bool = False
    group: list[Stage] | None = None  # a group: its elements, first to last
    branches: list[list[Stage]] | None = None  # an alternation: each branch's elements
    previous: Stage | None = None

    @property
    def is_times(self) -> bool:
        return self.times is not None and not self.looping


def stages_of(pattern: ast.PatternNode, variables: dict[str, int]) -> list[Stage]:
    """The pattern as a chain of stages, first to last, linked through `previous`."""
    elements, contiguities, leading = _sequence(pattern)
    chain: list[Stage] = []
    for position, element in enumerate(elements):
        before = leading if position == 0 else contiguities[position - 1]
        chain.append(_stage(element, before, position == 0, variables))
    for previous, stage in itertools.pairwise(chain):
        stage.previous = previous
    return chain


def _sequence(node: ast.PatternNode) -> tuple[tuple[ast.PatternNode, ...], tuple[str, ...], str]:
    if isinstance(node, ast.PatternSequence):
        return node.elements, node.contiguities, node.leading
    return (node,), (), ""


def _stage(node: ast.PatternNode, before: str, first: bool,
           variables: dict[str, int]) -> Stage:
    if isinstance(node, ast.PatternNot):
        element = node.element
        assert isinstance(element, ast.PatternVariable)  # the analyzer's rule
        strategy = NOT_NEXT if before == "" else NOT_FOLLOW
        return Stage(variables[element.name], element.name, strategy)
    contiguity = _CONTIGUITY[before]
    # the first element is joined strictly (Pattern.begin); it loops strictly unless written
    # with a leading arrow; any other loop repeats as it is joined unless told otherwise
    strategy = STRICT if first else contiguity
    quantifier = node.quantifier if isinstance(node, (ast.PatternVariable,
                                                       ast.PatternGroup)) else None
    inner = _CONTIGUITY[ast.repetition_of(quantifier, before, first)]
    if isinstance(node, ast.PatternVariable):
        stage = Stage(variables[node.name], node.name, strategy, inner)
    elif isinstance(node, ast.PatternGroup) and isinstance(node.body,
                                                          ast.PatternAlternation):
        if node.quantifier is None:
            return _stage(node.body, before, first, variables)
        # quantified: a group of one element, the alternation (joined strictly inside the
        # group, as a group's first element is), repeated like any group
        choice = _stage(node.body, "", True, variables)
        stage = Stage(-1, f"({choice.name})", strategy, inner, group=[choice])
    elif isinstance(node, ast.PatternGroup):
        group = stages_of(node.body, variables)
        stage = Stage(-1, "(" + " ".join(s.name for s in group) + ")", strategy, inner,
                      group=group)
    else:
        assert isinstance(node, ast.PatternAlternation)
        branches = [stages_of(branch, variables) for branch in node.branches]
        return Stage(-1, " | ".join(" ".join(s.name for s in b) for b in branches),
                     strategy, inner, branches=branches)
    if quantifier is not None:
        stage.inner_written = quantifier.repetition is not None
        low, high = quantifier.low, quantifier.high
        if low == 0:
            stage.optional = True
            low = 1
        if high is None:
            stage.looping = True
            stage.times = (low, low)
        elif (low, high) != (1, 1):
            stage.times = (low, high)
        stage.greedy = ast.greedy_in_flink(node, before, first)
    return stage


# ------------------------------------------------------------------ the compiler


@dataclass
class Automaton:
    states: list[State]
    start: State
    final: State
    variable_names: list[str]

    def describe(self) -> list[str]:
        lines = []
        for state in self.states:
            edges = ", ".join(
                f"{e.action.name.lower()} -> {e.target.name} "
                f"[{_cond_text(e.condition, self.variable_names)}]" for e in state.edges)
            lines.append(f"{state.name} ({state.kind.value}): {edges}")
        return lines


def _cond_text(condition: Condition, names: list[str]) -> str:
    if isinstance(condition, Var):
        return names[condition.variable]
    if isinstance(condition, Until):
        return f"until {names[condition.variable]}"
    if isinstance(condition, Not):
        return f"not {_cond_text(condition.operand, names)}"
    if isinstance(condition, And):
        return f"({_cond_text(condition.left, names)} and {_cond_text(condition.right, names)})"
    if isinstance(condition, Or):
        return f"({_cond_text(condition.left, names)} or {_cond_text(condition.right, names)})"
    return "true"


# Flink's compiler leaves a looping group's exit open after an event the group's head skipped
# (see _Compiler._close_exit_after_ignore, a documented departure). The differential fuzzer
# (tests/flink_oracle) compiles with this set to show that a difference it found is exactly
# that departure; nothing else sets it.
FLINK_GROUP_EXITS = False


def compile_pattern(pattern: ast.PatternNode, variable_names: list[str],
                    has_until: set[int], has_window: bool = False) -> Automaton:
    """The automaton of a pattern; `has_until` holds the variables with an UNTIL;
    `has_window`: the pattern has a WITHIN (a trailing `-> NOT x` needs one)."""
    variables = {name: i for i, name in enumerate(variable_names)}
    chain = stages_of(pattern, variables)
    compiler = _Compiler(chain, has_until, has_window)
    states = compiler.compile()
    final = next(s for s in states if s.is_final)
    start = next(s for s in states if s.kind is Kind.START)
    for index, state in enumerate(states):
        state.index = index
    return Automaton(states, start, final, variable_names)


class _Compiler:
    """Flink 2.3's NFACompiler.NFAFactoryCompiler, ported method by method over frys
    stages (each method names the Flink method it ports). States are created from the end
    of the chain backwards, so every state's targets exist when it is made.

    Greedy is Flink 2.3's: a greedy loop's exit stays open, and NOT(the loop's condition)
    is ANDed into every edge of the state the loop exits to (`_update_with_greedy`), so the
    element after a greedy loop can never take, skip or pass an event the loop accepts."""

    def __init__(self, chain: list[Stage], has_until: set[int], has_window: bool) -> None:
        self.chain = chain
        self.has_until = has_until
        self.has_window = has_window
        self.states: list[State] = []
        self.names: dict[str, int] = {}
        self.stop_states: dict[str, State] = {}
        self.current: Stage = chain[-1]
        self.following: Stage | None = None
        self.group: Stage | None = None  # Flink's currentGroupPattern
        self.first_of_loop: dict[int, bool] = {}  # Flink's firstOfLoopMap
        self.original: dict[str, State] = {}  # Flink's originalStateMap
        # the take conditions an alternation's branch can begin with (frys only)
        self.following_take: Condition | None = None

    # ---- entry

    def compile(self) -> list[State]:
        """compileFactory: the final state, the middle states, the start state."""
        sink = self._middle_states(self._state("$final$", -1, Kind.FINAL))
        self._start_state(sink)
        return self.states

    def _middle_states(self, sink: State) -> State:
        """createMiddleStates."""
        last = sink
        while self.current.previous is not None:
            stage: Stage = self.current
            if stage.strategy == NOT_FOLLOW:
                # becomes edge conditions of the states before it, unless it ends the
                # pattern: then partial matches wait in a pending state until WITHIN runs
                # out (createState(Pending))
                if self.has_window and last.is_final:
                    pending = self._state(f"{stage.name}$absent", stage.variable, Kind.PENDING)
                    condition = self._take_condition(stage)
                    stop = self._stop_state(condition, stage.name, stage.variable)
                    pending.proceed(stop, condition)
                    pending.ignore(None, Not(condition))
                    last = pending
            elif stage.strategy == NOT_NEXT:
                not_next = self._state(stage.name + "$not", stage.variable)
                condition = self._take_condition(stage)
                stop = self._stop_state(condition, stage.name, stage.variable)
                if last.is_final:
                    not_next.ignore(last, Not(condition))  # so the proceed to final won't fire
                else:
                    not_next.proceed(last, Not(condition))
                not_next.proceed(stop, condition)
                last = not_next
            else:
                last = self._convert(last)
            self.following = stage
            assert stage.previous is not None  # the loop condition
            self.current = stage.previous
        return last

    def _start_state(self, sink: State) -> State:
        """createStartState."""
        begin = self._convert(sink)
        begin.kind = Kind.START
        return begin

    def _convert(self, sink: State) -> State:
        """convertPattern."""
        stage = self.current
        if stage.branches is not None:
            last = self._alternation(stage, sink)
        elif stage.looping:
            # once a loop has started, the NOTs before an optional loop no longer apply
            self._set_first_of_loop(False)
            without_nots = self._copy_without_transitive_nots(sink)
            looping = self._looping(without_nots)
            self._set_first_of_loop(True)
            last = self._times_state(looping, sink, stage.times or (1, 1))
        elif stage.is_times:
            assert stage.times is not None
            last = self._times_state(sink, sink, stage.times)
        else:
            last = self._singleton(sink, sink, self._take_condition(stage),
                                   self._ignore_condition(stage), stage.optional)
        self._add_stop_states(last)
        return last

    # ---- states

    def _state(self, name: str, variable: int, kind: Kind = Kind.NORMAL) -> State:
        """createState, with NFAStateNameHandler's unique names."""
        count = self.names.get(name, 0)
        self.names[name] = count + 1
        state = State(name if count == 0 else f"{name}:{count}", variable, kind)
        self.states.append(state)
        return state

    def _stop_state(self, condition: Condition, name: str, variable: int) -> State:
        """createStopState: one stop state per NOT variable."""
        stop = self.stop_states.get(name)
        if stop is None:
            stop = self._state(f"{name}$stop", variable, Kind.STOP)
            stop.take(None, condition)
            self.stop_states[name] = stop
        return stop

    def _copy(self, state: State) -> State:
        """copy: the same edges, a self-loop pointing at the copy."""
        copy = self._state(state.name.split(":")[0], state.variable, state.kind)
        for edge in state.edges:
            target = copy if edge.target is edge.source else edge.target
            copy.edges.append(Edge(edge.action, copy, target, edge.condition))
        return copy

    def _current_not_conditions(self) -> list[tuple[Condition, str, int]]:
        """getCurrentNotCondition: the NOTs right before the current element, reached back
        through optional elements."""
        result = []
        previous = self.current
        while previous.previous is not None and (previous.previous.optional
                                                 or previous.previous.strategy == NOT_FOLLOW):
            previous = previous.previous
            if previous.strategy == NOT_FOLLOW:
                result.append((self._take_condition(previous), previous.name,
                               previous.variable))
        return result

    def _copy_without_transitive_nots(self, sink: State) -> State:
        """copyWithoutTransitiveNots: taking an optional element discards the NOTs before
        it, so its TAKE leads to a copy of the sink without their stop edges."""
        nots = self._current_not_conditions()
        if not nots or not self.current.optional:
            return sink
        copy = self._state(sink.name.split(":")[0], sink.variable, sink.kind)
        for edge in sink.edges:
            if edge.action is Action.PROCEED:
                target = edge.target
                remove = False
                if target.is_stop:
                    remove = any(target.name == f"{name}$stop" for _, name, _ in nots)
                else:
                    target = self._copy_without_transitive_nots(target)
                if not remove:
                    copy.edges.append(Edge(edge.action, copy, target, edge.condition))
            else:
                target = copy if edge.target is edge.source else edge.target
                copy.edges.append(Edge(edge.action, copy, target, edge.condition))
        return copy

    def _add_stop_states(self, state: State) -> None:
        """addStopStates."""
        for condition, name, variable in self._current_not_conditions():
            state.proceed(self._stop_state(condition, name, variable), condition)

    def _add_stop_state_to_looping(self, state: State) -> None:
        """addStopStateToLooping: a NOT after a loop is checked between its repetitions."""
        following = self.following
        if following is not None and following.strategy == NOT_FOLLOW:
            condition = self._take_condition(following)
            state.proceed(self._stop_state(condition, following.name, following.variable),
                          condition)

    def _times_state(self, sink: State, proceed_to: State, times: tuple[int, int]) -> State:
        """createTimesState: `to - from` optional copies, `from - 1` mandatory ones, and the
        first (optional if the element is); a greedy range closes the way past it."""
        stage = self.current
        last = sink
        self._set_first_of_loop(False)
        until = self._until(stage)
        inner_ignore = self._ignore_until(self._inner_ignore_condition(stage), until)
        take = self._take_until(self._take_condition(stage), until)
        low, high = times
        if stage.greedy and low != high:
            if until is not None:
                self.original[sink.name] = self._copy(sink)
            self._update_with_greedy(sink, take)
        for _ in range(low, high):
            last = self._singleton(last, proceed_to, take, inner_ignore, optional=True)
            self._add_stop_state_to_looping(last)
        for _ in range(low - 1):
            last = self._singleton(last, None, take, inner_ignore, optional=False)
            self._add_stop_state_to_looping(last)
        self._set_first_of_loop(True)
        return self._singleton(last, proceed_to, take, self._ignore_condition(stage),
                               stage.optional)

    def _singleton(self, sink: State, proceed_to: State | None, take: Condition,
                   ignore: Condition | None, optional: bool) -> State:
        """createSingletonState: TAKE to the sink; optional: PROCEED past it; IGNORE to
        itself, or, when optional (or the head of an optional group), to a twin without the
        PROCEED, so that each way past the element branches once."""
        stage = self.current
        if stage.group is not None:
            return self._group_state(stage, sink, proceed_to, optional)
        state = self._state(stage.name, stage.variable)
        target = self._copy_without_transitive_nots(sink)
        state.take(target, take)
        if optional:
            assert proceed_to is not None
            until = self._until(stage)
            if stage.greedy and until is not None:
                original = self.original.get(proceed_to.name)
                if original is not None:
                    state.proceed(original, until)
                state.proceed(proceed_to, Not(until))
            else:
                state.proceed(proceed_to, TRUE)
        if ignore is not None:
            if optional or self._head_of_optional_group(stage):
                ignore_state = self._state(stage.name, stage.variable)
                ignore_state.take(target, take)
                ignore_state.ignore(None, ignore)
                self._add_stop_states(ignore_state)
            else:
                ignore_state = state
            state.ignore(ignore_state, ignore)
        self.following_take = self._following_take(self.following_take, take, optional)
        return state

    def _group_state(self, group: Stage, sink: State, proceed_to: State | None,
                     optional: bool) -> State:
        """createGroupPatternState: the group's elements, compiled as a pattern of their
        own; optional: its head may PROCEED past the group."""
        assert group.group is not None
        saved = (self.current, self.following, self.group, self.following_take)
        self.group = group
        self.current = group.group[-1]
        self.following_take = None
        last = self._middle_states(sink)
        last = self._convert(last)
        if optional:
            assert proceed_to is not None
            last.proceed(proceed_to, TRUE)
        inner_take = self.following_take
        self.current, self.following, self.group, old_take = saved
        self.following_take = self._following_take(old_take, inner_take or TRUE, optional)
        return last

    def _looping_group(self, group: Stage, sink: State) -> State:
        """createLoopingGroupPatternState: the group's elements end in a dummy state that
        PROCEEDs back to the group's head, which may PROCEED out of the loop."""
        assert group.group is not None
        saved = (self.current, self.following, self.group, self.following_take)
        dummy = self._state(group.name, -1)
        self.group = group
        self.current = group.group[-1]
        self.following_take = None
        last = self._middle_states(dummy)
        last = self._convert(last)
        if not FLINK_GROUP_EXITS:
            self._close_exit_after_ignore(last)
        last.proceed(sink, TRUE)
        dummy.proceed(last, TRUE)
        inner_take = self.following_take
        self.current, self.following, self.group, old_take = saved
        self.following_take = self._following_take(old_take, inner_take or TRUE, True)
        return last

    def _close_exit_after_ignore(self, head: State) -> None:
        """The head of a looping group's repetitions is about to get the loop's exit (a
        proceed to what follows the group). An event it ignores must not leave that exit
        open, or the match that already left the loop is found twice, and an element
        strictly after the group is reached across the ignored event (Flink's compiler
        does both). So its self-ignores lead to a copy of it without the exit.
        (A departure from Flink, documented in docs/language.md.)"""
        if not any(e.action is Action.IGNORE and e.target is head for e in head.edges):
            return

        def ignored(edge: Edge) -> bool:
            return edge.action is Action.IGNORE and edge.target is head

        waiting = self._state(head.name, head.variable)
        for edge in head.edges:  # the same edges; a take leads back where the exit is
            target = waiting if ignored(edge) else edge.target
            waiting.edges.append(Edge(edge.action, waiting, target, edge.condition))
        head.edges = [Edge(e.action, head, waiting, e.condition) if ignored(e) else e
                      for e in head.edges]

    def _looping(self, sink: State) -> State:
        """createLooping: TAKE to itself, PROCEED to the sink, IGNORE (between repetitions)
        to a twin without the PROCEED."""
        stage = self.current
        if stage.group is not None:
            return self._looping_group(stage, sink)
        until = self._until(stage)
        ignore = self._ignore_until(self._inner_ignore_condition(stage), until)
        take = self._take_until(self._take_condition(stage), until)
        looping = self._state(stage.name, stage.variable)
        if stage.greedy:
            if until is not None:
                copy = self._copy(sink)
                looping.proceed(copy, until)
                self.original[sink.name] = copy
            looping.proceed(sink, Not(until) if until is not None else TRUE)
            self._update_with_greedy(sink, self._take_condition(stage))
        else:
            looping.proceed(sink, TRUE)
        looping.take(None, take)
        self._add_stop_state_to_looping(looping)
        if ignore is not None:
            ignore_state = self._state(stage.name, stage.variable)
            ignore_state.take(looping, take)
            ignore_state.ignore(None, ignore)
            looping.ignore(ignore_state, ignore)
            self._add_stop_state_to_looping(ignore_state)
        self.following_take = self._following_take(self.following_take, take, True)
        return looping

    @staticmethod
    def _update_with_greedy(state: State, take: Condition) -> None:
        """updateWithGreedyCondition: every edge of the state a greedy loop exits to also
        requires that the loop could not have taken the event."""
        for edge in state.edges:
            edge.condition = And(edge.condition, Not(take))

    def _alternation(self, stage: Stage, sink: State) -> State:
        """`x | y` (frys only; Flink has no alternation of variables): a state that proceeds
        into each branch (compiled like a group whose first element joins strictly) and,
        under relaxed contiguity, ignores events until one branch can take one (skip till
        next: no branch's first condition holds)."""
        assert stage.branches is not None
        choice = self._state(f"({stage.name})", -1)
        following = self.following_take
        heads: list[Condition] = []
        for branch in stage.branches:
            group = Stage(-1, "(" + " ".join(s.name for s in branch) + ")", STRICT, STRICT,
                          group=branch, previous=stage.previous)
            saved = self.current
            self.current = group
            self.following_take = following
            head = self._group_state(group, sink, None, optional=False)
            heads.append(self.following_take or TRUE)
            self.current = saved
            choice.proceed(head, TRUE)
        either: Condition = heads[0]
        for take in heads[1:]:
            either = Or(either, take)
        strategy = stage.strategy
        if self._head_of_group(stage):  # a quantified alternation: the group's contiguity
            assert self.group is not None
            strategy = (self.group.strategy if self._is_first_of_loop()
                        else self.group.inner)
        skipped: Condition | None = None
        if strategy == SKIP_TILL_NEXT:
            skipped = Not(either)
        elif strategy == SKIP_TILL_ANY:
            skipped = TRUE
        if skipped is not None:
            choice.ignore(None, skipped)
        self.following_take = either
        return choice

    # ---- conditions

    def _until(self, stage: Stage) -> Condition | None:
        return Until(stage.variable) if stage.variable in self.has_until else None

    @staticmethod
    def _take_until(condition: Condition, until: Condition | None) -> Condition:
        """extendWithUntilCondition for a TAKE: a loop stops at the first event that
        satisfies its UNTIL."""
        return condition if until is None else And(Not(until), condition)

    @staticmethod
    def _ignore_until(condition: Condition | None, until: Condition | None
                      ) -> Condition | None:
        """extendWithUntilCondition for an IGNORE."""
        if until is not None and condition is not None:
            return And(Not(until), condition)
        return condition

    @staticmethod
    def _following_take(following: Condition | None, current: Condition,
                        optional: bool) -> Condition:
        if optional and following is not None:
            return Or(current, following)
        return current

    def _inner_ignore_condition(self, stage: Stage) -> Condition | None:
        """getInnerIgnoreCondition: between a loop's repetitions. A loop heading a group
        repeats as the group's repetitions are joined, unless its own are spelled out
        (Flink ignores consecutive()/allowCombinations() there: a departure, documented in
        docs/language.md)."""
        strategy = stage.inner
        if self._head_of_group(stage) and not stage.inner_written:
            assert self.group is not None
            strategy = self.group.inner
        return self._strategy_ignore(strategy, stage)

    def _ignore_condition(self, stage: Stage) -> Condition | None:
        """getIgnoreCondition: before the element's first event."""
        strategy = stage.strategy
        if self._head_of_group(stage):
            assert self.group is not None
            strategy = (self.group.strategy if self._is_first_of_loop()
                        else self.group.inner)
        return self._strategy_ignore(strategy, stage)

    def _strategy_ignore(self, strategy: str, stage: Stage) -> Condition | None:
        if strategy == SKIP_TILL_NEXT:
            return Not(self._take_condition(stage))
        if strategy == SKIP_TILL_ANY:
            return TRUE
        return None

    @staticmethod
    def _take_condition(stage: Stage) -> Condition:
        """getTakeCondition."""
        return Var(stage.variable)

    # ---- groups

    def _head_of_group(self, stage: Stage) -> bool:
        """headOfGroup."""
        return self.group is not None and stage.previous is None

    def _head_of_optional_group(self, stage: Stage) -> bool:
        """isHeadOfOptionalGroupPattern."""
        if not self._head_of_group(stage):
            return False
        assert self.group is not None
        return self._is_first_of_loop() and self.group.optional

    def _set_first_of_loop(self, value: bool) -> None:
        """setCurrentGroupPatternFirstOfLoop."""
        if self.current.group is not None:
            self.first_of_loop[id(self.current)] = value

    def _is_first_of_loop(self) -> bool:
        """isCurrentGroupPatternFirstOfLoop."""
        if self.group is None:
            return True
        return self.first_of_loop.get(id(self.group), True)
