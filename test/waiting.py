"""Waiting on something another process or thread does (a DDS message, a page update), with a deadline."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from contextlib import contextmanager


def wait_until(predicate, timeout_s: float, what: str, poll_s: float = 0.05):
    """The first truthy value of ``predicate()``; fails the test saying what never came."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def wait_at_rest(track: list, timeout_s: float, what: str = "the vehicle at rest") -> None:
    """Wait until the vehicle is still for half a second: ``track[-1]`` is its latest (position, velocity).

    A speed of zero at the far end of a braking overshoot, on its way back, is not at rest (that once read
    2.9 m of "drift" after a HOLD)."""
    import numpy as np

    def at_rest() -> bool:
        if np.linalg.norm(track[-1][1]) >= 0.1:
            return False
        before = track[-1][0]
        time.sleep(0.5)
        return np.linalg.norm(track[-1][1]) < 0.1 and float(np.linalg.norm(track[-1][0] - before)) < 0.05

    wait_until(at_rest, timeout_s, what)


@contextmanager
def spinning(executor, join_timeout_s: float = 5.0):
    """Spin a ROS executor on a background thread while the block runs (the test thread keeps asserting)."""
    stop = threading.Event()
    thread = threading.Thread(target=lambda: [executor.spin_once(timeout_sec=0.05) for _ in iter(stop.is_set, True)],
                              daemon=True)
    thread.start()
    try:
        yield executor
    finally:
        stop.set()
        thread.join(timeout=join_timeout_s)


def stop_process(process: subprocess.Popen, timeout_s: float = 15.0) -> int:
    """Ctrl-C a child (the way an operator stops it), kill it if it has not exited in time; its exit code."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
