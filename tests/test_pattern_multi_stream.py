"""Patterns over several streams: FROM a, b merges their events in event-time order per
partition; a typed variable takes only its stream's events; the query's watermark is the
minimum of its inputs', so an event of the slower stream is never late because the other ran
ahead."""

from __future__ import annotations

import frys

STREAMS = """
CREATE STREAM logins (user STRING, ok BOOL, country STRING, ts TIMESTAMP)
    WITH (event_time = ts);
CREATE STREAM payments (user STRING, amount FLOAT, country STRING, ts TIMESTAMP)
    WITH (event_time = ts);
"""
FRAUD = STREAMS + """
SELECT a.user, a.ts AS first_failure, COUNT(f) + 1 AS failures, p.amount, MATCH_IDS
FROM logins, payments
PARTITION BY user
PATTERN (a:logins f:logins{2,} -> p:payments) WITHIN 10 MINUTES
DEFINE a AS a.ok = false,
       f AS f.ok = false,
       p AS p.amount > 1000 AND p.country <> a.country
AFTER MATCH SKIP PAST LAST EVENT;
"""


def login(user: str, ts: int, ok: bool = False, country: str = "SE") -> dict:
    return {"user": user, "ok": ok, "country": country, "ts": ts}


def payment(user: str, ts: int, amount: float, country: str) -> dict:
    return {"user": user, "amount": amount, "country": country, "ts": ts}


def test_the_language_md_fraud_example() -> None:
    pipeline = frys.Pipeline.from_text(FRAUD)
    pipeline.publish("logins", [login("u", 1000), login("u", 2000), login("u", 3000),
                                login("v", 1000), login("v", 2000), login("v", 3000),
                                login("w", 1000), login("w", 2000, ok=True)])
    pipeline.publish("payments", [payment("u", 5000, 5000.0, "US"),   # fraud
                                  payment("v", 5000, 5000.0, "SE"),   # same country
                                  payment("w", 5000, 5000.0, "US")])  # one failure only
    pipeline.finish()
    rows = pipeline.results("select_1").to_dicts()
    assert [(r["user"], r["failures"], r["amount"]) for r in rows] == [("u", 3, 5000.0)]
    assert rows[0]["match_ids"] == ["logins:0", "logins:1", "logins:2", "payments:0"]


def test_events_of_two_streams_are_matched_in_event_time_order_not_arrival_order() -> None:
    # the payment arrives first but happens last: the pattern still sees a, f, f, p
    pipeline = frys.Pipeline.from_text(FRAUD)
    pipeline.publish("payments", [payment("u", 5000, 5000.0, "US")])
    pipeline.publish("logins", [login("u", 1000), login("u", 2000), login("u", 3000)])
    assert pipeline.results("select_1").height == 0  # logins' watermark (3 s) holds it back
    pipeline.publish("logins", [login("x", 6000)])   # logins' watermark passes the payment,
    assert pipeline.results("select_1").height == 0  # payments' stands at it: it waits
    pipeline.publish("payments", [payment("x", 7000, 1.0, "SE")])  # now both have passed it
    assert pipeline.results("select_1")["user"].to_list() == ["u"]
    assert pipeline.stats.total_late_events == 0


def test_a_typed_variable_never_takes_the_other_streams_events() -> None:
    # payments have no `ok`: were p allowed to take logins, the login at 4 s would be p
    job = STREAMS + """
        SELECT a.ts AS a_ts, p.ts AS p_ts FROM logins, payments PARTITION BY user
        PATTERN (a:logins -> p:payments) DEFINE a AS a.ok = false;
    """
    pipeline = frys.Pipeline.from_text(job)
    pipeline.publish("logins", [login("u", 1000), login("u", 4000, ok=True)])
    pipeline.publish("payments", [payment("u", 5000, 10.0, "SE")])
    pipeline.finish()
    rows = pipeline.results("select_1")
    assert [d.timestamp() for d in rows["p_ts"].to_list()] == [5.0]
    assert [d.timestamp() for d in rows["a_ts"].to_list()] == [1.0]


def test_the_query_waits_for_its_slowest_input() -> None:
    job = STREAMS + """
        SELECT a.user FROM logins, payments PARTITION BY user
        PATTERN (a:logins p:payments) DEFINE p AS p.amount > 0;
    """
    pipeline = frys.Pipeline.from_text(job)
    pipeline.publish("logins", [login("u", 1000), login("u", 9000)])
    # logins are at 9 s, payments at nothing: the payment at 2 s may still come
    pipeline.publish("payments", [payment("u", 2000, 1.0, "SE")])
    pipeline.finish()
    # strict: the payment at 2 s is the very next event after the login at 1 s
    assert pipeline.results("select_1")["user"].to_list() == ["u"]


def test_each_streams_late_events_go_to_its_own_late_stream() -> None:
    """Over several streams, an event at or behind the query's watermark is late; it goes to
    the `late` stream of the stream it came from, with its fields (or is only counted)."""
    pipeline = frys.Pipeline.from_text("""
        CREATE STREAM logins (user STRING, ok BOOL, country STRING, ts TIMESTAMP)
            WITH (event_time = ts, late = late_logins);
        CREATE STREAM payments (user STRING, amount FLOAT, country STRING, ts TIMESTAMP)
            WITH (event_time = ts, late = late_payments);
        CREATE STREAM late_logins;
        CREATE STREAM late_payments;
        SELECT a.user, p.amount FROM logins, payments PARTITION BY user
        PATTERN (a:logins -> p:payments) DEFINE a AS a.ok = false, p AS p.amount > 10;
    """)
    late_logins = pipeline.runtime.collect("late_logins")
    late_payments = pipeline.runtime.collect("late_payments")
    pipeline.publish("logins", [login("u", 1000), login("u", 5000)])
    pipeline.publish("payments", [payment("u", 6000, 50.0, "SE")])
    # the query's watermark is now 5000 (the minimum of logins' 5000 and payments' 6000)
    pipeline.publish("logins", [login("late", 4000)])
    pipeline.publish("payments", [payment("late", 3000, 99.0, "NO")])
    pipeline.finish()
    assert pipeline.results("select_1").rows() == [("u", 50.0)]
    logins_frame = late_logins.frame(pipeline.runtime.topics["late_logins"].schema or {})
    payments_frame = late_payments.frame(pipeline.runtime.topics["late_payments"].schema or {})
    assert logins_frame.select("user", "ts").rows()[0][0] == "late"
    assert logins_frame.height == 1
    assert payments_frame.select("user", "amount").rows() == [("late", 99.0)]
    assert pipeline.stats.total_late_events == 2
