// The Flink side of the differential fuzzer (tests/flink_oracle/README.md).
//
// Reads one case per line on stdin (JSON, written by tests/flink_oracle/spec.py), builds the
// Flink CEP Pattern it describes, runs the events through Flink's own NFA and writes one
// result line per case on stdout:
//
//   {"id": ..., "held": n, "matches": [{"a": [0], "b": [1, 2]}, ...]}  (event ids, emission order;
//       held: completed matches Flink still holds back at the end, never emitted)
//   {"id": ..., "error": "<class>: <message>", "phase": "compile"|"run"}
//
// An input line: {"id", "pattern": {"skip", "within", "elements"}, "partition", "events",
// optionally "flush_held": true (a diagnostic: also emit what Flink holds back at the end)};
// see Pattern.flink_json in spec.py.
//
// No cluster and no MiniCluster: the NFA is driven directly, as Flink's NFA tests do, and events
// are fed exactly as CepOperator.onEventTime feeds them: per key an NFAState and a SharedBuffer;
// events in timestamp order (equal timestamps in arrival order); for each distinct timestamp
// first advanceTime(ts), then process(event) for each of its events; at the end
// advanceTime(Long.MAX_VALUE), the final watermark. Matches returned by advanceTime count too
// (a pattern ending in notFollowedBy completes there).
//
// The NFA's event type is Long: the event's id. Conditions look the event up in the current
// case's table, so the SharedBuffer only ever stores Longs (LongSerializer).

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.api.common.state.AggregatingState;
import org.apache.flink.api.common.state.AggregatingStateDescriptor;
import org.apache.flink.api.common.state.KeyedStateStore;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ReducingState;
import org.apache.flink.api.common.state.ReducingStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeutils.base.LongSerializer;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.cep.nfa.ComputationState;
import org.apache.flink.cep.nfa.NFA;
import org.apache.flink.cep.nfa.NFAState;
import org.apache.flink.cep.nfa.aftermatch.AfterMatchSkipStrategy;
import org.apache.flink.cep.nfa.compiler.NFACompiler;
import org.apache.flink.cep.nfa.sharedbuffer.EventId;
import org.apache.flink.cep.nfa.sharedbuffer.SharedBuffer;
import org.apache.flink.cep.nfa.sharedbuffer.SharedBufferAccessor;
import org.apache.flink.cep.pattern.Pattern;
import org.apache.flink.cep.pattern.WithinType;
import org.apache.flink.cep.pattern.conditions.IterativeCondition;
import org.apache.flink.cep.time.TimerService;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;

public final class FlinkCepOracle {

    private static final ObjectMapper JSON = new ObjectMapper();

    // ------------------------------------------------------------------ events and conditions

    static final class Event {
        final long id;
        final String k;
        final String name;
        final double price;
        final long ts;

        Event(JsonNode n) {
            id = n.get("id").asLong();
            k = n.get("k").asText();
            name = n.get("name").asText();
            price = n.get("price").asDouble();
            ts = n.get("ts").asLong();
        }

        Object field(String f) {
            switch (f) {
                case "name": return name;
                case "k": return k;
                case "price": return price;
                case "id": return (double) id;
                case "ts": return (double) ts;
                default: throw new IllegalArgumentException("unknown field " + f);
            }
        }
    }

    /** The events of the case being run, by id (conditions see only ids). */
    static Map<Long, Event> events = new HashMap<>();

    /** A condition over the current event and, for "ref", the last event of an earlier variable. */
    static final class Cond extends IterativeCondition<Long> {
        private static final long serialVersionUID = 1L;
        final JsonNode spec;

        Cond(JsonNode spec) {
            this.spec = spec;
        }

        @Override
        public boolean filter(Long id, Context<Long> ctx) throws Exception {
            return eval(spec, events.get(id), ctx);
        }

        static boolean eval(JsonNode c, Event e, Context<Long> ctx) throws Exception {
            String op = c.get("op").asText();
            switch (op) {
                case "true":
                    return true;
                case "and":
                    for (JsonNode a : c.get("args")) {
                        if (!eval(a, e, ctx)) {
                            return false;
                        }
                    }
                    return true;
                case "or":
                    for (JsonNode a : c.get("args")) {
                        if (eval(a, e, ctx)) {
                            return true;
                        }
                    }
                    return false;
                case "not":
                    return !eval(c.get("arg"), e, ctx);
                case "in": {
                    Object v = e.field(c.get("field").asText());
                    for (JsonNode x : c.get("values")) {
                        if (equal(v, x)) {
                            return true;
                        }
                    }
                    return false;
                }
                case "cmp":
                    return compare(e.field(c.get("field").asText()), c.get("cmp").asText(),
                            c.get("value"));
                case "ref": {
                    // the current event's field against the last event bound to an earlier variable
                    Event last = null;
                    for (Long other : ctx.getEventsForPattern(c.get("var").asText())) {
                        last = events.get(other);
                    }
                    if (last == null) {
                        return false;
                    }
                    Object right = last.field(c.get("refField").asText());
                    JsonNode rightNode = right instanceof String
                            ? JSON.getNodeFactory().textNode((String) right)
                            : JSON.getNodeFactory().numberNode((Double) right);
                    return compare(e.field(c.get("field").asText()), c.get("cmp").asText(),
                            rightNode);
                }
                default:
                    throw new IllegalArgumentException("unknown condition op " + op);
            }
        }

        static boolean equal(Object v, JsonNode x) {
            return v instanceof String ? v.equals(x.asText()) : ((Double) v) == x.asDouble();
        }

        static boolean compare(Object left, String cmp, JsonNode right) {
            int order = left instanceof String
                    ? Integer.signum(((String) left).compareTo(right.asText()))
                    : Double.compare((Double) left, right.asDouble());
            switch (cmp) {
                case "=": return order == 0;
                case "<>": return order != 0;
                case "<": return order < 0;
                case "<=": return order <= 0;
                case ">": return order > 0;
                case ">=": return order >= 0;
                default: throw new IllegalArgumentException("unknown comparison " + cmp);
            }
        }
    }

    // ------------------------------------------------------------------ pattern construction

    static AfterMatchSkipStrategy skip(JsonNode s) {
        String kind = s.get("kind").asText();
        switch (kind) {
            case "no_skip": return AfterMatchSkipStrategy.noSkip();
            case "skip_to_next": return AfterMatchSkipStrategy.skipToNext();
            case "skip_past_last": return AfterMatchSkipStrategy.skipPastLastEvent();
            case "skip_to_first": return AfterMatchSkipStrategy.skipToFirst(s.get("var").asText());
            case "skip_to_last": return AfterMatchSkipStrategy.skipToLast(s.get("var").asText());
            default: throw new IllegalArgumentException("unknown skip strategy " + kind);
        }
    }

    /**
     * A chain of elements as a Pattern. The calls per element, in this order (spec.py renders
     * the same calls as Java text): contiguity (begin/next/followedBy/followedByAny/notNext/
     * notFollowedBy), where, quantifier, optional, consecutive/allowCombinations, greedy,
     * until, within(PREVIOUS_AND_CURRENT).
     */
    static Pattern<Long, Long> chain(JsonNode elements, AfterMatchSkipStrategy skip, JsonNode within) {
        Pattern<Long, Long> p = null;
        boolean between = within != null && !within.isNull()
                && "between".equals(within.get("kind").asText());
        for (JsonNode el : elements) {
            boolean group = "group".equals(el.get("kind").asText());
            String contiguity = el.get("contiguity").asText();
            Pattern<Long, Long> inner = group
                    ? chain(el.get("elements"), null, within) : null;
            String name = group ? null : el.get("name").asText();
            if (p == null) {
                if (group) {
                    p = skip == null ? Pattern.begin(inner) : Pattern.begin(inner, skip);
                } else {
                    p = skip == null ? Pattern.<Long>begin(name) : Pattern.<Long>begin(name, skip);
                }
            } else {
                switch (contiguity) {
                    case "next": p = group ? p.next(inner) : p.next(name); break;
                    case "followedBy": p = group ? p.followedBy(inner) : p.followedBy(name); break;
                    case "followedByAny":
                        p = group ? p.followedByAny(inner) : p.followedByAny(name); break;
                    case "notNext": p = p.notNext(name); break;
                    case "notFollowedBy": p = p.notFollowedBy(name); break;
                    default: throw new IllegalArgumentException("unknown contiguity " + contiguity);
                }
            }
            JsonNode cond = el.get("cond");
            if (!group && cond != null && !cond.isNull()) {
                p = p.where(new Cond(cond));
            }
            JsonNode q = el.get("quant");
            if (q != null && !q.isNull()) {
                String loop = q.get("loop").asText();
                switch (loop) {
                    case "one": break;
                    case "oneOrMore": p = p.oneOrMore(); break;
                    case "times": p = p.times(q.get("from").asInt()); break;
                    case "timesRange": p = p.times(q.get("from").asInt(), q.get("to").asInt()); break;
                    case "timesOrMore": p = p.timesOrMore(q.get("from").asInt()); break;
                    default: throw new IllegalArgumentException("unknown loop " + loop);
                }
                if (q.get("optional").asBoolean()) {
                    p = p.optional();
                }
                String innerContiguity = q.get("inner").asText();
                if ("consecutive".equals(innerContiguity)) {
                    p = p.consecutive();
                } else if ("allowCombinations".equals(innerContiguity)) {
                    p = p.allowCombinations();
                }
                if (q.get("greedy").asBoolean()) {
                    p = p.greedy();
                }
            }
            JsonNode until = el.get("until");
            if (until != null && !until.isNull()) {
                p = p.until(new Cond(until));
            }
            if (between) {
                p = p.within(Duration.ofMillis(within.get("ms").asLong()),
                        WithinType.PREVIOUS_AND_CURRENT);
            }
        }
        return p;
    }

    static Pattern<Long, Long> pattern(JsonNode spec) {
        JsonNode within = spec.get("within");
        Pattern<Long, Long> p = chain(spec.get("elements"), skip(spec.get("skip")), within);
        if (within != null && !within.isNull() && "first_last".equals(within.get("kind").asText())) {
            p = p.within(Duration.ofMillis(within.get("ms").asLong()));
        }
        return p;
    }

    // ------------------------------------------------------------------ in-memory keyed state

    /** A MapState over a LinkedHashMap: the heap state backend keeps objects, never copies. */
    static final class HeapMapState<K, V> implements MapState<K, V> {
        private final Map<K, V> map = new LinkedHashMap<>();

        @Override public V get(K key) { return map.get(key); }
        @Override public void put(K key, V value) { map.put(key, value); }
        @Override public void putAll(Map<K, V> all) { map.putAll(all); }
        @Override public void remove(K key) { map.remove(key); }
        @Override public boolean contains(K key) { return map.containsKey(key); }
        @Override public Iterable<Map.Entry<K, V>> entries() { return map.entrySet(); }
        @Override public Iterable<K> keys() { return map.keySet(); }
        @Override public Iterable<V> values() { return map.values(); }
        @Override public Iterator<Map.Entry<K, V>> iterator() { return map.entrySet().iterator(); }
        @Override public boolean isEmpty() { return map.isEmpty(); }
        @Override public void clear() { map.clear(); }
    }

    /** One key's state: SharedBuffer only asks for MapStates (by descriptor name). */
    static final class HeapKeyedStateStore implements KeyedStateStore {
        private final Map<String, HeapMapState<?, ?>> maps = new HashMap<>();

        @SuppressWarnings("unchecked")
        @Override
        public <UK, UV> MapState<UK, UV> getMapState(MapStateDescriptor<UK, UV> d) {
            return (MapState<UK, UV>) maps.computeIfAbsent(d.getName(), n -> new HeapMapState<>());
        }

        private static UnsupportedOperationException unused(String what) {
            return new UnsupportedOperationException("oracle state store: no " + what);
        }

        @Override public <T> ValueState<T> getState(ValueStateDescriptor<T> d) { throw unused("ValueState"); }
        @Override public <T> ListState<T> getListState(ListStateDescriptor<T> d) { throw unused("ListState"); }
        @Override public <T> ReducingState<T> getReducingState(ReducingStateDescriptor<T> d) {
            throw unused("ReducingState");
        }
        @Override public <I, A, O> AggregatingState<I, O> getAggregatingState(
                AggregatingStateDescriptor<I, A, O> d) {
            throw unused("AggregatingState");
        }
        @Override public <T> org.apache.flink.api.common.state.v2.ValueState<T> getValueState(
                org.apache.flink.api.common.state.v2.ValueStateDescriptor<T> d) {
            throw unused("v2 ValueState");
        }
        @Override public <T> org.apache.flink.api.common.state.v2.ListState<T> getListState(
                org.apache.flink.api.common.state.v2.ListStateDescriptor<T> d) {
            throw unused("v2 ListState");
        }
        @Override public <UK, UV> org.apache.flink.api.common.state.v2.MapState<UK, UV> getMapState(
                org.apache.flink.api.common.state.v2.MapStateDescriptor<UK, UV> d) {
            throw unused("v2 MapState");
        }
        @Override public <T> org.apache.flink.api.common.state.v2.ReducingState<T> getReducingState(
                org.apache.flink.api.common.state.v2.ReducingStateDescriptor<T> d) {
            throw unused("v2 ReducingState");
        }
        @Override public <I, A, O> org.apache.flink.api.common.state.v2.AggregatingState<I, O>
                getAggregatingState(org.apache.flink.api.common.state.v2.AggregatingStateDescriptor<I, A, O> d) {
            throw unused("v2 AggregatingState");
        }
        @Override public String getBackendTypeIdentifier() { return "frys-oracle-heap"; }
    }

    // ------------------------------------------------------------------ running a case

    static final TimerService TIMER = () -> 0L;

    /**
     * Runs one key's events (already in arrival order) through its own NFAState and buffer.
     * Returns how many completed matches Flink still holds at the end: with a skip strategy a
     * completed match waits for every partial match that started before it, and one that never
     * ends (no window) keeps it waiting for ever. With flushHeld (a diagnostic, not Flink's
     * behaviour) those are emitted too, earliest first, pruning each other as Flink would.
     */
    static int runKey(NFA<Long> nfa, AfterMatchSkipStrategy skip, List<Event> keyEvents,
                      List<Map<String, List<Long>>> out, boolean flushHeld) throws Exception {
        List<Event> sorted = new ArrayList<>(keyEvents);
        sorted.sort((x, y) -> Long.compare(x.ts, y.ts)); // List.sort is stable
        NFAState state = nfa.createInitialNFAState();
        SharedBuffer<Long> buffer = new SharedBuffer<>(new HeapKeyedStateStore(), LongSerializer.INSTANCE);
        try {
            int i = 0;
            while (i < sorted.size()) {
                long ts = sorted.get(i).ts;
                advance(nfa, state, buffer, ts, skip, out);
                for (; i < sorted.size() && sorted.get(i).ts == ts; i++) {
                    try (SharedBufferAccessor<Long> accessor = buffer.getAccessor()) {
                        out.addAll(nfa.process(accessor, state, sorted.get(i).id, ts, skip, TIMER));
                    }
                }
            }
            advance(nfa, state, buffer, Long.MAX_VALUE, skip, out);
            int held = state.getCompletedMatches().size();
            if (flushHeld) {
                try (SharedBufferAccessor<Long> accessor = buffer.getAccessor()) {
                    ComputationState match;
                    while ((match = state.getCompletedMatches().poll()) != null) {
                        List<Map<String, List<EventId>>> found =
                                accessor.extractPatterns(match.getPreviousBufferEntry(), match.getVersion());
                        skip.prune(state.getCompletedMatches(), found, accessor);
                        out.add(accessor.materializeMatch(found.get(0)));
                        accessor.releaseNode(match.getPreviousBufferEntry(), match.getVersion());
                    }
                }
            }
            return held;
        } finally {
            buffer.releaseCacheStatisticsTimer(); // a non-daemon Timer thread per buffer
        }
    }

    static void advance(NFA<Long> nfa, NFAState state, SharedBuffer<Long> buffer, long ts,
                        AfterMatchSkipStrategy skip, List<Map<String, List<Long>>> out) throws Exception {
        try (SharedBufferAccessor<Long> accessor = buffer.getAccessor()) {
            Tuple2<Collection<Map<String, List<Long>>>, Collection<Tuple2<Map<String, List<Long>>, Long>>> r =
                    nfa.advanceTime(accessor, state, ts, skip);
            out.addAll(r.f0);
        }
    }

    static String describe(Throwable t) {
        StringBuilder text = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c != t) {
                text.append(" / caused by: ");
            }
            String message = c.getMessage();
            text.append(c.getClass().getName()).append(": ").append(message == null ? "" : message);
            StackTraceElement[] at = c.getStackTrace();
            if (c.getCause() == null && at.length > 0) {
                text.append(" (at ").append(at[0]).append(")");
            }
        }
        return text.toString();
    }

    static ObjectNode runCase(JsonNode c) {
        ObjectNode result = JSON.createObjectNode();
        result.set("id", c.get("id"));
        events = new HashMap<>();
        Map<String, List<Event>> byKey = new LinkedHashMap<>();
        boolean partition = c.path("partition").asBoolean(false);
        for (JsonNode n : c.get("events")) {
            Event e = new Event(n);
            events.put(e.id, e);
            byKey.computeIfAbsent(partition ? e.k : "", k -> new ArrayList<>()).add(e);
        }
        NFA<Long> nfa;
        AfterMatchSkipStrategy skip;
        try {
            Pattern<Long, Long> p = pattern(c.get("pattern"));
            skip = p.getAfterMatchSkipStrategy();
            nfa = NFACompiler.compileFactory(p, false).createNFA();
        } catch (Exception | Error e) {
            result.put("error", describe(e));
            result.put("phase", "compile");
            return result;
        }
        List<Map<String, List<Long>>> matches = new ArrayList<>();
        boolean flushHeld = c.path("flush_held").asBoolean(false);
        int held = 0;
        try {
            for (List<Event> keyEvents : byKey.values()) {
                held += runKey(nfa, skip, keyEvents, matches, flushHeld);
            }
        } catch (Exception | Error e) {
            result.put("error", describe(e));
            result.put("phase", "run");
            return result;
        }
        result.put("held", held);
        ArrayNode ms = result.putArray("matches");
        for (Map<String, List<Long>> m : matches) {
            ObjectNode o = ms.addObject();
            for (Map.Entry<String, List<Long>> v : m.entrySet()) {
                ArrayNode ids = o.putArray(v.getKey());
                for (Long id : v.getValue()) {
                    ids.add(id);
                }
            }
        }
        return result;
    }

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintWriter out = new PrintWriter(new BufferedWriter(
                new OutputStreamWriter(System.out, StandardCharsets.UTF_8)));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            ObjectNode result;
            try {
                result = runCase(JSON.readTree(line));
            } catch (Exception | Error e) { // a malformed case line: report it, keep going
                result = JSON.createObjectNode();
                result.putNull("id");
                StringWriter trace = new StringWriter();
                e.printStackTrace(new PrintWriter(trace));
                result.put("error", describe(e));
                result.put("phase", "driver");
                result.put("trace", trace.toString());
            }
            out.println(JSON.writeValueAsString(result));
            out.flush();
        }
    }
}
