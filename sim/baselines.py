"""The two baselines CineMPC is measured against, and the controller factory the CLI uses.

* ``follow`` -- what a consumer drone's subject tracking ("ActiveTrack" class) does: a
  reactive look-at controller.  Each step it computes where the camera should stand (the
  shot's side and elevation, at the stand-off that gives the shot's framing with its fixed
  lens), flies there with a proportional law plus the subject's velocity fed forward, and
  points the gimbal so the subject lands on the shot's screen position and head line.  The
  lens is fixed at the profile's mid focal length and mid f-number; focus is autofocus on
  the primary subject (its eyes' distance now).  No prediction, no lens choice, no obstacle
  avoidance -- exactly the gap CineMPC claims to close.
* ``extrinsics_only`` -- the same MPC with the lens taken away
  (``CineMPC(lens_mode="fixed_lens_autofocus")``): a modern autofocus drone flown by a good planner.

Both see the same ground-truth subjects as CineMPC, so differences are the controller's.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cinempc.angles import wrap_angle
from cinempc.config import CameraProfile, VehicleConfig, load_parameters
from cinempc.optics import camera_frame_point
from cinempc.plan import Plan
from cinempc.safety import Status
from cinempc.shot import ShotSpec, ShotVocabulary, side_bearing_rad, vocabulary
from cinempc.state import Obstacle, RigState, Setpoint, SubjectTrack

CONTROLLERS: tuple[str, ...] = ("cinempc", "extrinsics_only", "follow")


def mid_lens(camera: CameraProfile) -> tuple[float, float]:
    """The fixed lens of both baselines: middle of the profile's focal-length and f-number ranges.

    Middle on a log scale -- the middle of the zoom ring and of the stops -- which is also how the
    MPC's ``fixed_lens_autofocus`` mode picks it, so both baselines fly the very same lens.
    """
    return (
        math.sqrt(camera.focal_length_mm.min * camera.focal_length_mm.max),
        math.sqrt(camera.f_number.min * camera.f_number.max),
    )


@dataclass(frozen=True)
class FollowParams:
    """Gains of the follow baseline (``config/closed_loop.yaml`` ``follow``)."""

    position_gain_per_s: float = 1.2
    velocity_feedforward: float = 1.0
    max_swing_rad: float = 0.5

    @classmethod
    def from_config(cls) -> FollowParams:
        return cls(**{k: float(v) for k, v in load_parameters("closed_loop.yaml")["follow"].items()})


@dataclass
class FollowResult:
    """Same shape as the MPC's result where the loop and the report look."""

    setpoint: Setpoint
    status: Status
    solve_ms: float
    iterations: int = 0
    message: str = ""
    plan: Plan | None = None  # a reactive follower plans no horizon
    cost_breakdown: dict[str, float] = field(default_factory=dict)
    relaxations: list[str] = field(default_factory=list)


class FollowController:
    """Reactive ActiveTrack-class follower with a fixed mid lens and autofocus on the primary subject."""

    horizon_steps = 1

    def __init__(
        self, camera: CameraProfile, vehicle: VehicleConfig, params: FollowParams | None = None,
        vocab: ShotVocabulary | None = None, dt_s: float = 0.1,
    ) -> None:
        self.camera = camera
        self.vehicle = vehicle
        self.params = params or FollowParams.from_config()
        self.vocab = vocab or vocabulary()
        self.dt_s = dt_s
        self.focal_length_mm, self.f_number = mid_lens(camera)
        from cinempc_sim.metrics import MetricParams

        self.eye_height_fraction = MetricParams.from_config().eye_height_fraction
        self.reset()

    def reset(self) -> None:
        """New shot: forget the subject's last heading and the last velocity command."""
        self._heading_rad: float | None = None
        self._last_velocity = None

    def standoff_m(self, shot: ShotSpec, subject_height_m: float) -> float:
        """Distance that gives the shot's framing with the fixed lens (or the shot's own distance)."""
        if shot.distance_m is not None:
            distance = shot.distance_m
        else:
            fraction = self.vocab.framing_height_fraction[shot.framing]
            distance = (self.focal_length_mm * 1e-3) * subject_height_m / (fraction * self.camera.sensor_height_m)
        return max(distance, self.vehicle.airspace.min_subject_distance_m + 0.5)

    def solve(
        self, state: RigState, shot: ShotSpec, subjects: list[SubjectTrack], obstacles: list[Obstacle],
        shot_time_s: float, background_distance_m: float | None = None,
    ) -> FollowResult:
        start = time.perf_counter()
        primary = next((s for s in subjects if s.matches(shot.primary_subject)), None)
        if primary is None:
            return FollowResult(Setpoint.hold_at(state), Status.NO_SUBJECT, (time.perf_counter() - start) * 1e3,
                                message=f"no subject matches {shot.primary_subject!r}: hovering")
        framed = [s for s in subjects if any(s.matches(r) for r in shot.subjects)] or [primary]
        feet = np.mean([s.positions_m[0] for s in framed], axis=0)
        velocity = np.mean([s.velocities_mps[0] for s in framed], axis=0)
        height = float(np.mean([s.height_m for s in framed]))
        if math.hypot(*velocity[:2]) > 0.2 or self._heading_rad is None:
            self._heading_rad = primary.heading_rad(0)

        # Where to stand: the shot's side and elevation at the framing stand-off.
        distance = self.standoff_m(shot, height)
        elevation = math.radians(self.vocab.angle_elevation_deg[shot.angle])
        bearing = self._heading_rad + side_bearing_rad(shot.side)
        eye = feet + np.array([0.0, 0.0, self.eye_height_fraction * height])
        horizontal = distance * math.cos(elevation)
        # Go round the subject, never through it: move the stand-off point toward the wanted bearing
        # at most ``max_swing_rad`` ahead of where the drone is now, as seen from the subject.
        here = math.atan2(state.position_m[1] - feet[1], state.position_m[0] - feet[0])
        bearing = here + float(np.clip(wrap_angle(bearing - here), -self.params.max_swing_rad,
                                       self.params.max_swing_rad))
        target = eye + np.array(
            [horizontal * math.cos(bearing), horizontal * math.sin(bearing), distance * math.sin(elevation)]
        )
        airspace = self.vehicle.airspace
        target[2] = min(max(target[2], airspace.altitude_floor_m), airspace.altitude_ceiling_m)

        # Proportional position hold + velocity feed-forward, inside the vehicle's speed/accel limits.
        limits = self.vehicle.vehicle
        command = self.params.position_gain_per_s * (target - state.position_m)
        command += self.params.velocity_feedforward * velocity
        command[2] = float(np.clip(command[2], -limits.max_vertical_speed_mps, limits.max_vertical_speed_mps))
        speed = float(np.linalg.norm(command))
        if speed > limits.max_speed_mps:
            command *= limits.max_speed_mps / speed
        previous = state.velocity_mps if self._last_velocity is None else self._last_velocity
        change = command - previous
        max_change = limits.max_accel_mps2 * self.dt_s
        if np.linalg.norm(change) > max_change:
            command = previous + change * (max_change / np.linalg.norm(change))
        self._last_velocity = command

        # Look-at: put the framed subjects' centre line on the shot's u and the head top on its v.
        focal_px = self.camera.focal_px(self.focal_length_mm)
        width, image_height = self.camera.image_width_px, self.camera.image_height_px
        head = feet + np.array([0.0, 0.0, height])
        offset = head - state.position_m
        bearing_to_subject = math.atan2(offset[1], offset[0])
        wanted_u = self.vocab.screen_position_u_fraction[shot.screen_position] * width
        wanted_v = self.vocab.framing_head_v_fraction[shot.framing] * image_height
        yaw = bearing_to_subject - math.atan((width / 2.0 - wanted_u) / focal_px)
        head_elevation = math.atan2(offset[2], math.hypot(offset[0], offset[1]))
        pitch = head_elevation - math.atan((image_height / 2.0 - wanted_v) / focal_px)
        gimbal = self.vehicle.gimbal
        pitch = min(max(pitch, gimbal.pitch_min_rad), gimbal.pitch_max_rad)

        # Autofocus on the primary subject's eyes, as the camera sees them now.
        primary_eye = primary.positions_m[0] + np.array([0.0, 0.0, self.eye_height_fraction * primary.height_m])
        depth = float(camera_frame_point(primary_eye, state.position_m, state.yaw_rad, state.pitch_rad)[2])
        if depth <= 0:  # subject behind the lens: focus at its distance anyway
            depth = float(np.linalg.norm(primary_eye - state.position_m))
        focus = self.camera.focus_distance_m.clamp(depth)

        setpoint = Setpoint(
            position_m=state.position_m + command * self.dt_s, velocity_mps=command, acceleration_mps2=np.zeros(3),
            yaw_rad=wrap_angle(yaw, near_rad=state.yaw_rad), yaw_rate_rad_s=0.0, pitch_rad=pitch,
            focal_length_mm=self.focal_length_mm, focus_distance_m=focus, f_number=self.f_number,
        )
        return FollowResult(setpoint, Status.TRACKING, (time.perf_counter() - start) * 1e3)



def make_controller(
    name: str, camera: CameraProfile, vehicle: VehicleConfig, solver: str = "fast", lockstep: bool = False,
    **kwargs: Any,
):
    """A controller by its CLI name: ``cinempc``, ``extrinsics_only`` or ``follow``.

    ``lockstep=True`` lifts the MPC's wall-clock deadline.  In a simulation the world waits while
    the controller thinks, so a deadline miss caused by a busy CI machine is noise, not physics; the
    real solve times are still measured and reported (``solve_ms_p50/p95``, ``real_time_factor``).
    """
    if name == "follow":
        return FollowController(camera, vehicle, **kwargs)
    if name in ("cinempc", "extrinsics_only"):
        from cinempc.mpc import CineMPC, load_mpc_params

        lens_mode = "full" if name == "cinempc" else "fixed_lens_autofocus"
        if lockstep and "params" not in kwargs:
            kwargs["params"] = load_mpc_params().with_updates(solver={"deadline_ms": 1.0e9})
        return CineMPC(camera, vehicle, solver=solver, lens_mode=lens_mode, **kwargs)
    raise ValueError(f"unknown controller {name!r}; choose one of {', '.join(CONTROLLERS)}")
