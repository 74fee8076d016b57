"""Obstacles and the simulator's ground truth <-> ``cinempc_interfaces`` messages (map frame, metres)."""

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
from cinempc.nodes.convert.subjects import subject_to_dict, subject_track_from_msg, subject_track_msg
from cinempc.state import Obstacle, RigState, SubjectTrack, require_finite

# ------------------------------------------------------------------ obstacles

_OBSTACLE_KINDS = {"sphere": ci.Obstacle.KIND_SPHERE, "cylinder": ci.Obstacle.KIND_CYLINDER,
                   "box": ci.Obstacle.KIND_BOX}


def obstacles_msg(obstacles: Sequence[Obstacle], background_distance_m: float | None = None,
                  time_s: float = 0.0) -> ci.ObstacleArray:
    """The world's obstacles (map frame); no background distance is 0."""
    return ci.ObstacleArray(
        header=Header(stamp=s_to_stamp(time_s), frame_id=MAP_FRAME),
        obstacles=[ci.Obstacle(
            kind=_OBSTACLE_KINDS[o.kind], name=o.name,
            center_m=Point(x=float(o.center_m[0]), y=float(o.center_m[1]), z=float(o.center_m[2])),
            radius_m=float(o.radius_m), height_m=float(o.height_m),
            half_extents_m=_vector(o.half_extents_m if o.half_extents_m is not None else np.zeros(3)),
        ) for o in obstacles],
        background_distance_m=float(background_distance_m or 0.0),
    )


def obstacles_from_msg(msg: ci.ObstacleArray) -> tuple[list[Obstacle], float | None]:
    """``(obstacles, background_distance_m or None)``; ValueError for unknown kinds or bad numbers."""
    kinds = {v: k for k, v in _OBSTACLE_KINDS.items()}
    obstacles = []
    for entry in msg.obstacles:
        if entry.kind not in kinds:
            raise ValueError(f"obstacles: unknown kind {entry.kind} on {entry.name!r}")
        kind = kinds[entry.kind]
        try:
            obstacle = Obstacle(kind=kind, center_m=np.array([entry.center_m.x, entry.center_m.y, entry.center_m.z]),
                                radius_m=float(entry.radius_m), height_m=float(entry.height_m),
                                half_extents_m=_array(entry.half_extents_m) if kind == "box" else None,
                                name=entry.name)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"obstacles: malformed entry: {exc}") from exc
        require_finite(f"obstacle {obstacle.name}", obstacle.center_m, obstacle.radius_m, obstacle.height_m)
        obstacles.append(obstacle)
    background = float(msg.background_distance_m)
    if not (math.isfinite(background) and background >= 0):
        raise ValueError(f"obstacles: background_distance_m must be positive or 0, got {background}")
    return obstacles, background if background > 0 else None


# ------------------------------------------------------------------ simulator ground truth


def rig_state_msg(state: RigState) -> ci.RigState:
    return ci.RigState(
        position_m=Point(x=float(state.position_m[0]), y=float(state.position_m[1]), z=float(state.position_m[2])),
        velocity_mps=_vector(state.velocity_mps), acceleration_mps2=_vector(state.acceleration_mps2),
        yaw_rad=float(state.yaw_rad), pitch_rad=float(state.pitch_rad), focal_length_m=state.focal_length_mm * 1e-3,
        focus_distance_m=float(state.focus_distance_m), f_number=float(state.f_number),
    )


def ground_truth_msg(document: dict, state: RigState, subjects: Sequence[SubjectTrack], time_s: float
                     ) -> ci.GroundTruth:
    """The simulator's truth: ``document`` holds the scalars (scenario_time_s, wall_time_s, paused, holding,
    collisions, background_distance_m, camera_profile, image_size_px)."""
    width, height = document["image_size_px"]
    return ci.GroundTruth(
        header=Header(stamp=s_to_stamp(time_s), frame_id=MAP_FRAME),
        scenario_time_s=float(document["scenario_time_s"]), wall_time_s=float(document["wall_time_s"]),
        paused=bool(document["paused"]), holding=bool(document["holding"]), rig=rig_state_msg(state),
        subjects=[subject_track_msg(s) for s in subjects], collisions=int(document["collisions"]),
        background_distance_m=float(document.get("background_distance_m") or 0.0),
        camera_profile=str(document["camera_profile"]), image_width_px=int(width), image_height_px=int(height),
    )


def ground_truth_from_msg(msg: ci.GroundTruth) -> dict:
    """The truth as plain data: ``rig`` holds ``RigState`` keyword arguments, ``subjects`` track dicts."""
    rig = msg.rig
    return {
        "time_s": stamp_to_s(msg.header.stamp), "scenario_time_s": msg.scenario_time_s,
        "wall_time_s": msg.wall_time_s, "paused": msg.paused, "holding": msg.holding,
        "rig": {"position_m": [rig.position_m.x, rig.position_m.y, rig.position_m.z],
                "velocity_mps": _array(rig.velocity_mps).tolist(),
                "acceleration_mps2": _array(rig.acceleration_mps2).tolist(), "yaw_rad": rig.yaw_rad,
                "pitch_rad": rig.pitch_rad, "focal_length_mm": rig.focal_length_m * 1e3,
                "focus_distance_m": rig.focus_distance_m, "f_number": rig.f_number},
        "subjects": [subject_to_dict(subject_track_from_msg(s)) for s in msg.subjects],
        "collisions": msg.collisions, "background_distance_m": msg.background_distance_m or None,
        "camera_profile": msg.camera_profile, "image_size_px": [msg.image_width_px, msg.image_height_px],
    }
