"""Subject tracks, the director's names, pins and events <-> ``cinempc_interfaces`` messages.

Rule: positions in ``map``, one array per camera frame; a malformed entry raises ValueError naming it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cinempc_interfaces.msg as ci
import numpy as np
from geometry_msgs.msg import Point
from std_msgs.msg import Header

from cinempc.nodes.convert.geometry import (
    MAP_FRAME,
    _array,
    _vector,
    s_to_stamp,
    stamp_to_s,
)
from cinempc.state import SubjectTrack, require_finite

# ------------------------------------------------------------------ subjects (cinempc_interfaces)

TRACK_STATES: tuple[str, ...] = tuple(getattr(ci.SubjectTrack, name) for name in dir(ci.SubjectTrack)
                                      if name.startswith("TRACK_STATE_"))


def checked_track_state(value: str, what: str) -> str:
    """``value`` if it is one of ``SubjectTrack.TRACK_STATE_*`` or empty (no tracker); else ValueError naming it."""
    if value and value not in TRACK_STATES:
        raise ValueError(f"{what}: unknown track state {value!r} (allowed: {', '.join(sorted(TRACK_STATES))} "
                         "or empty)")
    return value


def subject_track_msg(track: SubjectTrack) -> ci.SubjectTrack:
    """One ``SubjectTrack`` with its prediction over the horizon (SI units, map frame); ValueError for an
    unknown ``track_state``."""
    positions = np.asarray(track.positions_m, dtype=float)
    velocities = np.asarray(track.velocities_mps, dtype=float)
    covariance = [] if track.covariance_m2 is None else \
        np.asarray(track.covariance_m2, dtype=float).reshape(-1).tolist()
    return ci.SubjectTrack(
        track_id=int(track.track_id), name=track.name or "",
        state=ci.SubjectTrack.STATE_VISIBLE if track.visible else ci.SubjectTrack.STATE_COASTING,
        track_state=checked_track_state(track.track_state, f"subject #{track.track_id}"),
        height_m=float(track.height_m), heading_rad=float(track.heading_rad()), dt_s=float(track.dt_s),
        positions_m=[Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in positions],
        velocities_mps=[_vector(v) for v in velocities], covariance_m2=covariance,
    )


def subject_track_from_msg(msg: ci.SubjectTrack) -> SubjectTrack:
    """Inverse of :func:`subject_track_msg`; ValueError names what is wrong."""
    what = f"subject #{msg.track_id}"
    count = len(msg.positions_m)
    if count == 0:
        raise ValueError(f"{what}: no positions")
    if len(msg.velocities_mps) != count:
        raise ValueError(f"{what}: {count} positions but {len(msg.velocities_mps)} velocities")
    covariance = np.asarray(msg.covariance_m2, dtype=float)
    if covariance.size not in (0, 9 * count):
        raise ValueError(f"{what}: covariance has {covariance.size} values, expected 0 or {9 * count}")
    if msg.state not in (ci.SubjectTrack.STATE_VISIBLE, ci.SubjectTrack.STATE_COASTING):
        raise ValueError(f"{what}: unknown state {msg.state}")
    if not (math.isfinite(msg.dt_s) and msg.dt_s > 0):
        raise ValueError(f"{what}: dt_s must be positive, got {msg.dt_s}")
    require_finite(what, covariance)
    return SubjectTrack(
        track_id=int(msg.track_id), name=msg.name or None, height_m=float(msg.height_m), dt_s=float(msg.dt_s),
        visible=msg.state == ci.SubjectTrack.STATE_VISIBLE, track_state=checked_track_state(msg.track_state, what),
        positions_m=np.array([[p.x, p.y, p.z] for p in msg.positions_m], dtype=float),
        velocities_mps=np.array([_array(v) for v in msg.velocities_mps], dtype=float),
        covariance_m2=covariance.reshape(count, 3, 3) if covariance.size else None,
    )


def subjects_msg(subjects: Sequence[SubjectTrack], time_s: float, frame_id: str = MAP_FRAME) -> ci.SubjectTrackArray:
    """Tracked subjects with ids, names, predictions and covariances."""
    return ci.SubjectTrackArray(header=Header(stamp=s_to_stamp(time_s), frame_id=frame_id),
                                subjects=[subject_track_msg(s) for s in subjects])


def subjects_from_msg(msg: ci.SubjectTrackArray) -> tuple[float, list[SubjectTrack]]:
    """``(stamp_s, subjects)``; ValueError names the first malformed entry (positions must be in ``map``)."""
    if msg.header.frame_id not in (MAP_FRAME, ""):
        raise ValueError(f"subjects: frame {msg.header.frame_id!r} is not {MAP_FRAME!r}")
    try:
        subjects = [subject_track_from_msg(entry) for entry in msg.subjects]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"subjects: {exc}") from exc
    ids = [s.track_id for s in subjects]
    if len(set(ids)) != len(ids):
        raise ValueError(f"subjects: duplicate track ids {ids}")
    return stamp_to_s(msg.header.stamp), subjects


def subject_to_dict(track: SubjectTrack) -> dict:
    """A track as plain JSON-able data (reports and the director's web app; never on a topic)."""
    return {
        "track_id": int(track.track_id), "name": track.name, "height_m": float(track.height_m),
        "dt_s": float(track.dt_s), "visible": bool(track.visible), "track_state": track.track_state,
        "positions_m": np.asarray(track.positions_m, dtype=float).round(6).tolist(),
        "velocities_mps": np.asarray(track.velocities_mps, dtype=float).round(6).tolist(),
        "covariance_m2": None if track.covariance_m2 is None
        else np.asarray(track.covariance_m2, dtype=float).round(8).tolist(),
    }


# ------------------------------------------------------------------ director: names, pins, events


def names_msg(names: dict[int, str]) -> ci.SubjectNames:
    """The director's ``{track_id: name}`` (the whole set, latched)."""
    return ci.SubjectNames(names=[ci.SubjectName(track_id=int(k), name=str(v)) for k, v in sorted(names.items())])


def names_from_msg(msg: ci.SubjectNames) -> dict[int, str]:
    """``{track_id: name}``; ValueError for an empty name or a track named twice."""
    names: dict[int, str] = {}
    for entry in msg.names:
        if not entry.name.strip():
            raise ValueError(f"subject names: track #{entry.track_id} has an empty name")
        if entry.track_id in names:
            raise ValueError(f"subject names: track #{entry.track_id} named twice")
        names[int(entry.track_id)] = entry.name
    return names


def pins_msg(pins: dict[str, tuple[float, float, float]]) -> ci.SubjectPins:
    """The director's map pins, ``{name: (x_m, y_m, stamp_s)}``: where (ground, map) and when (graph clock).

    The message is the whole current set (latched); a name that leaves it was found or named on a
    track, never "forget this person".
    """
    return ci.SubjectPins(pins=[ci.SubjectPin(name=str(name), position_m=Point(x=float(x), y=float(y), z=0.0),
                                              stamp=s_to_stamp(max(float(stamp), 0.0)))
                                for name, (x, y, stamp) in pins.items()])


def pins_from_msg(msg: ci.SubjectPins) -> dict[str, tuple[float, float, float]]:
    """``{name: (x_m, y_m, stamp_s)}``; ValueError names the first malformed entry."""
    from cinempc.shot import _check_subject_ref

    pins = {}
    for entry in msg.pins:
        try:
            clean = _check_subject_ref(entry.name)
        except ValueError as exc:
            raise ValueError(f"subject pins: {exc}") from exc
        if clean == "all" or clean.startswith("#"):
            raise ValueError(f"subject pins: {entry.name!r} is not a name")
        x, y, t = float(entry.position_m.x), float(entry.position_m.y), stamp_to_s(entry.stamp)
        require_finite(f"subject pin {entry.name!r}", [x, y, t])
        pins[clean] = (x, y, t)
    return pins


def event_msg(kind: str, message: str, level: str, time_s: float) -> ci.DirectorEvent:
    """A link or safety event for the director (``level``: info, warning or critical)."""
    return ci.DirectorEvent(header=Header(stamp=s_to_stamp(time_s)), kind=kind, message=message, level=level)


def event_from_msg(msg: ci.DirectorEvent) -> dict:
    """``{"kind", "message", "level", "time_s"}``; ValueError for an unknown level."""
    levels = (ci.DirectorEvent.LEVEL_INFO, ci.DirectorEvent.LEVEL_WARNING, ci.DirectorEvent.LEVEL_CRITICAL)
    if msg.level not in levels:
        raise ValueError(f"event: unknown level {msg.level!r} (allowed: {', '.join(levels)})")
    return {"kind": msg.kind, "message": msg.message, "level": msg.level, "time_s": stamp_to_s(msg.header.stamp)}
