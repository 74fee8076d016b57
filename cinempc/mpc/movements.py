"""Each camera movement's reference over the horizon, one small object per kind, registered by name.

A movement object answers three questions for the reference builder: where the camera should
stand while the start frame is being acquired (:meth:`MoveReference.acquire`), where it should
stand at a given progress of the move (:meth:`MoveReference.during`; progress 1 is the held end
frame), and how hard each of those is asked for.  What a move keeps and changes, and its extent,
come from :mod:`cinempc.moves` (``config/shots.yaml``), never from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cinempc.moves import Anchor, MovePlan, unit


@dataclass(frozen=True)
class StartGeometry:
    """The camera seen from the framed group's eye line when the start frame was taken (the move's origin)."""

    offset_m: np.ndarray  # camera minus eye-line anchor
    position_m: np.ndarray  # camera, world
    distance_m: float
    bearing_rad: float
    elevation_rad: float


@dataclass(frozen=True)
class AcquireGoal:
    """What the start frame asks of the viewpoint: a bearing (where kept), the angle and a stand-off."""

    bearing_rad: float  # the shot's side for moves that keep one, else where the camera stood at the cut
    elevation_rad: float
    distance_m: float  # soft: the zoom may trade with it
    offset_m: np.ndarray  # where that puts the camera from the eye line (cinempc.moves.start_offset_m)


@dataclass(frozen=True)
class StageTarget:
    """Where one stage wants the camera: an offset from the anchor (subject moves) or a place (world)."""

    offset_m: np.ndarray | None = None
    position_m: np.ndarray | None = None


class MoveReference:
    """A movement's camera reference; the default is a path of offsets shaped by the move's extent."""

    anchor = Anchor.SUBJECT
    view_gain = 3.0  # during the move the viewpoint IS the shot: its terms weigh this much more
    waits_for_frame = True  # the move begins only once the start frame is acquired (a late start is reported)

    def acquire(self, goal: AcquireGoal) -> StageTarget:
        """The start frame's viewpoint."""
        return StageTarget(offset_m=goal.offset_m)

    def during(self, plan: MovePlan, start: StartGeometry, goal: AcquireGoal, progress: float) -> StageTarget:
        """The camera's offset at ``progress``: bearing swept, elevation changed, distance and shift moved."""
        bearing = start.bearing_rad + progress * plan.bearing_sweep_rad
        elevation = start.elevation_rad + progress * plan.elevation_change_rad
        offset = unit(bearing, elevation) * plan.distance_m(progress)
        if plan.shift_m:
            right = np.array([math.sin(start.bearing_rad), -math.cos(start.bearing_rad), 0.0])
            back = unit(start.bearing_rad, 0.0)
            axis = np.asarray(plan.config.shift_axis, dtype=float)
            offset = offset + progress * plan.shift_m * (axis[0] * right + axis[1] * back + axis[2] * np.array(
                [0.0, 0.0, 1.0]))
        return StageTarget(offset_m=offset)


class Follow(MoveReference):
    """Keeps the side, angle and stand-off while the subject moves: the acquire goal at every stage."""

    view_gain = 1.0
    waits_for_frame = False  # nothing waits: the follow converges on its frame for the whole shot

    def during(self, plan: MovePlan, start: StartGeometry, goal: AcquireGoal, progress: float) -> StageTarget:
        raise NotImplementedError("a follow has no move of its own: the builder asks acquire() every stage")


class Static(MoveReference):
    """The camera stays where it took the frame; only the gimbal and the lens work."""

    anchor = Anchor.WORLD

    def during(self, plan: MovePlan, start: StartGeometry, goal: AcquireGoal, progress: float) -> StageTarget:
        return StageTarget(position_m=start.position_m)


class Flyby(MoveReference):
    """A straight pass on the shot's side: the line (fixed at acquisition) passes the subject at the stand-off
    halfway through, wherever within the acquisition tolerance the camera joined it."""

    def during(self, plan: MovePlan, start: StartGeometry, goal: AcquireGoal, progress: float) -> StageTarget:
        line = np.array([math.sin(goal.bearing_rad), -math.cos(goal.bearing_rad), 0.0])
        return StageTarget(offset_m=goal.offset_m + line * plan.speed_mps * plan.duration_s * progress)


_GENERIC = MoveReference()
REGISTRY: dict[str, MoveReference] = {
    "follow": Follow(),
    "static": Static(),
    "flyby": Flyby(),
    **{name: _GENERIC for name in (
        "orbit", "dolly_in", "dolly_out", "dronie", "truck_left", "truck_right", "pedestal_up", "pedestal_down",
        "crane_up", "crane_down", "reveal", "dolly_zoom_in", "dolly_zoom_out",
    )},
}


def reference_for(movement: str) -> MoveReference:
    """The registered reference object of a movement type."""
    try:
        return REGISTRY[movement]
    except KeyError:
        raise KeyError(f"no movement reference registered for {movement!r}") from None
