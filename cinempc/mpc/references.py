"""From a ShotSpec, subject predictions and obstacles to the stage parameters ``P``.

Everything shot-specific becomes numbers in the per-stage parameter vectors --
composition targets from :func:`cinempc.shot.vocabulary`, the viewpoint, the
time-varying movement reference, which subjects must be sharp, the obstacles --
so one compiled problem serves every shot.  This module is plain NumPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cinempc import optics
from cinempc.config import CameraProfile, VehicleConfig
from cinempc.mpc.model import FOCAL_SCALE_MM, ParamLayout, stops_from_f_number
from cinempc.mpc.ocp import yaw_rate_limit
from cinempc.mpc.params import MPCParams
from cinempc.shot import ShotSpec, ShotVocabulary, side_bearing_rad
from cinempc.state import Obstacle, RigState, SubjectTrack

# box corners lie inside the p=8 super-ellipsoid once its axes are scaled by 3**(1/8)
_BOX_AXIS_SCALE = 3.0 ** (1.0 / 8.0)


def unit(bearing_rad: float, elevation_rad: float) -> np.ndarray:
    """Direction at a bearing (CCW from +x) and an elevation above the horizon."""
    ce = math.cos(elevation_rad)
    return np.array([ce * math.cos(bearing_rad), ce * math.sin(bearing_rad), math.sin(elevation_rad)])


def approach_angle(current_rad: float, target_rad: float, max_step_rad: float) -> float:
    """``current`` moved towards ``target`` the short way round by at most ``max_step``."""
    error = math.remainder(target_rad - current_rad, math.tau)
    return current_rad + max(-max_step_rad, min(max_step_rad, error))


def _over_horizon(samples: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Rows ``steps`` of a prediction, the last row held past its end."""
    return samples[np.minimum(steps, len(samples) - 1)]


def lateral_sigma_m(subject: SubjectTrack, camera_position_m: np.ndarray) -> float:
    """Standard deviation of the subject's position now, across the camera's line of sight (0 when exact).

    Only the across-view component can carry a subject out of the side of the frame; the
    along-view one changes its size, which the framing's height targets already absorb.
    """
    across = optics.across_view(camera_position_m, subject.positions_m[0])
    if subject.covariance_m2 is None or across is None:
        return 0.0
    variance = float(across @ np.asarray(subject.covariance_m2)[0] @ across)
    return math.sqrt(max(variance, 0.0))


def smoothstep(x: float) -> float:
    """0 below 0, 1 above 1, a C1 S-curve between: how a focus puller eases a rack."""
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass
class ShotMemory:
    """What a shot remembers from its first solve: where the move starts."""

    time_s: float
    position_m: np.ndarray
    yaw_rad: float
    focal_state: float
    anchor_m: np.ndarray
    distance_m: float
    bearing_rad: float
    elevation_rad: float
    headings_rad: dict[int, float] = field(default_factory=dict)
    smoothed_velocities_mps: dict[int, tuple[float, np.ndarray]] = field(default_factory=dict)  # id -> (time, v)
    view_bearing_rad: float | None = None  # follow: where the viewpoint reference stands now (rate-limited)
    view_time_s: float | None = None


@dataclass
class SubjectRoles:
    """Which subjects are framed, which are focus targets, and which fill the OCP's slots."""

    framed: list[SubjectTrack]
    focus: list[SubjectTrack]
    rack_to: SubjectTrack | None
    slots: list[SubjectTrack]


def assign_roles(shot: ShotSpec, subjects: list[SubjectTrack], position_m: np.ndarray, max_slots: int) -> SubjectRoles:
    """Resolve the shot's subject references against the tracks.

    Slots go first to focus and rack targets, then to framed subjects, then to the
    nearest others -- the stand-off constraint protects whoever is in a slot.
    """
    visible = [s for s in subjects if s.visible]
    framed = [s for s in visible if any(s.matches(ref) for ref in shot.subjects)]
    focus_ref = shot.focus_target
    if focus_ref == shot.primary_subject and framed and focus_ref != "all":
        focus = [framed[0]]
    else:
        focus = [s for s in visible if s.matches(focus_ref)]
    rack = None
    if shot.focus.rack_to is not None:
        rack = next((s for s in visible if s.matches(shot.focus.rack_to)), None)
    ordered: list[SubjectTrack] = []
    for s in [*focus, *([rack] if rack else []), *framed]:
        if all(s.track_id != o.track_id for o in ordered):
            ordered.append(s)
    rest = sorted(
        (s for s in subjects if all(s.track_id != o.track_id for o in ordered)),
        key=lambda s: float(np.linalg.norm(s.positions_m[0] - position_m)),
    )
    slots = (ordered + rest)[:max_slots]
    slot_ids = {s.track_id for s in slots}
    return SubjectRoles(framed=framed, focus=[s for s in focus if s.track_id in slot_ids], rack_to=rack, slots=slots)


class ReferenceBuilder:
    """Builds the stage-parameter matrix ``P`` (n_p x N+1) for one solve."""

    def __init__(
        self, layout: ParamLayout, horizon_steps: int, dt_s: float, camera: CameraProfile, vehicle: VehicleConfig,
        params: MPCParams, vocab: ShotVocabulary, lens_mode: str,
    ):
        self.layout = layout
        self.N = horizon_steps
        self.dt_s = dt_s
        self.camera = camera
        self.vehicle = vehicle
        self.params = params
        self.vocab = vocab
        self.lens_mode = lens_mode

    # ------------------------------------------------------------ shot geometry

    def min_distance_m(self) -> float:
        return self.vehicle.airspace.min_subject_distance_m

    def requested_distance_m(self, shot: ShotSpec, relaxations: list[str]) -> float:
        """The stand-off: the shot's, else the framing's default; never inside the minimum."""
        distance = shot.distance_m if shot.distance_m is not None else self.vocab.default_distance_m[shot.framing]
        floor = self.min_distance_m() + self.params.targets.dolly_distance_margin_m
        if distance < floor:
            if shot.distance_m is not None:
                relaxations.append(
                    f"distance_m: {shot.distance_m:g} m is inside the minimum subject distance "
                    f"{self.min_distance_m():g} m; using {floor:g} m"
                )
            distance = floor
        return distance

    def focal_for_framing_mm(self, framing: str, height_m: float, distance_m: float) -> float:
        """Focal length that gives the framing's subject height at a distance (thin-lens, square-on)."""
        fraction = self.vocab.framing_height_fraction[framing]
        return fraction * self.camera.sensor_height_mm * distance_m / height_m

    def lens_override_mm(self, shot: ShotSpec, relaxations: list[str]) -> float | None:
        if shot.lens.focal_length_mm is None:
            return None
        wanted = shot.lens.focal_length_mm
        clamped = self.camera.focal_length_mm.clamp(wanted)
        if clamped != wanted:
            relaxations.append(
                f"lens.focal_length_mm: {wanted:g} mm is outside the lens range "
                f"{self.camera.focal_length_mm.min:g}-{self.camera.focal_length_mm.max:g} mm; using {clamped:g} mm"
            )
        return clamped

    def check_framing_feasible(self, shot: ShotSpec, height_m: float, focal_mm: float | None,
                               relaxations: list[str]) -> None:
        """Report a framing no allowed distance can give with the lens the shot imposes."""
        focal = focal_mm if focal_mm is not None else self.camera.focal_length_mm.max
        fraction = self.vocab.framing_height_fraction[shot.framing]
        needed_m = focal * height_m / (fraction * self.camera.sensor_height_mm)
        if needed_m < self.min_distance_m():
            relaxations.append(
                f"framing: {shot.framing} at {focal:g} mm needs the camera {needed_m:.2f} m from the subject, inside "
                f"the minimum subject distance {self.min_distance_m():g} m; framing relaxed (subject smaller on screen)"
            )

    # ------------------------------------------------------------------- memory

    def start_memory(self, state: RigState, roles: SubjectRoles, shot_time_s: float) -> ShotMemory:
        anchor = self.group_over_horizon(roles.framed, np.arange(1))[2][0]
        rel = state.position_m - anchor
        distance = max(float(np.linalg.norm(rel)), 1e-3)
        floor = self.min_distance_m() + self.params.targets.dolly_distance_margin_m
        return ShotMemory(
            time_s=shot_time_s,
            position_m=state.position_m.copy(),
            yaw_rad=state.yaw_rad,
            focal_state=state.focal_length_mm / FOCAL_SCALE_MM,
            anchor_m=anchor,
            distance_m=max(distance, floor),
            bearing_rad=math.atan2(rel[1], rel[0]),
            elevation_rad=math.asin(max(-1.0, min(1.0, rel[2] / distance))),
        )

    def group_height(self, framed: list[SubjectTrack]) -> float:
        return float(np.mean([s.height_m for s in framed]))

    def group_over_horizon(self, framed: list[SubjectTrack], steps: np.ndarray):
        """The framed group's mean feet point, velocity and eye-line anchor at ``steps`` (rows).

        All steps at once: a per-step mean cost ~3 ms of the control step.
        """
        feet = np.mean([_over_horizon(s.positions_m, steps) for s in framed], axis=0)
        velocity = np.mean([_over_horizon(s.velocities_mps, steps) for s in framed], axis=0)
        eye = self.group_height(framed) * self.params.targets.eye_height_fraction
        return feet, velocity, feet + np.array([0.0, 0.0, eye])

    def remember_heading(self, subject: SubjectTrack, memory: ShotMemory, shot_time_s: float) -> None:
        """Low-pass the subject's ground velocity; remember its direction while that is a walk, not a stand.

        Why: a perceived velocity lags a stop by a few frames and turns while it
        shrinks (stop_and_go: (0.5, -0.2) m/s 0.2 s after the walker stopped, then
        0.2 m/s at 63 deg).  Taken raw, that became the standing walker's heading: the
        follow viewpoint swung 18 deg off for the whole pause and lost the jog that
        followed.  Smoothed over ``heading_smoothing_s``, the heading a stop leaves
        is the one the walk had.
        """
        velocity = np.asarray(subject.velocities_mps[0][:2], dtype=float)
        previous = memory.smoothed_velocities_mps.get(subject.track_id)
        if previous is not None:
            elapsed = max(shot_time_s - previous[0], 0.0)
            blend = 1.0 - math.exp(-elapsed / max(self.params.targets.heading_smoothing_s, 1e-6))
            velocity = previous[1] + blend * (velocity - previous[1])
        memory.smoothed_velocities_mps[subject.track_id] = (shot_time_s, velocity)
        if math.hypot(*velocity) > max(self.params.targets.still_speed_mps, 1e-6):
            memory.headings_rad[subject.track_id] = math.atan2(velocity[1], velocity[0])

    def heading(self, subject: SubjectTrack, k: int, memory: ShotMemory) -> float:
        """Direction of travel at step k: now, the remembered (smoothed) heading; ahead, the predicted velocity's.

        A subject standing still keeps the last heading seen while moving.
        """
        velocity = subject.velocities_mps[min(k, len(subject.velocities_mps) - 1)]
        if k > 0 and math.hypot(velocity[0], velocity[1]) > max(self.params.targets.still_speed_mps, 1e-6):
            return math.atan2(velocity[1], velocity[0])
        return memory.headings_rad.get(subject.track_id, 0.0)

    def advance_view_bearing(self, memory: ShotMemory, desired_rad: float, shot_time_s: float,
                             distance_m: float) -> float:
        """Swing the follow viewpoint towards ``desired_rad`` at the configured speed; return the rate.

        Why: a subject turning a corner (or a shot asking for the other side) flips the
        desired bearing at once; asked to leap there, the drone cuts across or around the
        subject and the frame is lost.  A camera operator arcs round instead, and so does
        this reference: it starts where the drone is and turns no faster than
        ``view_turn_speed_mps`` along the arc.
        """
        rate = self.params.targets.view_turn_speed_mps / max(distance_m, 1e-3)
        if memory.view_bearing_rad is None or memory.view_time_s is None:
            memory.view_bearing_rad, memory.view_time_s = memory.bearing_rad, shot_time_s
        elapsed = max(shot_time_s - memory.view_time_s, 0.0)
        memory.view_bearing_rad = approach_angle(memory.view_bearing_rad, desired_rad, rate * elapsed)
        memory.view_time_s = shot_time_s
        return rate

    # -------------------------------------------------------------------- build

    def build(
        self, state: RigState, shot: ShotSpec, roles: SubjectRoles, obstacles: list[Obstacle], shot_time_s: float,
        background_distance_m: float | None, memory: ShotMemory, relaxations: list[str],
    ) -> np.ndarray:
        L, N, dt = self.layout, self.N, self.dt_s
        w, t = self.params.weights, self.params.targets
        camera, vehicle = self.camera, self.vehicle
        framed = roles.framed
        height = self.group_height(framed)
        distance = self.requested_distance_m(shot, relaxations)
        override_mm = self.lens_override_mm(shot, relaxations)
        self.check_framing_feasible(shot, height, override_mm, relaxations)
        speed = self.vocab.movement_speed_mps(shot.movement)
        movement = shot.movement.type
        elevation = math.radians(self.vocab.angle_elevation_deg[shot.angle])
        fraction = self.vocab.framing_height_fraction[shot.framing]
        head_v = self.vocab.framing_head_v_fraction[shot.framing]
        u_target = self.vocab.screen_position_u_fraction[shot.screen_position]
        dmin_floor = self.min_distance_m() + t.dolly_distance_margin_m
        primary = framed[0]
        self.remember_heading(primary, memory, shot_time_s)
        background = background_distance_m if background_distance_m is not None else t.default_background_distance_m
        dof_mode = shot.focus.depth_of_field
        fixed_lens = self.lens_mode == "fixed_lens_autofocus"

        base = L.zeros()
        # constants over the horizon
        L.set(base, "sensor_width_m", camera.sensor_width_m)
        L.set(base, "image_width_px", camera.image_width_px)
        L.set(base, "image_height_px", camera.image_height_px)
        L.set(base, "coc_m", camera.coc_m)
        L.set(base, "target_u", u_target)
        L.set(base, "w_composition", [w.composition_u, w.composition_head_v, w.composition_feet_v])
        L.set(base, "w_in_front", w.in_front)
        L.set(base, "w_in_frame", w.in_frame)
        L.set(base, "frame_margin", t.frame_margin)
        L.set(base, "min_depth_m", t.min_depth_m)
        L.set(base, "depth_margin", t.depth_margin)
        L.set(base, "background_distance_m", background)
        L.set(base, "background_blur_px", t.background_blur_px)
        sharp_weight = 0.0 if fixed_lens else w.depth_of_field
        L.set(base, "w_dof", sharp_weight)
        L.set(base, "w_background_blur", w.background_blur if dof_mode == "shallow" and not fixed_lens else 0.0)
        L.set(base, "w_background_sharp", w.background_sharp if dof_mode == "deep" and not fixed_lens else 0.0)
        nominal = camera.f_number.clamp(t.iris_nominal_f_number)
        if dof_mode == "shallow":
            nominal = camera.f_number.min
        L.set(base, "stops_nominal", stops_from_f_number(nominal))
        L.set(base, "w_iris", w.iris_nominal)
        L.set(base, "w_acc", w.acceleration)
        L.set(base, "w_jerk", w.jerk)
        L.set(base, "w_rates", [w.yaw_rate, w.pitch_rate, w.zoom_rate, w.focus_rate, w.iris_rate])
        L.set(base, "inv_limits", [
            1.0 / vehicle.vehicle.max_accel_mps2, 1.0 / vehicle.vehicle.max_jerk_mps3,
            1.0 / yaw_rate_limit(camera, vehicle), 1.0 / vehicle.gimbal.max_pitch_rate_rad_s,
            FOCAL_SCALE_MM / camera.zoom_speed_mm_per_s, 1.0 / camera.focus_speed_m_per_s,
            1.0 / camera.iris_speed_stops_per_s,
        ])
        L.set(base, "w_slack", [w.slack_l1, w.slack_l2])
        air = vehicle.airspace
        L.set(base, "fence_lo_m", [air.geofence_min_m[0], air.geofence_min_m[1], air.altitude_floor_m])
        L.set(base, "fence_hi_m", [air.geofence_max_m[0], air.geofence_max_m[1], air.altitude_ceiling_m])
        L.set(base, "max_speed_sq", vehicle.vehicle.max_speed_mps**2)
        L.set(base, "max_accel_sq", vehicle.vehicle.max_accel_mps2**2)
        L.set(base, "min_subject_distance_m", max(self.min_distance_m(), 0.1))
        self._set_obstacles(base, state, obstacles)

        # lens hold: an override, or the focal length at the start of moves that must not zoom
        holds_focal = movement in ("static", "dolly_in", "dolly_out", "truck_left", "truck_right", "pedestal_up",
                                   "pedestal_down", "crane_up", "crane_down", "dronie", "reveal", "orbit")
        focal_hold, focal_hold_w = memory.focal_state, 0.0
        if override_mm is not None:
            focal_hold, focal_hold_w = override_mm / FOCAL_SCALE_MM, w.lens_hold
        elif holds_focal:
            focal_hold_w = w.lens_hold * 0.25
        L.set(base, "focal_hold", focal_hold)
        L.set(base, "w_focal_hold", 0.0 if fixed_lens else focal_hold_w)

        # dolly zoom: the distance range the zoom range allows at this framing
        zoom_lo_m = zoom_hi_m = None
        if movement in ("dolly_zoom_in", "dolly_zoom_out"):
            f_start = camera.focal_length_mm.clamp(self.focal_for_framing_mm(shot.framing, height, memory.distance_m))
            zoom_lo_m = max(dmin_floor, memory.distance_m * camera.focal_length_mm.min / f_start * 1.02)
            zoom_hi_m = memory.distance_m * camera.focal_length_mm.max / f_start * 0.98

        # composition weights: the framed subjects that have a slot share 1 (the primary always has one)
        framed_ids = {s.track_id for s in framed}
        framed_weights = np.array([1.0 if s.track_id in framed_ids else 0.0 for s in roles.slots]
                                  + [0.0] * (L.max_subjects - len(roles.slots)))
        if framed_weights.sum() == 0.0:  # every slot went to focus targets: frame the first of them
            framed_weights[0] = 1.0
        framed_weights /= framed_weights.sum()
        half_widths = np.zeros(L.max_subjects)
        for i, s in enumerate(roles.slots):
            half_widths[i] = t.framed_half_width_m + t.frame_margin_sigmas * min(
                lateral_sigma_m(s, state.position_m), t.frame_margin_sigma_max_m)
        L.set(base, "subj_half_width_m", half_widths)
        P = np.tile(base[:, None], (1, N + 1))
        steps = np.arange(N + 1)
        group_feet, group_velocity, group_anchor = self.group_over_horizon(framed, steps)
        slot_feet = [_over_horizon(s.positions_m, steps) for s in roles.slots]
        rack_start = t.rack_start_s
        rack_duration = shot.focus.rack_duration_s or t.rack_duration_s
        sgn_orbit = -1.0 if shot.movement.direction == "clockwise" else 1.0
        view_rate = 0.0
        if movement == "follow":
            desired = self.heading(primary, 0, memory) + side_bearing_rad(shot.side)
            view_rate = self.advance_view_bearing(memory, desired, shot_time_s, distance)
        for k in range(N + 1):
            col = P[:, k]
            time_k = shot_time_s + k * dt
            tau = max(time_k - memory.time_s, 0.0)
            feet, anchor, v_group = group_feet[k], group_anchor[k], group_velocity[k]
            L.set(col, "group_feet_m", feet)
            L.set(col, "view_anchor_m", anchor)
            L.set(col, "stage_weight", self.params.horizon.terminal_weight if k == N else 1.0)
            bearing = self.heading(primary, k, memory) + side_bearing_rad(shot.side)
            view_e = elevation
            view_d = distance
            w_view = [w.view_direction, w.view_distance]
            pos_ref, w_pos = anchor, 0.0
            vel_ref, w_vel = v_group, w.velocity_reference
            size_scale = 1.0
            disp = anchor - memory.anchor_m  # how far the subject moved since the shot started

            if movement == "static":
                pos_ref, w_pos = memory.position_m, w.position_reference * 10.0
                vel_ref, w_view = np.zeros(3), [0.0, 0.0]
            elif movement == "orbit":
                rate = speed / max(memory.distance_m, 1e-3)
                bearing = memory.bearing_rad + sgn_orbit * rate * tau
                view_d = max(memory.distance_m, dmin_floor) if shot.distance_m is None else distance
                tangent = np.array([-math.sin(bearing), math.cos(bearing), 0.0])
                vel_ref = v_group + sgn_orbit * speed * tangent
            elif movement in ("dolly_in", "dolly_out", "dronie"):
                sign = -1.0 if movement == "dolly_in" else 1.0
                view_d = max(dmin_floor, memory.distance_m + sign * speed * tau)
                bearing = memory.bearing_rad
                view_e = memory.elevation_rad if movement != "dronie" else elevation
                size_scale = memory.distance_m / view_d
                moving = view_d > dmin_floor + 1e-6
                vel_ref = v_group + (sign * speed * unit(bearing, view_e) if moving else 0.0)
            elif movement in ("dolly_zoom_in", "dolly_zoom_out"):
                sign = -1.0 if movement == "dolly_zoom_in" else 1.0
                view_d = min(max(memory.distance_m + sign * speed * tau, zoom_lo_m), zoom_hi_m)
                bearing, view_e = memory.bearing_rad, memory.elevation_rad
                moving = zoom_lo_m + 1e-6 < view_d < zoom_hi_m - 1e-6
                vel_ref = v_group + (sign * speed * unit(bearing, view_e) if moving else 0.0)
                w_view = [w.view_direction, w.view_distance * 20.0]  # the move IS the distance change
            elif movement in ("truck_left", "truck_right"):
                sign = 1.0 if movement == "truck_right" else -1.0
                right = np.array([math.sin(memory.yaw_rad), -math.cos(memory.yaw_rad), 0.0])
                pos_ref, w_pos = memory.position_m + disp + sign * right * speed * tau, w.position_reference
                vel_ref, w_view = v_group + sign * right * speed, [0.0, 0.0]
            elif movement in ("pedestal_up", "pedestal_down"):
                sign = 1.0 if movement == "pedestal_up" else -1.0
                up = np.array([0.0, 0.0, 1.0])
                pos_ref, w_pos = memory.position_m + disp + sign * up * speed * tau, w.position_reference
                vel_ref, w_view = v_group + sign * up * speed, [0.0, 0.0]
            elif movement in ("crane_up", "crane_down", "reveal"):
                sign = -1.0 if movement == "crane_down" else 1.0
                lo, hi = (math.radians(a) for a in t.crane_elevation_limits_deg)
                arc_speed = speed / math.sqrt(2.0) if movement == "reveal" else speed
                if movement == "reveal":
                    view_d = memory.distance_m + arc_speed * tau
                else:
                    view_d = memory.distance_m
                view_e = min(max(memory.elevation_rad + sign * arc_speed / view_d * tau, lo), hi)
                bearing = memory.bearing_rad
                arc = np.array([-math.sin(view_e) * math.cos(bearing), -math.sin(view_e) * math.sin(bearing),
                                math.cos(view_e)])
                moving = lo + 1e-6 < view_e < hi - 1e-6
                vel_ref = v_group + (sign * arc_speed * arc if moving else 0.0)
                if movement == "reveal":
                    vel_ref = vel_ref + arc_speed * unit(bearing, view_e)
            elif movement == "flyby":
                duration = shot.duration_s or t.flyby_duration_s
                side_bearing = memory.headings_rad.get(primary.track_id, 0.0) + side_bearing_rad(shot.side)
                line = np.array([math.sin(side_bearing), -math.cos(side_bearing), 0.0])
                closest = anchor + distance * unit(side_bearing, elevation)
                pos_ref = closest + line * speed * (tau - duration / 2.0)
                w_pos, vel_ref, w_view = w.position_reference, v_group + line * speed, [0.0, 0.0]
            else:  # follow: side bearing (swung round at a bounded rate), angle elevation, distance, subject velocity
                bearing = approach_angle(memory.view_bearing_rad, bearing, view_rate * k * dt)

            L.set(col, "view_dir", unit(bearing, view_e))
            L.set(col, "view_distance_m", max(view_d, 0.1))
            L.set(col, "w_view", w_view)
            L.set(col, "pos_ref_m", pos_ref)
            L.set(col, "w_pos", w_pos)
            L.set(col, "vel_ref_mps", vel_ref)
            L.set(col, "w_vel", w_vel)
            L.set(col, "target_head_v", head_v)
            L.set(col, "target_feet_v", head_v + fraction * size_scale)

            # focus: blend weights over the slots, and who must be sharp
            alpha = np.zeros(L.max_subjects)
            sharp = np.zeros(L.max_subjects)
            active = np.zeros(L.max_subjects)
            body = np.zeros(3 * L.max_subjects)
            feet_slots = np.zeros(3 * L.max_subjects)
            heights = np.zeros(L.max_subjects)
            index = {s.track_id: i for i, s in enumerate(roles.slots)}
            for i, s in enumerate(roles.slots):
                feet_slots[3 * i:3 * i + 3] = slot_feet[i][k]
                heights[i] = s.height_m
                body[3 * i:3 * i + 3] = slot_feet[i][k]
                body[3 * i + 2] += s.height_m * t.body_height_fraction
                active[i] = 1.0
            focus_ids = [s.track_id for s in roles.focus if s.track_id in index]
            follow = w.focus_follow
            if roles.rack_to is not None and roles.rack_to.track_id in index and focus_ids:
                ramp = smoothstep((time_k - rack_start) / rack_duration)
                a_i, b_i = index[focus_ids[0]], index[roles.rack_to.track_id]
                alpha[a_i] += 1.0 - ramp
                alpha[b_i] += ramp
                if ramp <= 0.0:
                    sharp[a_i] = 1.0
                elif ramp >= 1.0:
                    sharp[b_i] = 1.0
            elif focus_ids:
                for tid in focus_ids:
                    alpha[index[tid]] = 1.0 / len(focus_ids)
                    sharp[index[tid]] = 1.0
                if len(focus_ids) > 1:
                    follow *= 0.01  # several targets: the depth-of-field terms place the focus
            if dof_mode == "deep":
                for s in framed:
                    if s.track_id in index:
                        sharp[index[s.track_id]] = 1.0
            if fixed_lens:
                follow = w.focus_follow * 10.0
            L.set(col, "subj_body_m", body)
            L.set(col, "subj_feet_m", feet_slots)
            L.set(col, "subj_height_m", heights)
            L.set(col, "subj_framed", framed_weights)
            L.set(col, "subj_focus_alpha", alpha)
            L.set(col, "subj_sharp", sharp)
            L.set(col, "subj_active", active)
            L.set(col, "w_focus_follow", follow if alpha.sum() > 0 else 0.0)
        return P

    def _set_obstacles(self, vector: np.ndarray, state: RigState, obstacles: list[Obstacle]) -> None:
        L = self.layout
        clearance = self.vehicle.airspace.obstacle_clearance_m + self.vehicle.vehicle.radius_m
        nearest = sorted(obstacles, key=lambda o: o.distance_m(state.position_m))[: L.max_obstacles]
        centers = np.zeros(3 * L.max_obstacles)
        axes = np.ones(3 * L.max_obstacles)
        p_xy = np.full(L.max_obstacles, 2.0)
        p_z = np.full(L.max_obstacles, 2.0)
        active = np.zeros(L.max_obstacles)
        for i, obstacle in enumerate(nearest):
            if obstacle.kind == "sphere":
                center = obstacle.center_m
                ax = np.full(3, obstacle.radius_m + clearance)
                exps = (2.0, 2.0)
            elif obstacle.kind == "cylinder":
                center = obstacle.center_m + np.array([0.0, 0.0, obstacle.height_m / 2.0])
                r = obstacle.radius_m + clearance
                ax = np.array([r, r, obstacle.height_m / 2.0 + clearance])
                exps = (2.0, 8.0)
            else:
                center = obstacle.center_m
                ax = obstacle.half_extents_m * _BOX_AXIS_SCALE + clearance
                exps = (8.0, 8.0)
            centers[3 * i:3 * i + 3] = center
            axes[3 * i:3 * i + 3] = np.maximum(ax, 1e-3)
            p_xy[i], p_z[i] = exps
            active[i] = 1.0
        L.set(vector, "obs_center_m", centers)
        L.set(vector, "obs_axes_m", axes)
        L.set(vector, "obs_p_xy", p_xy)
        L.set(vector, "obs_p_z", p_z)
        L.set(vector, "obs_active", active)
