"""Safety events: every reaction of the bridge, with a reason a director can read.

Why a separate record: the director page, the ROS node and the tests all need
to know *why* the drone stopped (link lost, geofence, controller failure), not
only that it did.  Events are plain data (JSON-ready via :meth:`as_dict`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True)
class SafetyEvent:
    """One reaction or state change: ``kind`` is a stable key, ``reason`` the sentence shown to people."""

    time_s: float  # wall clock (time.time()), so events from several processes line up
    kind: str
    reason: str
    severity: Severity = "info"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class EventLog:
    """Bounded, thread-safe event history with subscribers (the director page pushes them out)."""

    def __init__(self, max_events: int = 200) -> None:
        self._events: deque[SafetyEvent] = deque(maxlen=max_events)
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[SafetyEvent], None]] = []

    def record(self, kind: str, reason: str, severity: Severity = "info") -> SafetyEvent:
        event = SafetyEvent(time.time(), kind, reason, severity)
        with self._lock:
            self._events.append(event)
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:  # noqa: BLE001 -- a broken display must never break the safety path
                pass
        return event

    def subscribe(self, callback: Callable[[SafetyEvent], None]) -> None:
        with self._lock:
            self._subscribers.append(callback)

    def snapshot(self) -> list[SafetyEvent]:
        with self._lock:
            return list(self._events)

    def kinds(self) -> list[str]:
        return [event.kind for event in self.snapshot()]
