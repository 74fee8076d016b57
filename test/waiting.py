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
