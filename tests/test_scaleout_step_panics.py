"""engine/scaleout/step_panics.py: while a dataflow runs, what is written to descriptor 2
passes on, except Rust's panic messages, which are held and dropped when the run ends
with a job error that frys says itself."""

from __future__ import annotations

import os

import pytest

from frys.engine.scaleout.step_panics import HeldPanics

PANIC = (b"thread '<unnamed>' panicked at src/outputs.rs:332:45:\nBox<dyn Any>\n"
         b"note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n")
BACKTRACE = (b"thread 'timely:work-0' panicked at src/inputs.rs:10:5:\nboom\n"
             b"stack backtrace:\n   0: std::panicking::begin_panic\n"
             b"note: Some details are omitted, run with `RUST_BACKTRACE=full`\n")


@pytest.mark.parametrize("drop", [True, False], ids=["job error", "other failure"])
def test_from_a_panic_message_on_everything_is_held(capfd: pytest.CaptureFixture[str],
                                                    drop: bool) -> None:
    with HeldPanics() as panics:
        os.write(2, b"a warning\n")
        os.write(2, b"progress 50%\r")  # a progress line passes at once
        os.write(2, PANIC[:20])  # a message written in pieces is still recognised
        os.write(2, PANIC[20:])
        os.write(2, BACKTRACE)
        os.write(2, b"after\n")
        panics.drop = drop
    err = capfd.readouterr().err
    if drop:
        assert err == "a warning\nprogress 50%\r"
    else:  # not a job error's: what was held says what went wrong, in its order
        assert err == "a warning\nprogress 50%\r" + (PANIC + BACKTRACE + b"after\n").decode()


def test_bytewax_s_own_panic_messages_are_held(capfd: pytest.CaptureFixture[str]) -> None:
    """In a cluster, bytewax's panic hook writes a panic as a Python error."""
    with HeldPanics() as panics:
        os.write(2, b"RuntimeError: (src/run.rs:292:17) panicked at /x/bytes_exchange.rs:55:48:"
                    b"\nMergeQueue poisoned.\n")
        panics.drop = True
    assert capfd.readouterr().err == ""


def test_a_message_started_after_a_carriage_return_in_pieces_is_held(
        capfd: pytest.CaptureFixture[str]) -> None:
    with HeldPanics() as panics:
        os.write(2, b"th")  # a line still being written waits for its end
        os.write(2, b"at is all\n")
        os.write(2, b"progress 99%\rthread '<unn")  # cut inside the message's first words
        os.write(2, PANIC[len(b"thread '<unn"):])
        panics.drop = True
    assert capfd.readouterr().err == "that is all\nprogress 99%\r"
    assert b"".join(panics.held) == PANIC


def test_stderr_is_itself_again_after(capfd: pytest.CaptureFixture[str]) -> None:
    before = os.fstat(2)
    with HeldPanics():
        os.write(2, b"through\n")
        os.write(2, b"a last line without its end, ")  # passed on at the close
    after = os.fstat(2)
    assert (before.st_ino, before.st_dev) == (after.st_ino, after.st_dev)
    os.write(2, b"direct\n")
    assert capfd.readouterr().err == "through\na last line without its end, direct\n"


def test_a_cluster_process_stays_quiet_after_a_job_error_but_for_frys(
        capfd: pytest.CaptureFixture[str]) -> None:
    """bytewax's panic hook outlives the run: a process of a cluster whose run ended with
    a job error shuts descriptor 2 and sys.stderr, and says the error through said_to()."""
    import sys

    from frys.engine.scaleout import step_panics

    real_fd, real_stream = os.dup(2), sys.stderr
    try:
        with HeldPanics(quiet_after_drop=True) as panics:
            os.write(2, PANIC)
            panics.drop = True
        os.write(2, b"RuntimeError: (src/run.rs:292:17) panicked at late\n")  # after it
        print("late, through Python", file=sys.stderr)
        print("the job's error", file=step_panics.said_to())
        step_panics.said_to().flush()
    finally:
        said = step_panics._said_to
        step_panics._said_to = None
        if said is not None:
            said.close()
        sys.stderr.close()
        sys.stderr = real_stream
        os.dup2(real_fd, 2)
        os.close(real_fd)
    assert capfd.readouterr().err == "the job's error\n"
    assert step_panics.said_to() is sys.stderr  # (no run has shut it)
