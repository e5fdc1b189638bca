"""Runs cases through FlinkCepOracle.java: one JVM for all of them, one JSON line in and one
out per case. A case that takes too long, or a JVM that dies, costs only that case: it is
reported as a "driver" error and the JVM is restarted for the rest."""

from __future__ import annotations

import json
import queue
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from typing import IO, Any

from .install import Installation, ensure_oracle
from .spec import Case

Result = dict[str, Any]


class FlinkOracle:
    def __init__(self, installation: Installation | None = None,
                 case_timeout: float = 10.0) -> None:
        self.installation = installation or ensure_oracle()
        self.case_timeout = case_timeout
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: IO[str] | None = None

    # ---- the JVM

    def _start(self) -> subprocess.Popen[str]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        # kept open for the JVM's life and closed in _kill (not a with-block)
        self._stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self._proc = subprocess.Popen(self.installation.command(), stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._stderr, text=True,
                                      bufsize=1)
        self._lines = queue.Queue()
        threading.Thread(target=self._pump, args=(self._proc, self._lines), daemon=True).start()
        return self._proc

    @staticmethod
    def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()[-2000:]

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> FlinkOracle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- cases

    def run_json(self, case_json: dict[str, Any]) -> Result:
        """One case (the driver's input object) -> its result object."""
        proc = self._start()
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(case_json) + "\n")
            proc.stdin.flush()
            line = self._lines.get(timeout=self.case_timeout)
        except queue.Empty:
            self._kill()
            return {"id": case_json.get("id"), "phase": "driver",
                    "error": f"timeout: no answer within {self.case_timeout:.0f} s"}
        except OSError as error:
            tail = self._stderr_tail()
            self._kill()
            return {"id": case_json.get("id"), "phase": "driver",
                    "error": f"the JVM is gone ({error}): {tail}"}
        if line is None:
            tail = self._stderr_tail()
            self._kill()
            return {"id": case_json.get("id"), "phase": "driver",
                    "error": f"the JVM died: {tail}"}
        result: Result = json.loads(line)
        if result.get("id") != case_json.get("id") and result.get("phase") != "driver":
            raise RuntimeError(f"driver answered {result.get('id')!r} "
                               f"for case {case_json.get('id')!r}")
        return result

    def run(self, case: Case) -> Result:
        return self.run_json(case.flink_json())

    def run_all(self, cases: Iterable[Case]) -> list[Result]:
        return [self.run(c) for c in cases]
