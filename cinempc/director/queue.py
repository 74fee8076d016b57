"""The shot queue: what is being flown now, what comes next, and how far along it is.

A director thinks in a timeline ("push in, then orbit, then pull back"), the MPC
in one ShotSpec at a time.  This queue turns the first into the second, on the
*control loop's* clock (simulated or real time, given to :meth:`ShotQueue.advance`)
so progress is right even when the simulator runs faster or slower than the wall.

Rules (where the issue was silent, chosen for a calm set):
- a shot with ``duration_s`` lasts that long; a shot without one lasts
  ``default_shot_duration_s`` when another shot waits behind it, and is open
  ended when it is the last;
- when the last timed shot runs out, it keeps being flown ("overtime") rather
  than stopping the camera mid-take -- the director ends a take with a new
  shot, HOLD or abort;
- HOLD freezes the queue clock; RESUME continues the same shot where it was.

Not thread-safe by itself: :class:`cinempc.director.live.LiveHub` serialises access.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from cinempc.shot import ShotSpec

FRAMING_ABBREVIATION = {
    "extreme_wide": "EWS", "wide": "WS", "full": "FS", "medium_wide": "MWS", "medium": "MS",
    "medium_close_up": "MCU", "close_up": "CU", "extreme_close_up": "ECU",
}


def describe_shot(shot: ShotSpec) -> str:
    """A one-line label in a script supervisor's shorthand: ``MCU #2 · dolly in slow · left third``."""
    parts = [FRAMING_ABBREVIATION.get(shot.framing, shot.framing), " ".join(shot.subjects)]
    move = shot.movement
    words = move.type.replace("_", " ")
    if move.type != "static":
        if move.direction:
            words += f" {'cw' if move.direction == 'clockwise' else 'ccw'}"
        words += f" {move.speed_mps:g} m/s" if move.speed_mps is not None else f" {move.speed}"
    parts.append(words)
    if shot.angle != "eye_level":
        parts.append(f"{shot.angle} angle")
    if shot.side != "front":
        parts.append(f"from {shot.side.replace('_', ' ')}")
    if shot.screen_position != "center":
        parts.append(shot.screen_position.replace("_", " "))
    if shot.focus.depth_of_field != "normal":
        parts.append(f"{shot.focus.depth_of_field} DoF")
    if shot.focus.rack_to:
        parts.append(f"rack to {shot.focus.rack_to}")
    if shot.lens.focal_length_mm:
        parts.append(f"{shot.lens.focal_length_mm:g} mm")
    label = " · ".join(parts)
    return f"{shot.name}: {label}" if shot.name else label


@dataclass
class QueuedShot:
    """One entry of the timeline."""

    id: int
    shot: ShotSpec
    source: str  # what the director typed or pressed
    started_at_s: float | None = None
    paused_s: float = 0.0  # time spent on HOLD during this shot
    paused_since_s: float | None = None

    def elapsed_s(self, now_s: float) -> float:
        """Shot time flown so far (HOLD time excluded)."""
        if self.started_at_s is None:
            return 0.0
        held = self.paused_s + (now_s - self.paused_since_s if self.paused_since_s is not None else 0.0)
        return max(0.0, now_s - self.started_at_s - held)


@dataclass
class ShotQueue:
    """The director's timeline on the control loop's clock."""

    default_shot_duration_s: float = 8.0
    done_length: int = 10
    _entries: deque[QueuedShot] = field(default_factory=deque)
    _done: deque[QueuedShot] = field(default_factory=deque)
    _next_id: int = 1
    _paused: bool = False
    _now_s: float = 0.0
    _version: int = 0

    # ---------------------------------------------------------------- edits

    def replace(self, shots: list[ShotSpec], source: str) -> list[QueuedShot]:
        """A new sequence that starts at the next control step (what typing a command does)."""
        if not shots:
            raise ValueError("a shot sequence needs at least one shot")
        if self._entries and self._entries[0].started_at_s is not None:
            self._retire(self._entries[0])
        self._entries.clear()
        return self.append(shots, source)

    def append(self, shots: list[ShotSpec], source: str) -> list[QueuedShot]:
        """Shots after the last queued one."""
        added = []
        for shot in shots:
            if not isinstance(shot, ShotSpec):
                raise TypeError(f"the shot queue takes ShotSpec objects, got {type(shot).__name__}")
            entry = QueuedShot(id=self._next_id, shot=shot, source=source)
            self._next_id += 1
            self._entries.append(entry)
            added.append(entry)
        self._version += 1
        return added

    def skip(self) -> QueuedShot | None:
        """Drop the current shot (the next starts at the next step); the last shot is never dropped."""
        if len(self._entries) < 2:
            return None
        entry = self._entries.popleft()
        self._retire(entry)
        self._version += 1
        return entry

    def clear_upcoming(self) -> int:
        """Forget every shot after the current one; returns how many were dropped."""
        dropped = max(0, len(self._entries) - 1)
        while len(self._entries) > 1:
            self._entries.pop()
        self._version += 1 if dropped else 0
        return dropped

    def clear(self) -> None:
        """Empty the queue (abort): the loop then flies no director shot."""
        if self._entries and self._entries[0].started_at_s is not None:
            self._retire(self._entries[0])
        self._entries.clear()
        self._version += 1

    # ------------------------------------------------------------- the clock

    def pause(self, now_s: float) -> None:
        """HOLD: freeze the current shot's clock."""
        self._now_s = now_s
        if not self._paused:
            self._paused = True
            current = self.current
            if current is not None and current.started_at_s is not None:
                current.paused_since_s = now_s
            self._version += 1

    def resume(self, now_s: float) -> None:
        """RESUME: continue the current shot where HOLD stopped it."""
        self._now_s = now_s
        if self._paused:
            self._paused = False
            current = self.current
            if current is not None and current.paused_since_s is not None:
                current.paused_s += now_s - current.paused_since_s
                current.paused_since_s = None
            self._version += 1

    @property
    def paused(self) -> bool:
        return self._paused

    def advance(self, now_s: float) -> tuple[QueuedShot | None, bool]:
        """Move the timeline to ``now_s``: returns the shot to fly and whether it changed since the last call."""
        self._now_s = now_s
        if self._paused:
            return self.current, False
        changed = False
        while self._entries:
            head = self._entries[0]
            if head.started_at_s is None:
                head.started_at_s = now_s
                changed = True
            duration = self.duration_s(head)
            if duration is not None and head.elapsed_s(now_s) >= duration and len(self._entries) > 1:
                # start the next one where this one ended, not one step late
                overshoot = head.elapsed_s(now_s) - duration
                self._retire(self._entries.popleft())
                self._entries[0].started_at_s = now_s - overshoot
                changed = True
                continue
            break
        if changed:
            self._version += 1
        return self.current, changed

    # --------------------------------------------------------------- reading

    @property
    def current(self) -> QueuedShot | None:
        return self._entries[0] if self._entries else None

    @property
    def current_shot(self) -> ShotSpec | None:
        """What relative edits ("tighter", "slower") apply to."""
        return self._entries[0].shot if self._entries else None

    @property
    def last_shot(self) -> ShotSpec | None:
        """What an appended relative edit applies to."""
        return self._entries[-1].shot if self._entries else None

    @property
    def version(self) -> int:
        """Changes whenever the timeline changes (so pushes can skip unchanged state)."""
        return self._version

    def duration_s(self, entry: QueuedShot) -> float | None:
        """The entry's planned length: its own, the default when others wait, else open ended."""
        if entry.shot.duration_s is not None:
            return float(entry.shot.duration_s)
        if self._entries and entry is not self._entries[-1]:
            return self.default_shot_duration_s
        return None

    def snapshot(self, now_s: float | None = None) -> dict[str, Any]:
        """JSON-ready view of the timeline for the tablet."""
        now = self._now_s if now_s is None else now_s

        def entry_json(entry: QueuedShot, state: str) -> dict[str, Any]:
            duration = self.duration_s(entry) if state != "done" else entry.shot.duration_s
            elapsed = entry.elapsed_s(now) if entry.started_at_s is not None else 0.0
            progress = None
            if duration:
                progress = min(1.0, elapsed / duration) if state != "done" else 1.0
            return {
                "id": entry.id, "label": describe_shot(entry.shot), "source": entry.source, "state": state,
                "elapsed_s": round(elapsed, 2), "duration_s": duration, "progress": progress,
                "overtime": bool(duration is not None and state == "current" and elapsed > duration),
                "shot": entry.shot.model_dump(mode="json"),
            }

        entries = list(self._entries)
        current = entries[0] if entries else None
        return {
            "paused": self._paused,
            "time_s": round(now, 3),
            "current": entry_json(current, "current") if current is not None and current.started_at_s is not None
            else None,
            "upcoming": [entry_json(e, "upcoming") for e in entries if e.started_at_s is None],
            "done": [entry_json(e, "done") for e in self._done],
        }

    def _retire(self, entry: QueuedShot) -> None:
        self._done.append(entry)
        while len(self._done) > self.done_length:
            self._done.popleft()
