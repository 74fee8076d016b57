"""``CineMPC/Film-v0``: the simulator as a Gymnasium environment, graded by the shot-quality metrics.

Why it exists: learned camera operators (and the MPC as a policy) can be compared on exactly
the same simulator and the same ground-truth examiner as ``cinempc sim``.

* **Action** (``Box(-1, 1, (8,))``, normalised so every agent sees the same scale): drone
  velocity east/north/up (times the vehicle's speed limits), camera yaw rate (times the
  yaw-rate limit), gimbal pitch (mapped onto the gimbal range), focal length (onto the lens
  range), focus distance and f-number (log-mapped onto their ranges).  It becomes a
  :class:`cinempc.state.Setpoint` -- the same message the MPC sends -- so the vehicle, gimbal
  and lens dynamics and rate limits of the simulator apply unchanged.
* **Observation**: a float32 state vector (:data:`OBSERVATION_FIELDS`): rig position,
  velocity, heading, pitch, lens; primary subject relative position, velocity and height;
  where the subject is on screen and whether it is sharp.  With ``image_observation=True`` a
  ``Dict`` adds the rendered RGB frame.
* **Reward** per control step from the same :func:`cinempc_sim.metrics.grade_step` that writes
  ``metrics.json``; weights in ``config/closed_loop.yaml`` ``reward``.
* **Episode**: the shot's (else the scenario's) duration; a collision terminates it.

Register by importing this module (it registers on import), or let Gymnasium import it:
``gymnasium.make("cinempc_sim.gym_env:CineMPC/Film-v0")``.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from cinempc.angles import wrap_angle
from cinempc.config import load_camera_profile, load_parameters, load_vehicle_config
from cinempc.shot import ShotSpec, vocabulary
from cinempc.state import RigState, Setpoint
from cinempc_sim.metrics import MetricParams, StepGrade, TrueSubject, grade_step

ENV_ID = "CineMPC/Film-v0"
OBSERVATION_BOUND = 1.0e4  # every field is metres, m/s, radians or a fraction: far inside this
ACTION_FIELDS = ("vx", "vy", "vz", "yaw_rate", "pitch", "focal_length", "focus_distance", "f_number")
OBSERVATION_FIELDS = (
    "x_m", "y_m", "z_m", "vx_mps", "vy_mps", "vz_mps", "cos_yaw", "sin_yaw", "pitch_rad",
    "focal_length_norm", "log_focus_distance_m", "log_f_number",
    "subject_dx_m", "subject_dy_m", "subject_dz_m", "subject_vx_mps", "subject_vy_mps", "subject_height_m",
    "subject_depth_m", "composition_u", "composition_v_head", "size_error", "in_focus", "visible",
)


def _to_unit(value: float, low: float, high: float, log: bool = False) -> float:
    if log:
        value, low, high = math.log(value), math.log(low), math.log(high)
    return float(np.clip(2.0 * (value - low) / (high - low) - 1.0, -1.0, 1.0))


def _from_unit(unit: float, low: float, high: float, log: bool = False) -> float:
    unit = float(np.clip(unit, -1.0, 1.0))
    if log:
        return math.exp(math.log(low) + 0.5 * (unit + 1.0) * (math.log(high) - math.log(low)))
    return low + 0.5 * (unit + 1.0) * (high - low)


class FilmEnv(gym.Env):
    """Film a shot in a simulated scenario; see the module docstring for spaces and reward."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self, scenario: str = "single_walker", shot: ShotSpec | str | None = None, *,
        image_observation: bool = False, render_mode: str | None = None, control_rate_hz: float = 10.0,
        duration_s: float | None = None, image_size: tuple[int, int] = (160, 120),
    ) -> None:
        from cinempc.cli.sim import resolve_scenario_path
        from cinempc_sim.closed_loop import resolve_shot
        from cinempc_sim.scenario import load_scenario

        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if not (0 < control_rate_hz <= 50):
            raise ValueError(f"control_rate_hz must be in (0, 50], got {control_rate_hz}")
        self.scenario = load_scenario(resolve_scenario_path(scenario))
        self.shot = resolve_shot(self.scenario, shot)
        self.render_mode = render_mode
        self.image_observation = image_observation
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.dt_s = 1.0 / control_rate_hz
        duration = duration_s or self.shot.duration_s or self.scenario.duration_s
        self.max_steps = max(1, int(round(duration / self.dt_s)))
        self.camera = load_camera_profile(self.scenario.camera_profile).with_resolution(*self.image_size)
        self.vehicle = load_vehicle_config()
        self.vocab = vocabulary()
        self.metric_params = MetricParams.from_config()
        self.weights = {k: float(v) for k, v in load_parameters("closed_loop.yaml")["reward"].items()}

        self.action_space = spaces.Box(-1.0, 1.0, shape=(len(ACTION_FIELDS),), dtype=np.float32)
        state_space = spaces.Box(
            -OBSERVATION_BOUND, OBSERVATION_BOUND, shape=(len(OBSERVATION_FIELDS),), dtype=np.float32
        )
        if image_observation:
            width, height = self.image_size
            self.observation_space = spaces.Dict(
                {"state": state_space, "image": spaces.Box(0, 255, shape=(height, width, 3), dtype=np.uint8)}
            )
        else:
            self.observation_space = state_space
        self.sim = None
        self._sim_seed: int | None = None
        self._steps = 0
        self._collisions = 0

    # ------------------------------------------------------------------ mapping

    def action_to_setpoint(self, action: np.ndarray, state: RigState) -> Setpoint:
        """The Setpoint a normalised action asks for (the same message the MPC sends)."""
        a = np.asarray(action, dtype=float).reshape(-1)
        if a.shape != (len(ACTION_FIELDS),) or not np.all(np.isfinite(a)):
            raise ValueError(f"action must be {len(ACTION_FIELDS)} finite numbers ({', '.join(ACTION_FIELDS)})")
        a = np.clip(a, -1.0, 1.0)
        limits, gimbal, cam = self.vehicle.vehicle, self.vehicle.gimbal, self.camera
        velocity = np.array([a[0] * limits.max_speed_mps, a[1] * limits.max_speed_mps,
                             a[2] * limits.max_vertical_speed_mps])
        yaw_rate = a[3] * min(limits.max_yaw_rate_rad_s, gimbal.max_yaw_rate_rad_s)
        position = np.asarray(self.vehicle.airspace.clamp(state.position_m + velocity * self.dt_s))
        return Setpoint(
            position_m=position, velocity_mps=velocity, acceleration_mps2=np.zeros(3),
            yaw_rad=state.yaw_rad + yaw_rate * self.dt_s, yaw_rate_rad_s=yaw_rate,
            pitch_rad=_from_unit(a[4], gimbal.pitch_min_rad, gimbal.pitch_max_rad),
            focal_length_mm=_from_unit(a[5], cam.focal_length_mm.min, cam.focal_length_mm.max),
            focus_distance_m=_from_unit(a[6], cam.focus_distance_m.min, cam.focus_distance_m.max, log=True),
            f_number=_from_unit(a[7], cam.f_number.min, cam.f_number.max, log=True),
        )

    def setpoint_to_action(self, setpoint: Setpoint, state: RigState) -> np.ndarray:
        """The action closest to a Setpoint (lets the MPC act as a policy)."""
        limits, gimbal, cam = self.vehicle.vehicle, self.vehicle.gimbal, self.camera
        yaw_limit = min(limits.max_yaw_rate_rad_s, gimbal.max_yaw_rate_rad_s)
        yaw_rate = wrap_angle(setpoint.yaw_rad - state.yaw_rad) / self.dt_s
        # Position error folded into the velocity, as the autopilot's position loop would do.
        velocity = setpoint.velocity_mps + (setpoint.position_m - state.position_m) / max(self.dt_s, 0.5)
        action = [
            velocity[0] / limits.max_speed_mps, velocity[1] / limits.max_speed_mps,
            velocity[2] / limits.max_vertical_speed_mps, yaw_rate / yaw_limit,
            _to_unit(setpoint.pitch_rad, gimbal.pitch_min_rad, gimbal.pitch_max_rad),
            _to_unit(setpoint.focal_length_mm, cam.focal_length_mm.min, cam.focal_length_mm.max),
            _to_unit(setpoint.focus_distance_m, cam.focus_distance_m.min, cam.focus_distance_m.max, log=True),
            _to_unit(setpoint.f_number, cam.f_number.min, cam.f_number.max, log=True),
        ]
        return np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)

    # --------------------------------------------------------------------- gym API

    def _make_sim(self, seed: int) -> None:
        from cinempc_sim.simulator import Simulator

        if self.sim is not None and self._sim_seed == seed:
            self.sim.reset()
            return
        self.close()
        render = self.image_observation or self.render_mode == "rgb_array"
        self.sim = Simulator(self.scenario, camera=self.camera, seed=seed, render=render, image_size=self.image_size)
        self._sim_seed = seed

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        sim_seed = int(self.np_random.integers(0, 2**31 - 1)) if seed is not None else (self._sim_seed or 0)
        self._make_sim(sim_seed)
        self._steps = 0
        self._collisions = 0
        observation, info = self._observe()
        return observation, info

    def step(self, action):
        if self.sim is None:
            raise RuntimeError("call reset() before step()")
        state = self.sim.rig_state()
        self.sim.step(self.action_to_setpoint(action, state), self.dt_s)
        self._steps += 1
        observation, info = self._observe()
        grade: StepGrade = info["grade"]
        new_collisions = self.sim.collisions - self._collisions
        self._collisions = self.sim.collisions
        w = self.weights
        reward = (
            w["in_focus_bonus"] * float(grade.in_focus)
            - w["composition_weight"] * grade.composition_error
            - w["size_weight"] * min(abs(grade.size_error), 1.0)
            - w["collision_penalty"] * new_collisions
            - w["invisible_penalty"] * float(not grade.visible)
        )
        terminated = new_collisions > 0
        truncated = self._steps >= self.max_steps
        return observation, float(reward), bool(terminated), bool(truncated), info

    def _observe(self):
        state = self.sim.rig_state()
        tracks = self.sim.subjects(0, self.dt_s)
        truth = [TrueSubject.from_track(t) for t in tracks]
        grade = grade_step(state, truth, self.shot, self.camera, self.vocab, self.sim.background_distance_m,
                           self.metric_params, self._steps * self.dt_s)
        primary = next((t for t in tracks if t.matches(self.shot.primary_subject)), tracks[0] if tracks else None)
        if primary is not None:
            rel = primary.positions_m[0] - state.position_m
            subject = [*rel, *primary.velocities_mps[0, :2], primary.height_m]
        else:
            subject = [0.0] * 6
        cam = self.camera
        vector = [
            *state.position_m, *state.velocity_mps, math.cos(state.yaw_rad), math.sin(state.yaw_rad),
            state.pitch_rad, _to_unit(state.focal_length_mm, cam.focal_length_mm.min, cam.focal_length_mm.max),
            math.log(state.focus_distance_m), math.log(state.f_number), *subject,
            grade.focus_distances_m[0] if grade.focus_distances_m else 0.0,
            grade.u_fraction if math.isfinite(grade.u_fraction) else -1.0,
            grade.v_head_fraction if math.isfinite(grade.v_head_fraction) else -1.0,
            float(np.clip(grade.size_error, -10.0, 10.0)), float(grade.in_focus), float(grade.visible),
        ]
        vector = np.clip(np.nan_to_num(np.asarray(vector, dtype=np.float32), nan=0.0), -OBSERVATION_BOUND,
                         OBSERVATION_BOUND)
        info = {"grade": grade, "time_s": self.sim.time_s, "collisions": self.sim.collisions}
        if self.image_observation:
            return {"state": vector, "image": np.ascontiguousarray(self.sim.render().rgb[..., :3])}, info
        return vector, info

    def render(self):
        if self.render_mode != "rgb_array" or self.sim is None:
            return None
        return np.ascontiguousarray(self.sim.render().rgb[..., :3])

    def close(self) -> None:
        if self.sim is not None:
            self.sim.close()
            self.sim = None
            self._sim_seed = None


def register_envs() -> None:
    """Register ``CineMPC/Film-v0`` with Gymnasium (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="cinempc_sim.gym_env:FilmEnv")


register_envs()
