"""The live hub: one thread-safe meeting point between a control loop and the director's tablets.

Any control loop -- the closed-loop simulator (``sim/director_bridge.py``) or the
ROS director node -- *publishes* what the camera sees and does (JPEG frames,
subject boxes with ids and names, lens and rig state, MPC status, link and
safety events) and, once per control step, *ticks* the hub to learn what the
director wants (:class:`Direction`: the shot to fly, whether it changed, HOLD,
abort, subject names, people pointed out on the map).  The web app (``app.py``)
reads snapshots and submits commands from its own threads.  Everything crosses one lock, so neither side
can see half an update.

Why a hub rather than callbacks into the loop: the web server must never block
the control loop (a slow tablet on bad Wi-Fi would stall the drone), and the
loop must never block the web server (HOLD must be accepted even if the loop is
busy in a long solve).  HOLD is latched here immediately and also handed to any
registered hold listeners synchronously, so a node can forward it to the
autopilot without waiting for the next control step.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from pydantic import ValidationError

from cinempc.director.queue import ShotQueue, describe_shot
from cinempc.director.security import DirectorSettings
from cinempc.shot import ShotSpec, _check_subject_ref, describe_validation_error, presets

log = logging.getLogger("cinempc.director")

ParserFn = Callable[[str, ShotSpec | None, list[str]], Any]  # text, shot on air, known subject names


@dataclass(frozen=True)
class SubjectBox:
    """A subject as the tablet draws it: image box in pixels of the published frame."""

    track_id: int
    box_px: tuple[float, float, float, float]  # u_min, v_min, u_max, v_max
    name: str | None = None
    distance_m: float | None = None  # camera to subject (eyes), for the DoF bar
    visible: bool = True
    track_state: str = ""  # the tracker's SubjectState value ("searching", ...); empty: no tracker

    def to_json(self) -> dict[str, Any]:
        return {
            "track_id": int(self.track_id), "ref": f"#{int(self.track_id)}", "name": self.name,
            "box_px": [round(float(v), 1) for v in self.box_px],
            "distance_m": None if self.distance_m is None else round(float(self.distance_m), 2),
            "visible": bool(self.visible), "track_state": self.track_state,
        }


@dataclass(frozen=True)
class GroundSubject:
    """A subject as the tablet's map draws it: where it stands on the ground (map frame, ENU metres)."""

    track_id: int
    position_m: tuple[float, float]  # x, y
    name: str | None = None
    visible: bool = True
    track_state: str = ""  # the tracker's SubjectState value ("searching", ...); empty: no tracker

    def to_json(self) -> dict[str, Any]:
        return {"track_id": int(self.track_id), "ref": f"#{int(self.track_id)}", "name": self.name,
                "position_m": [round(float(v), 2) for v in self.position_m], "visible": bool(self.visible),
                "track_state": self.track_state}


def check_track_state(subject: SubjectBox | GroundSubject) -> None:
    """Rule: a subject's ``track_state`` is a :class:`~cinempc.perception.subjects.SubjectState` value or empty
    (no tracker); anything else is a ValueError naming the subject."""
    from cinempc.perception.subjects import SubjectState

    allowed = [state.value for state in SubjectState]
    if subject.track_state and subject.track_state not in allowed:
        raise ValueError(f"subject #{subject.track_id}: unknown track state {subject.track_state!r} "
                         f"(allowed: {', '.join(allowed)} or empty)")


def perceived_subjects(subjects: list[Any], state: Any | None, focal_px: float, image_width_px: int,
                       image_height_px: int) -> tuple[list[SubjectBox], list[GroundSubject]]:
    """What the tablet draws of perception's subjects (``SubjectTrack``): boxes in the picture, points on the map.

    The box is the subject's *estimate* projected into the frame
    (:func:`cinempc.perception.boxes.person_box`, the one person box), so the director sees what
    the MPC frames, not only what the detector drew; each carries the tracker's state (the tablet
    marks a subject being searched for).  Pins (negative ids) are left out: the hub draws its own.
    ``state`` None (no rig state yet): map points only.  Shared by the ROS director node and the
    simulator's live run.
    """
    from cinempc import optics
    from cinempc.perception.boxes import person_box

    subjects = [s for s in subjects if s.track_id >= 0]
    ground = [GroundSubject(track_id=s.track_id, position_m=(float(s.positions_m[0, 0]), float(s.positions_m[0, 1])),
                            name=s.name, visible=s.visible, track_state=s.track_state) for s in subjects]
    if state is None:
        return [], ground
    def project(point_m: np.ndarray) -> tuple[float, float, float]:
        u, v, z = optics.project(point_m, state.position_m, state.yaw_rad, state.pitch_rad, focal_px,
                                 image_width_px, image_height_px)
        return float(u), float(v), float(z)

    boxes = []
    for subject in subjects:
        box = person_box(project, subject.positions_m[0], subject.height_m)
        if box is None:
            continue
        head = subject.positions_m[0] + np.array([0.0, 0.0, subject.height_m])
        boxes.append(SubjectBox(track_id=subject.track_id, name=subject.name, visible=subject.visible,
                                track_state=subject.track_state,
                                box_px=tuple(float(v) for v in box),
                                distance_m=float(np.linalg.norm(head - state.position_m))))
    return boxes, ground


@dataclass(frozen=True)
class MapPin:
    """A person the director pointed out on the map before the camera has seen them (name -> place, time)."""

    name: str
    x_m: float
    y_m: float
    stamp_s: float  # the loop's clock when the director tapped

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "position_m": [round(self.x_m, 3), round(self.y_m, 3)],
                "stamp_s": round(self.stamp_s, 3)}


MAX_MAP_M = 100_000.0  # a pin further than this from the map origin is a typo, not a person


@dataclass(frozen=True)
class Direction:
    """What the director wants, read by the control loop once per step."""

    shot: ShotSpec | None  # None: no director shot (the loop flies its own default); names given on
    # the tablet are already turned into "#id" references (see resolve_subject_names)
    shot_changed: bool  # a new shot started: reset the MPC's shot memory
    hold: bool  # hover in place, lens as it is (latched until RESUME)
    abort: bool  # the take is over: hold, and a real vehicle may return home
    subject_names: dict[int, str]  # names the director gave to track ids
    shot_entry_id: int | None = None
    subject_pins: dict[str, MapPin] = field(default_factory=dict)  # people pointed out on the map, not found yet


class CommandRejected(ValueError):
    """A director command the hub refuses, with a message for the tablet."""

    def __init__(self, message: str, status: int = 400, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail or {}


def default_parser() -> ParserFn:
    """The language parser of ``cinempc.language`` (imported lazily: the app starts without it)."""

    def parse(text: str, current: ShotSpec | None, known_subjects: list[str]) -> Any:
        from cinempc.language import parse_command

        return parse_command(text, current=current, known_subjects=known_subjects)

    return parse


def normalise_parse_result(result: Any) -> dict[str, Any]:
    """The parser's answer as plain JSON of one of the three agreed forms, validated.

    Accepts a pydantic model, a dict or a JSON string, so the hub does not depend
    on the parser's class names -- only on the wire shape
    ``{"shots": [...]}`` | ``{"command": "hold"|"resume"|"abort"}`` | ``{"error": {...}}``.
    """
    if hasattr(result, "model_dump"):
        result = result.model_dump(mode="json", exclude_none=True)
    elif isinstance(result, str):
        result = json.loads(result)
    if not isinstance(result, dict):
        raise TypeError(f"parser returned {type(result).__name__}, not one of the three agreed forms")
    if result.get("shots") is not None:
        shots = result["shots"]
        if not isinstance(shots, list) or not shots:
            raise TypeError("parser returned an empty or non-list 'shots'")
        answer: dict[str, Any] = {"shots": [s if isinstance(s, dict) else s.model_dump(mode="json") for s in shots]}
        ignored = result.get("ignored") or []
        if not isinstance(ignored, list) or not all(isinstance(word, str) for word in ignored):
            raise TypeError(f"parser returned 'ignored' that is not a list of words: {ignored!r}"[:200])
        if ignored:
            answer["ignored"] = list(ignored)
        return answer
    if result.get("command") is not None:
        command = result["command"]
        if command not in ("hold", "resume", "abort"):
            raise TypeError(f"parser returned an unknown control command {command!r}")
        return {"command": command}
    if result.get("error") is not None:
        return {"error": result["error"]}
    raise TypeError(f"parser answer has none of shots/command/error: {sorted(result)}")


def named_subjects(shot: ShotSpec) -> list[str]:
    """The subject names a shot refers to (subjects, focus target, rack target); not ``all`` nor ``#id``."""
    refs = [*shot.subjects, shot.focus.target, shot.focus.rack_to]
    names: list[str] = []
    for ref in refs:
        if ref is not None and ref != "all" and not ref.startswith("#") and ref not in names:
            names.append(ref)
    return names


@dataclass(frozen=True)
class AwaitedShots:
    """Shots that name someone no track, name or pin carries yet: they fly once every one is pointed out."""

    shots: tuple[ShotSpec, ...]
    text: str
    mode: str
    source: str
    names: tuple[str, ...]  # every name the shots need that was not carried when they were typed

    def missing(self, carried: set[str]) -> list[str]:
        """The names still to be pointed out."""
        return [name for name in self.names if name not in carried]

    def to_json(self, carried: set[str]) -> dict[str, Any]:
        return {"text": self.text, "mode": self.mode, "names": list(self.names), "point_out": self.missing(carried)}


def point_out_message(names: list[str]) -> str:
    """What the tablet asks when a shot names subjects nobody has pointed out yet."""
    listed = ", ".join(repr(name) for name in names)
    return (f"point out {listed}: tap them in the picture and name them so, or tap where they stand on the "
            "map; the shot flies once every one is pointed out (another shot replaces this one)")


def resolve_subject_names(shot: ShotSpec, director_names: dict[int, str]) -> ShotSpec:
    """Names the director gave on the tablet ("bride" for #3) turned into ``#id`` references.

    Tracks carry the names their source knows (the scenario's, or none from a detector); the
    director's names live in the hub.  Rewriting the shot the loop receives keeps every
    controller's subject matching (``SubjectTrack.matches``) unchanged.
    """
    if not director_names:
        return shot
    by_name = {name: f"#{track_id}" for track_id, name in director_names.items()}

    def ref(value: str | None) -> str | None:
        return by_name.get(value, value) if value is not None else None

    subjects = [ref(s) for s in shot.subjects]
    focus = shot.focus.model_copy(update={"target": ref(shot.focus.target), "rack_to": ref(shot.focus.rack_to)})
    if subjects == shot.subjects and focus == shot.focus:
        return shot
    return ShotSpec(**{**shot.model_dump(), "subjects": subjects, "focus": focus.model_dump()})


class LiveHub:
    """Thread-safe state and command exchange between a control loop and the director app."""

    def __init__(
        self,
        settings: DirectorSettings | None = None,
        parser: ParserFn | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or DirectorSettings()
        self._parser = parser or default_parser()
        self._clock = clock
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._queue = ShotQueue(default_shot_duration_s=self.settings.default_shot_duration_s)
        self._presets: dict[str, ShotSpec] = presets()
        # published by the loop
        self._frame_jpeg: bytes | None = None
        self._frame_seq = 0
        self._frame_time_s: float | None = None
        self._frame_size: tuple[int, int] | None = None
        self._subjects: list[SubjectBox] = []
        self._ground: list[GroundSubject] = []
        self._lens: dict[str, Any] | None = None
        self._rig: dict[str, Any] | None = None
        self._control: dict[str, Any] = {"status": "waiting", "message": "no control loop yet", "holding": False}
        self._links: dict[str, dict[str, Any]] = {}
        self._events: deque[dict[str, Any]] = deque(maxlen=self.settings.event_length)
        self._loop_time_s: float | None = None
        self._loop_wall_s: float | None = None
        # set by the director
        self._hold = False
        self._abort = False
        self._names: dict[int, str] = {}
        self._pins: dict[str, MapPin] = {}
        self._pin_timeout_s: float | None = None  # perception's point_out_timeout_s, read at the first pin
        self._awaiting: AwaitedShots | None = None  # typed shots waiting for the director to point someone out
        self._history: deque[dict[str, Any]] = deque(maxlen=self.settings.history_length)
        self._hold_listeners: list[Callable[[bool], None]] = []
        self._state_seq = 0
        self._last_entry_id: int | None = None

    # ================================================================ loop side

    def publish_frame(self, image: np.ndarray | bytes, time_s: float | None = None) -> int:
        """A new live-view frame: an RGB ``HxWx3`` uint8 array (JPEG-encoded here) or JPEG bytes."""
        if isinstance(image, (bytes, bytearray, memoryview)):
            jpeg = bytes(image)
            if not jpeg.startswith(b"\xff\xd8"):
                raise ValueError("publish_frame: bytes are not a JPEG (no SOI marker)")
            size = _jpeg_size(jpeg)
        else:
            rgb = np.asarray(image)
            if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
                raise ValueError(f"publish_frame: expected an HxWx3 uint8 RGB image, got {rgb.shape} {rgb.dtype}")
            jpeg = encode_jpeg(rgb, self.settings.jpeg_quality)
            size = (int(rgb.shape[1]), int(rgb.shape[0]))
        with self._changed:
            self._frame_jpeg = jpeg
            self._frame_seq += 1
            self._frame_time_s = time_s
            self._frame_size = size
            self._changed.notify_all()
            return self._frame_seq

    def publish_subjects(self, subjects: list[SubjectBox], ground: list[GroundSubject] | None = None) -> None:
        """Subject boxes in the pixel frame of the last published image; ``ground``: where every known
        subject stands (in the picture or not), for the tablet's map.

        A pin whose name a tracked subject now carries (perception found the person pointed out)
        is done: it leaves the pending pins.
        """
        boxes = [s if isinstance(s, SubjectBox) else SubjectBox(**s) for s in subjects]
        for box in boxes:
            if not all(math.isfinite(float(v)) for v in box.box_px):
                raise ValueError(f"subject #{box.track_id}: non-finite box {box.box_px}")
            check_track_state(box)
        places = [g if isinstance(g, GroundSubject) else GroundSubject(**g) for g in (ground or [])]
        for place in places:
            if len(place.position_m) != 2 or not all(math.isfinite(float(v)) for v in place.position_m):
                raise ValueError(f"subject #{place.track_id}: ground position must be finite [x, y], "
                                 f"got {place.position_m}")
            check_track_state(place)
        with self._changed:
            self._subjects = boxes
            self._ground = places
            for subject in [*boxes, *places]:
                name = (subject.name or "").strip().lower()
                if subject.track_id >= 0 and name in self._pins:  # pins of the loop (negative ids) are not finds
                    del self._pins[name]
                    self._event_locked("subjects", f"{name} (pointed out on the map) found as #{subject.track_id}",
                                       "info")
            self._release_awaited_locked("loop")
            self._bump()

    def publish_rig(self, state: Any, camera: Any | None = None, time_s: float | None = None) -> None:
        """Rig and lens state (a :class:`cinempc.state.RigState`); ``camera`` adds the DoF limits and ranges."""
        lens = lens_summary(state.focal_length_mm, state.focus_distance_m, state.f_number, camera)
        rig = {
            "position_m": [round(float(v), 3) for v in state.position_m],
            "velocity_mps": [round(float(v), 3) for v in state.velocity_mps],
            "speed_mps": round(float(np.linalg.norm(state.velocity_mps)), 3),
            "yaw_deg": round(math.degrees(state.yaw_rad), 2),
            "pitch_deg": round(math.degrees(state.pitch_rad), 2),
        }
        with self._changed:
            self._lens, self._rig = lens, rig
            if time_s is not None:
                self._loop_time_s = float(time_s)
            self._loop_wall_s = self._clock()
            self._bump()

    def publish_control(self, status: str, message: str = "", holding: bool = False, **extra: Any) -> None:
        """What the controller did this step (MPC status, solve time, whether the rig is actually holding)."""
        with self._changed:
            self._control = {"status": str(status), "message": str(message)[:300], "holding": bool(holding)}
            self._control.update({k: _jsonable(v) for k, v in extra.items()})
            self._loop_wall_s = self._clock()
            self._bump()

    def set_link(self, name: str, ok: bool, detail: str = "") -> None:
        """Link health (simulator, MAVLink, camera); a change is also logged as an event."""
        with self._changed:
            previous = self._links.get(name)
            self._links[name] = {"ok": bool(ok), "detail": str(detail)[:200]}
            if previous is None or previous["ok"] != bool(ok):
                self._event_locked("link", f"{name} {'up' if ok else 'DOWN'}{': ' + detail if detail else ''}",
                                   "info" if ok else "warning")
            self._bump()

    def event(self, kind: str, message: str, level: str = "info") -> None:
        """A link or safety event for the tablet's log (geofence, collision avoidance, fallback, ...)."""
        with self._changed:
            self._event_locked(kind, message, level)
            self._bump()

    def start_shot(self, shot: ShotSpec, source: str = "loop") -> None:
        """The shot the loop starts with (e.g. the scenario's default), as the first queue entry."""
        with self._changed:
            self._queue.replace([shot], source)
            self._bump()

    def tick(self, time_s: float) -> Direction:
        """Once per control step: advance the timeline and say what to fly."""
        if not math.isfinite(time_s):
            raise ValueError(f"tick: non-finite loop time {time_s}")
        with self._changed:
            if self._loop_time_s is None:
                # pins tapped before the loop's clock was known carry 0.0: they were tapped now, as far as
                # perception can tell (at 0.0 its search gate would have grown for the clock's whole epoch)
                self._pins = {name: replace(pin, stamp_s=float(time_s)) for name, pin in self._pins.items()}
            self._loop_time_s = float(time_s)
            self._expire_pins_locked(float(time_s))
            entry, changed = self._queue.advance(time_s)
            if entry is not None and entry.id != self._last_entry_id:
                changed = True
                self._last_entry_id = entry.id
            if changed:
                self._bump()
            return Direction(
                shot=resolve_subject_names(entry.shot, self._names) if entry is not None else None,
                shot_changed=changed, hold=self._hold,
                abort=self._abort, subject_names=dict(self._names),
                shot_entry_id=entry.id if entry is not None else None, subject_pins=dict(self._pins),
            )

    def add_hold_listener(self, listener: Callable[[bool], None]) -> None:
        """Called synchronously with True on HOLD/abort and False on RESUME (e.g. to command the autopilot)."""
        with self._lock:
            self._hold_listeners.append(listener)

    # ============================================================ director side

    def hold(self, source: str = "director") -> dict[str, Any]:
        """HOLD: latched at once, never rate limited, never parsed; the loop hovers at its next step."""
        with self._changed:
            if not self._hold:  # pressing HOLD again (or over both transports) is harmless and not re-logged
                self._hold = True
                self._queue.pause(self._now_locked())
                self._record_locked("HOLD", source, "hold", "hold requested")
                self._event_locked("safety", f"HOLD from {source}", "warning")
                self._bump()
            listeners = list(self._hold_listeners)
        self._notify(listeners, True)
        return {"command": "hold", "accepted": True}

    def resume(self, source: str = "director") -> dict[str, Any]:
        """RESUME after HOLD or abort: the current shot continues where it stopped."""
        with self._changed:
            self._hold = False
            self._abort = False
            self._queue.resume(self._now_locked())
            self._record_locked("RESUME", source, "resume", "resumed")
            self._event_locked("safety", f"RESUME from {source}", "info")
            self._bump()
            listeners = list(self._hold_listeners)
        self._notify(listeners, False)
        return {"command": "resume", "accepted": True}

    def abort(self, source: str = "director") -> dict[str, Any]:
        """Abort the take: forget the queue and hold (a real vehicle's node may return home)."""
        with self._changed:
            self._abort = True
            self._hold = True
            self._queue.pause(self._now_locked())
            self._queue.clear()
            self._last_entry_id = None
            self._record_locked("ABORT", source, "abort", "take aborted, queue cleared, holding")
            self._event_locked("safety", f"ABORT from {source}", "warning")
            self._awaiting = None
            self._bump()
            listeners = list(self._hold_listeners)
        self._notify(listeners, True)
        return {"command": "abort", "accepted": True}

    def submit_text(self, text: str, mode: str = "now", source: str = "director") -> dict[str, Any]:
        """A typed command: parsed, then queued (``now`` replaces the timeline, ``append`` adds to it)."""
        text = self._check_text(text)
        if mode not in ("now", "append"):
            raise CommandRejected(f"unknown mode {mode!r}: 'now' or 'append'")
        with self._lock:
            current = self._queue.current_shot if mode == "now" else self._queue.last_shot
            known = sorted(self._carried_names_locked())
        try:
            answer = normalise_parse_result(self._parser(text, current, known))
        except (TypeError, ValueError, ValidationError) as exc:
            log.exception("language parser failed on %r", text)
            raise CommandRejected(f"the shot parser failed: {exc}", status=500) from exc
        except ImportError as exc:
            raise CommandRejected(f"no shot parser available: {exc}", status=503) from exc
        if "command" in answer:
            result = {"hold": self.hold, "resume": self.resume, "abort": self.abort}[answer["command"]](source)
            return {**answer, **result, "text": text}
        if "error" in answer:
            with self._changed:
                self._record_locked(text, source, "error", _error_summary(answer["error"]))
                self._bump()
            return {**answer, "text": text}
        try:
            shots = [ShotSpec(**shot) for shot in answer["shots"]]
        except ValidationError as exc:
            raise CommandRejected(f"the parser produced an invalid shot: {describe_validation_error(exc)}",
                                  status=500) from exc
        ignored = {"ignored": answer["ignored"]} if answer.get("ignored") else {}
        with self._changed:
            unknown = self._unknown_names_locked(shots, current)
            if unknown:
                return {**self._await_point_out_locked(shots, text, mode, source, unknown), **ignored}
        return {**self._queue_shots(shots, text, mode, source), **ignored}

    def submit_preset(self, name: str, subjects: list[str] | None = None, mode: str = "now",
                      source: str = "director") -> dict[str, Any]:
        """A preset button from ``config/shots.yaml``, optionally about the selected subject(s)."""
        if name not in self._presets:
            raise CommandRejected(f"unknown preset {name!r}; known: {', '.join(sorted(self._presets))}",
                                  status=404)
        if mode not in ("now", "append"):
            raise CommandRejected(f"unknown mode {mode!r}: 'now' or 'append'")
        shot = self._presets[name]
        if subjects:
            try:
                shot = shot.model_copy(update={"subjects": [_check_subject_ref(s) for s in subjects]})
                ShotSpec(**shot.model_dump())
            except (ValueError, ValidationError) as exc:
                raise CommandRejected(f"bad subject for preset {name!r}: {exc}") from exc
        return self._queue_shots([shot], f"preset {name}", mode, source)

    def skip(self, source: str = "director") -> dict[str, Any]:
        """Cut to the next queued shot now."""
        with self._changed:
            dropped = self._queue.skip()
            if dropped is None:
                raise CommandRejected("nothing queued after the current shot", status=409)
            self._record_locked("skip", source, "skip", f"skipped {describe_shot(dropped.shot)}")
            self._bump()
        return {"skipped": dropped.id}

    def name_subject(self, track_id: int, name: str, source: str = "director") -> dict[str, Any]:
        """Give a tracked subject a name the director can use in commands ("follow the bride")."""
        if not isinstance(track_id, int) or isinstance(track_id, bool) or not 0 <= track_id <= 999_999:
            raise CommandRejected(f"track id must be an integer 0-999999, got {track_id!r}")
        cleaned = self._check_name(name)
        with self._changed:
            for other_id, other in list(self._names.items()):
                if other == cleaned and other_id != track_id:
                    del self._names[other_id]  # a name means one subject
            self._names[track_id] = cleaned
            replaced = self._pins.pop(cleaned, None) is not None  # the person pointed out is this track
            self._record_locked(f"name #{track_id} {cleaned}", source, "name",
                                f"#{track_id} is now {cleaned!r}" + (" (was a pin on the map)" if replaced else ""))
            released = self._release_awaited_locked(source)
            self._bump()
        return {"track_id": track_id, "name": cleaned, **released}

    def point_out(self, name: str, x_m: float, y_m: float, source: str = "director") -> dict[str, Any]:
        """Point a person out on the map ("maya is there"), before the camera has seen them.

        The name then means that pin: it leaves any track the director had given it, and a new pin
        with the same name moves it.  The loop hands pins to perception (``Direction.subject_pins``),
        which frames the pin like a subject until it finds someone there; once a tracked subject
        carries the name (:meth:`publish_subjects`), or the director names a track so, the pin is gone.
        """
        cleaned = self._check_name(name)
        position = []
        for axis, value in (("x_m", x_m), ("y_m", y_m)):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise CommandRejected(f"{axis} must be a number of metres, got {repr(value)[:40]}")
            if not (math.isfinite(value) if isinstance(value, float) else True) or abs(value) > MAX_MAP_M:
                raise CommandRejected(f"{axis} must be finite and within {MAX_MAP_M:.0f} m of the map origin, "
                                      f"got {repr(value)[:40]}")
            position.append(float(value))
        with self._changed:
            pin = MapPin(cleaned, position[0], position[1], self._now_locked())
            self._names = {track_id: other for track_id, other in self._names.items() if other != cleaned}
            moved = cleaned in self._pins
            self._pins[cleaned] = pin
            self._record_locked(f"point out {cleaned} at ({pin.x_m:.1f}, {pin.y_m:.1f})", source, "pin",
                                f"{cleaned!r} {'moved' if moved else 'pointed out'} on the map; "
                                "framed until the camera finds someone there")
            released = self._release_awaited_locked(source)
            self._bump()
        return {"name": cleaned, **pin.to_json(), "pin": True, **released}

    def cancel_awaiting(self, source: str = "director") -> dict[str, Any]:
        """Drop the typed shot that waits for someone to be pointed out; the shot on air flies on.

        Nothing waiting is a 409 that says so (another tablet may have cancelled it, or it already flew).
        """
        with self._changed:
            awaiting = self._awaiting
            if awaiting is None:
                raise CommandRejected("no shot is waiting for a subject to be pointed out (it flew, or another "
                                      "shot, an abort or another tablet replaced it)", status=409)
            self._awaiting = None
            missing = awaiting.missing(self._carried_names_locked())
            self._record_locked(f"cancel {awaiting.text!r}", source, "cancel",
                                f"cancelled: it waited for {', '.join(missing) or 'nobody'} to be pointed out")
            self._event_locked("queue", f"waiting shot {awaiting.text!r} cancelled by {source}", "info")
            self._bump()
        return {"cancelled": {"text": awaiting.text, "names": list(awaiting.names)}}

    def remove_pin(self, name: str, source: str = "director") -> dict[str, Any]:
        """Take back a person pointed out on the map (a wrong tap, someone who left): perception stops
        framing and looking for them.  A name no pin carries is refused with the pins there are."""
        cleaned = self._check_name(name)
        with self._changed:
            if cleaned not in self._pins:
                pending = ", ".join(sorted(self._pins)) or "none"
                raise CommandRejected(f"no pin named {cleaned!r} on the map (pins: {pending})", 404)
            del self._pins[cleaned]
            self._record_locked(f"remove pin {cleaned}", source, "pin", f"{cleaned!r} no longer pointed out")
            self._bump()
        return {"name": cleaned, "removed": True}

    def _expire_pins_locked(self, time_s: float) -> None:
        """Pins nobody was found at within perception's ``point_out_timeout_s`` leave the map too.

        Why: perception gives up on them then (and reports the name lost); a pin the
        tablet still drew would say the drone is looking for someone it is not.
        """
        if not self._pins:
            return
        if self._pin_timeout_s is None:
            from cinempc.perception.params import load_perception_params

            self._pin_timeout_s = load_perception_params().point_out_timeout_s
        for name, pin in list(self._pins.items()):
            if time_s - pin.stamp_s > self._pin_timeout_s:
                del self._pins[name]
                self._event_locked("subjects", f"{name} (pointed out on the map) not found within "
                                   f"{self._pin_timeout_s:.0f} s: pin removed", "warning")
                self._bump()

    # ================================================================ reading

    def snapshot(self) -> dict[str, Any]:
        """Everything the tablet shows except the image, JSON-ready."""
        with self._lock:
            now = self._clock()
            age = None if self._loop_wall_s is None else round(now - self._loop_wall_s, 3)
            names = dict(self._names)
            pins = [pin.to_json() for pin in self._pins.values()]
            ground = []
            for place in self._ground:
                item = place.to_json()
                item["name"] = names.get(place.track_id, place.name)
                ground.append(item)
            subjects = []
            for box in self._subjects:
                item = box.to_json()
                item["name"] = names.get(box.track_id, box.name)
                subjects.append(item)
            return {
                "seq": self._state_seq,
                "frame": {"seq": self._frame_seq, "time_s": self._frame_time_s,
                          "size_px": list(self._frame_size) if self._frame_size else None},
                "subjects": subjects,
                "lens": self._lens,
                "rig": self._rig,
                "control": dict(self._control),
                "hold": self._hold,
                "abort": self._abort,
                "queue": self._queue.snapshot(self._loop_time_s),
                "links": {k: dict(v) for k, v in self._links.items()},
                "loop": {"time_s": self._loop_time_s, "age_s": age},
                "events": list(self._events),
                "history": list(self._history),
                "names": {str(k): v for k, v in names.items()},
                "map": {"subjects": ground, "pins": pins},
                "awaiting": (None if self._awaiting is None
                             else self._awaiting.to_json(self._carried_names_locked())),
            }

    def latest_frame(self) -> tuple[int, bytes | None]:
        """The newest JPEG and its sequence number."""
        with self._lock:
            return self._frame_seq, self._frame_jpeg

    @property
    def state_seq(self) -> int:
        with self._lock:
            return self._state_seq

    @property
    def holding_requested(self) -> bool:
        with self._lock:
            return self._hold

    def wait_for_change(self, seen_state_seq: int, seen_frame_seq: int, timeout_s: float) -> tuple[int, int]:
        """Block until state or frame moves past what the caller has seen (or the timeout)."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._state_seq != seen_state_seq or self._frame_seq != seen_frame_seq, timeout=timeout_s
            )
            return self._state_seq, self._frame_seq

    def preset_list(self) -> list[dict[str, Any]]:
        """Preset buttons: name and label."""
        return [{"name": name, "label": describe_shot(shot.model_copy(update={"name": None}))}
                for name, shot in self._presets.items()]

    # ================================================================ internals

    def _carried_names_locked(self) -> set[str]:
        """Every subject name something carries now: the director's names, tracks' names and pins."""
        tracked = (s.name.strip().lower() for s in [*self._subjects, *self._ground] if s.name)
        return {*self._names.values(), *tracked, *self._pins}

    def _unknown_names_locked(self, shots: list[ShotSpec], current: ShotSpec | None) -> list[str]:
        """Names the shots use that nothing carries and that the shot they edit did not already use."""
        carried = self._carried_names_locked() | set(named_subjects(current) if current is not None else [])
        unknown: list[str] = []
        for shot in shots:
            unknown += [name for name in named_subjects(shot) if name not in carried and name not in unknown]
        return unknown

    def _await_point_out_locked(self, shots: list[ShotSpec], text: str, mode: str, source: str,
                                names: list[str]) -> dict[str, Any]:
        """Keep typed shots back until every name in ``names`` is pointed out; the answer asks for them."""
        self._awaiting = AwaitedShots(tuple(shots), text, mode, source, tuple(names))
        message = point_out_message(names)
        self._record_locked(text, source, "point_out", message)
        self._event_locked("subjects", message, "warning")
        self._bump()
        return {"point_out": names, "message": message, "queued": [], "mode": mode, "text": text,
                "holding": self._hold}

    def _release_awaited_locked(self, source: str) -> dict[str, Any]:
        """Queue the waiting shots once every name they need is carried; ``{"flying": ...}`` if they were."""
        awaiting = self._awaiting
        if awaiting is None or awaiting.missing(self._carried_names_locked()):
            return {}
        self._awaiting = None
        result = self._queue_shots(list(awaiting.shots), awaiting.text, awaiting.mode, f"{awaiting.source} "
                                   f"(pointed out by {source})")
        self._event_locked("queue", f"{', '.join(awaiting.names)} pointed out: flying {awaiting.text!r}", "info")
        return {"flying": {"text": awaiting.text, "queued": result["queued"]}}

    def _queue_shots(self, shots: list[ShotSpec], text: str, mode: str, source: str) -> dict[str, Any]:
        with self._changed:
            self._awaiting = None  # a shot that flies replaces one still waiting for a subject
            if mode == "now":
                entries = self._queue.replace(shots, text)
            else:
                entries = self._queue.append(shots, text)
            summary = " → ".join(describe_shot(e.shot) for e in entries)
            self._record_locked(text, source, "shots", summary)
            if self._hold:
                self._event_locked("queue", "shot queued while on HOLD: press RESUME to fly it", "warning")
            self._bump()
        return {"shots": [e.shot.model_dump(mode="json") for e in entries], "queued": [e.id for e in entries],
                "mode": mode, "text": text, "holding": self._hold}

    def _check_name(self, name: Any) -> str:
        """A subject name as naming and pointing out accept it (lower case), or CommandRejected."""
        if not isinstance(name, str) or len(name) > self.settings.max_name_chars:
            raise CommandRejected(f"a subject name is text of at most {self.settings.max_name_chars} characters")
        cleaned = name.strip().lower()
        if cleaned in ("", "all") or cleaned.startswith("#"):
            raise CommandRejected("a subject name cannot be empty, 'all' or start with '#'")
        try:
            return _check_subject_ref(cleaned)
        except ValueError as exc:
            raise CommandRejected(str(exc)) from exc

    def _check_text(self, text: Any) -> str:
        if not isinstance(text, str):
            raise CommandRejected("a command is text")
        if len(text) > self.settings.max_command_chars:
            raise CommandRejected(
                f"command too long ({len(text)} characters; at most {self.settings.max_command_chars})", status=413)
        if any(ord(c) < 32 and c not in "\t\n\r" for c in text) or "\x7f" in text:
            raise CommandRejected("the command contains control characters (binary input?)")
        text = " ".join(text.split())
        if not text:
            raise CommandRejected("empty command")
        return text

    def _now_locked(self) -> float:
        return self._loop_time_s if self._loop_time_s is not None else 0.0

    def _bump(self) -> None:
        self._state_seq += 1
        self._changed.notify_all()

    def _record_locked(self, text: str, source: str, kind: str, result: str) -> None:
        self._history.append({"text": text, "source": source, "kind": kind, "result": result[:300],
                              "time_s": self._loop_time_s, "wall": time.time()})

    def _event_locked(self, kind: str, message: str, level: str) -> None:
        self._events.append({"kind": kind, "message": message[:300], "level": level, "time_s": self._loop_time_s,
                             "wall": time.time()})

    @staticmethod
    def _notify(listeners: list[Callable[[bool], None]], holding: bool) -> None:
        for listener in listeners:
            try:
                listener(holding)
            except Exception:  # noqa: BLE001 -- one broken listener must not stop HOLD reaching the others
                log.exception("hold listener failed")


def lens_summary(focal_length_mm: float, focus_distance_m: float, f_number: float, camera: Any | None) -> dict:
    """Lens numbers for the panel: settings, depth of field limits and, with a profile, the ranges."""
    from cinempc import optics

    coc_mm = getattr(camera, "coc_mm", 0.025) if camera is not None else 0.025
    lens: dict[str, Any] = {
        "focal_length_mm": round(float(focal_length_mm), 2),
        "focus_distance_m": round(float(focus_distance_m), 3),
        "f_number": round(float(f_number), 2),
        "coc_mm": coc_mm,
    }
    try:
        dof = optics.depth_of_field(focal_length_mm * 1e-3, f_number, focus_distance_m, coc_mm * 1e-3)
        lens["near_m"] = round(float(dof.near_m), 3)
        lens["far_m"] = None if math.isinf(dof.far_m) else round(float(dof.far_m), 3)
        lens["hyperfocal_m"] = round(float(dof.hyperfocal_m), 3)
    except ValueError:
        lens["near_m"] = lens["far_m"] = lens["hyperfocal_m"] = None
    if camera is not None:
        lens["focal_range_mm"] = [camera.focal_length_mm.min, camera.focal_length_mm.max]
        lens["f_number_range"] = [camera.f_number.min, camera.f_number.max]
        lens["focus_range_m"] = [camera.focus_distance_m.min, camera.focus_distance_m.max]
        lens["hfov_deg"] = round(math.degrees(optics.field_of_view_rad(focal_length_mm * 1e-3,
                                                                        camera.sensor_width_m)), 2)
    return lens


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """RGB array to JPEG bytes (OpenCV: already a pinned dependency, and fast)."""
    import cv2

    ok, buffer = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buffer.tobytes()


def _jpeg_size(jpeg: bytes) -> tuple[int, int] | None:
    """Width and height from a JPEG's SOF marker (None if not found)."""
    i = 2
    while i + 9 < len(jpeg):
        if jpeg[i] != 0xFF:
            return None
        marker = jpeg[i + 1]
        length = int.from_bytes(jpeg[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return int.from_bytes(jpeg[i + 7:i + 9], "big"), int.from_bytes(jpeg[i + 5:i + 7], "big")
        i += 2 + length
    return None


def _error_summary(error: Any) -> str:
    if isinstance(error, dict):
        parts = [str(error.get("message") or "not understood")]
        unknown = error.get("not_understood") or error.get("unknown_words")
        if isinstance(unknown, list) and unknown:
            parts.append("not understood: " + ", ".join(map(str, unknown))[:120])
        return "; ".join(parts)
    return str(error)[:300]


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)

