"""AFTER MATCH skip strategies as small objects (Flink's AfterMatchSkipStrategy).

After a match is emitted, a strategy names a pruning event (by its order in the partition)
and discards every partial and pending match whose first event `prunes` says it must:

| strategy              | pruning event              | discards matches starting |
|-----------------------|----------------------------|---------------------------|
| NO SKIP               | none                       | nothing                   |
| SKIP TO NEXT EVENT    | the match's first event    | at or before it           |
| SKIP PAST LAST EVENT  | the match's last event     | at or before it           |
| SKIP TO FIRST v       | v's first event            | before it                 |
| SKIP TO LAST v        | v's last event             | before it                 |

When the match bound no event to v, SKIP TO FIRST/LAST v discards nothing for it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from frys.dsl import ast
from frys.operators.pattern.automaton import Automaton


class SkipStrategy(ABC):
    skips = True

    @abstractmethod
    def pruning_seq(self, last: int, buffer, automaton: Automaton) -> int | None:
        """The order of the pruning event of the match ending at node `last` of `buffer`
        (an nfa.SharedBuffer)."""

    @staticmethod
    def prunes(start_seq: int, pruning: int) -> bool:
        return start_seq <= pruning


class NoSkip(SkipStrategy):
    skips = False

    def pruning_seq(self, last: int, buffer, automaton: Automaton) -> int | None:
        return None


class SkipToNextEvent(SkipStrategy):
    def pruning_seq(self, last: int, buffer, automaton: Automaton) -> int | None:
        return buffer.event_seq(buffer.first(last))


class SkipPastLastEvent(SkipStrategy):
    def pruning_seq(self, last: int, buffer, automaton: Automaton) -> int | None:
        return buffer.event_seq(last)


class SkipToVariable(SkipStrategy):
    """SKIP TO FIRST v (`first`) or SKIP TO LAST v."""

    def __init__(self, variable: str, first: bool) -> None:
        self.variable = variable
        self.first = first

    def pruning_seq(self, last: int, buffer, automaton: Automaton) -> int | None:
        index = automaton.variable_names.index(self.variable)
        found = None
        node = last
        while node >= 0:
            if buffer.node_variable[node] == index:
                found = buffer.event_seq(node)
                if not self.first:
                    return found  # walking backwards: the first seen is v's last
            node = buffer.node_previous[node]
        return found

    @staticmethod
    def prunes(start_seq: int, pruning: int) -> bool:
        return start_seq < pruning


def strategy_for(after_match: ast.AfterMatch | None) -> SkipStrategy:
    """The strategy of an AFTER MATCH clause (default: SKIP PAST LAST EVENT)."""
    if after_match is None or after_match.strategy == "SKIP PAST LAST EVENT":
        return SkipPastLastEvent()
    if after_match.strategy == "SKIP TO NEXT EVENT":
        return SkipToNextEvent()
    if after_match.strategy == "NO SKIP":
        return NoSkip()
    assert after_match.variable is not None
    return SkipToVariable(after_match.variable, after_match.strategy == "SKIP TO FIRST")
