"""Articulated human figures that walk and run scripted paths.

Each actor is a PyBullet multi-body -- pelvis, torso, head and two-segment arms and
legs joined by revolute hips, knees, shoulders and elbows -- posed every step by a
gait generator: legs and arms swing in anti-phase with an amplitude and cadence
that depend on walking or running, knees flex in the swing phase, the pelvis
rides at the height of the stance leg, runners lean forward.  The gait phase is
tied to the distance travelled, so feet do not skate at any speed.

The script (``to``/``pause_s``/``turn_to_deg`` steps, see :mod:`cinempc_sim.scenario`)
is compiled once into a timeline of straight legs, pauses and on-the-spot turns,
so the figure's ground-truth pose, velocity and heading are exact functions of
time: ``reset()`` replays the same motion, and perception or metrics can ask
where an actor is at any time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pybullet as p

from cinempc.angles import wrap_angle
from cinempc_sim.scenario import ActorSpec, ScriptStep
from cinempc_sim.vehicle import GROUP_ACTOR, GROUP_DRONE, GROUP_RAY


@dataclass(frozen=True)
class GaitParams:
    """Gait numbers from ``config/sim.yaml`` (actors section)."""

    turn_rate_deg_s: float
    walk_stride_per_height: float
    run_stride_per_height: float
    run_speed_threshold_mps: float
    walk_hip_swing_deg: float
    run_hip_swing_deg: float
    walk_arm_swing_deg: float
    run_arm_swing_deg: float


@dataclass(frozen=True)
class Segment:
    """One piece of the timeline: a straight move, a pause or a turn on the spot."""

    t0_s: float
    t1_s: float
    start_m: tuple[float, float]
    end_m: tuple[float, float]
    heading0_rad: float
    heading1_rad: float
    distance0_m: float  # distance walked before this segment (drives the gait phase)
    running: bool = False

    @property
    def duration_s(self) -> float:
        return self.t1_s - self.t0_s


@dataclass(frozen=True)
class ActorPose:
    """Ground truth of an actor at one instant."""

    position_m: np.ndarray  # ground point under the pelvis (feet), z = 0
    velocity_mps: np.ndarray
    heading_rad: float
    distance_m: float
    running: bool


def compile_script(spec: ActorSpec, gait: GaitParams) -> list[Segment]:
    """The script as a timeline of segments (turns inserted before legs that change heading)."""
    turn_rate = math.radians(gait.turn_rate_deg_s)
    t, distance = 0.0, 0.0
    pos = (float(spec.start_m[0]), float(spec.start_m[1]))
    heading = math.radians(spec.start_heading_deg)
    segments: list[Segment] = []

    def turn_to(new_heading: float) -> None:
        nonlocal t, heading
        delta = wrap_angle(new_heading - heading)
        if abs(delta) < 1e-6:
            return
        duration = abs(delta) / turn_rate
        segments.append(Segment(t, t + duration, pos, pos, heading, heading + delta, distance))
        t += duration
        heading = heading + delta

    steps = list(spec.script)
    if spec.loop and steps:  # walk home and face the start heading so the loop closes without a jump
        last_speed = next((s.speed_mps for s in reversed(steps) if s.to is not None), 1.4)
        steps.append(ScriptStep(to=pos, speed_mps=last_speed))
        steps.append(ScriptStep(turn_to_deg=spec.start_heading_deg))
    for step in steps:
        if step.pause_s is not None:
            segments.append(Segment(t, t + step.pause_s, pos, pos, heading, heading, distance))
            t += step.pause_s
        elif step.turn_to_deg is not None:
            turn_to(math.radians(step.turn_to_deg))
        else:
            target = (float(step.to[0]), float(step.to[1]))
            length = math.dist(pos, target)
            if length < 1e-6:
                continue
            turn_to(math.atan2(target[1] - pos[1], target[0] - pos[0]))
            running = step.gait == "run" or (step.gait == "auto" and step.speed_mps >= gait.run_speed_threshold_mps)
            duration = length / step.speed_mps
            segments.append(Segment(t, t + duration, pos, target, heading, heading, distance, running))
            t += duration
            distance += length
            pos = target
    return segments


class ActorTimeline:
    """Exact ground-truth motion of one scripted actor."""

    def __init__(self, spec: ActorSpec, gait: GaitParams) -> None:
        self.spec = spec
        self.segments = compile_script(spec, gait)
        self.duration_s = self.segments[-1].t1_s if self.segments else 0.0

    def pose(self, time_s: float) -> ActorPose:
        """Where the actor is, how fast it moves and where it faces at ``time_s``."""
        if not self.segments:
            return ActorPose(np.array([*self.spec.start_m, 0.0]), np.zeros(3),
                             math.radians(self.spec.start_heading_deg), 0.0, False)
        total_distance = self.segments[-1].distance0_m + math.dist(self.segments[-1].start_m,
                                                                    self.segments[-1].end_m)
        laps = 0
        if self.spec.loop and self.duration_s > 0 and time_s >= self.duration_s:
            laps = int(time_s // self.duration_s)
            time_s -= laps * self.duration_s
        if time_s >= self.duration_s:  # script finished: stand at the end
            last = self.segments[-1]
            return ActorPose(np.array([*last.end_m, 0.0]), np.zeros(3), wrap_angle(last.heading1_rad),
                             total_distance, False)
        seg = self.segments[0]
        for seg in self.segments:
            if time_s < seg.t1_s:
                break
        s = 0.0 if seg.duration_s <= 0 else min(max((time_s - seg.t0_s) / seg.duration_s, 0.0), 1.0)
        x = seg.start_m[0] + s * (seg.end_m[0] - seg.start_m[0])
        y = seg.start_m[1] + s * (seg.end_m[1] - seg.start_m[1])
        heading = seg.heading0_rad + s * (seg.heading1_rad - seg.heading0_rad)
        length = math.dist(seg.start_m, seg.end_m)
        if length > 0 and seg.duration_s > 0:
            velocity = np.array([(seg.end_m[0] - seg.start_m[0]) / seg.duration_s,
                                 (seg.end_m[1] - seg.start_m[1]) / seg.duration_s, 0.0])
        else:
            velocity = np.zeros(3)
        distance = laps * total_distance + seg.distance0_m + s * length
        return ActorPose(np.array([x, y, 0.0]), velocity, wrap_angle(heading), distance, seg.running and length > 0)


# --------------------------------------------------------------------- figure

# joint indices of the multi-body (links in creation order)
TORSO, HEAD, L_HIP, L_KNEE, R_HIP, R_KNEE, L_SHOULDER, L_ELBOW, R_SHOULDER, R_ELBOW = range(10)
SWING_JOINTS = [L_HIP, L_KNEE, R_HIP, R_KNEE, L_SHOULDER, L_ELBOW, R_SHOULDER, R_ELBOW]


@dataclass(frozen=True)
class Proportions:
    """Segment lengths of a figure of a given height (anthropometric fractions, Drillis & Contini)."""

    height_m: float
    build: float

    @property
    def thigh_m(self) -> float:
        return 0.245 * self.height_m

    @property
    def shin_m(self) -> float:
        return 0.285 * self.height_m  # shank + foot height

    @property
    def hip_height_m(self) -> float:
        return self.thigh_m + self.shin_m

    @property
    def torso_m(self) -> float:
        return 0.29 * self.height_m

    @property
    def head_radius_m(self) -> float:
        return 0.066 * self.height_m

    @property
    def upper_arm_m(self) -> float:
        return 0.186 * self.height_m

    @property
    def forearm_m(self) -> float:
        return 0.22 * self.height_m  # forearm + hand

    @property
    def shoulder_half_width_m(self) -> float:
        return 0.115 * self.height_m * self.build

    @property
    def hip_half_width_m(self) -> float:
        return 0.055 * self.height_m * self.build

    @property
    def limb_radius_m(self) -> float:
        return 0.03 * self.height_m * self.build


class ActorBody:
    """The PyBullet multi-body of one figure and its gait generator."""

    def __init__(self, client: int, spec: ActorSpec, gait: GaitParams) -> None:
        self.client = client
        self.spec = spec
        self.gait = gait
        self.timeline = ActorTimeline(spec, gait)
        self.shape = Proportions(spec.height_m, spec.build)
        self.body = self._build()
        self.pose = self.timeline.pose(0.0)

    def _capsule(self, length_m: float, radius_m: float, rgb) -> tuple[int, int]:
        """Collision + visual capsule hanging down from its joint (link frame at the top end)."""
        c = self.client
        half = max(length_m - 2 * radius_m, 0.01)
        offset = (0.0, 0.0, -length_m / 2.0)
        col = p.createCollisionShape(p.GEOM_CAPSULE, radius=radius_m, height=half, collisionFramePosition=offset,
                                     physicsClientId=c)
        vis = p.createVisualShape(p.GEOM_CAPSULE, radius=radius_m, length=half, visualFramePosition=offset,
                                  rgbaColor=[*rgb, 1.0], physicsClientId=c)
        return col, vis

    def _build(self) -> int:
        c, s, spec = self.client, self.shape, self.spec
        limb = s.limb_radius_m
        torso_half = (0.09 * s.height_m * s.build, s.shoulder_half_width_m * 0.85, s.torso_m / 2.0)
        shapes, positions = [], []
        # torso (box above the pelvis), head (sphere)
        shapes.append((p.createCollisionShape(p.GEOM_BOX, halfExtents=torso_half, physicsClientId=c),
                       p.createVisualShape(p.GEOM_BOX, halfExtents=torso_half, rgbaColor=[*spec.shirt_rgb, 1],
                                           physicsClientId=c)))
        positions.append((0.0, 0.0, torso_half[2]))
        shapes.append((p.createCollisionShape(p.GEOM_SPHERE, radius=s.head_radius_m, physicsClientId=c),
                       p.createVisualShape(p.GEOM_SPHERE, radius=s.head_radius_m, rgbaColor=[*spec.skin_rgb, 1],
                                           physicsClientId=c)))
        positions.append((0.0, 0.0, s.torso_m + 0.03 * s.height_m + s.head_radius_m))
        for side in (1.0, -1.0):  # left (+y), right
            shapes.append(self._capsule(s.thigh_m, limb * 1.25, spec.trousers_rgb))
            positions.append((0.0, side * s.hip_half_width_m, 0.0))
            shapes.append(self._capsule(s.shin_m, limb, spec.trousers_rgb))
            positions.append((0.0, 0.0, -s.thigh_m))
        for side in (1.0, -1.0):
            shapes.append(self._capsule(s.upper_arm_m, limb * 0.9, spec.shirt_rgb))
            positions.append((0.0, side * (s.shoulder_half_width_m + limb * 0.9), s.torso_m * 0.95))
            shapes.append(self._capsule(s.forearm_m, limb * 0.75, spec.skin_rgb))
            positions.append((0.0, 0.0, -s.upper_arm_m))
        parents = [0, 0, 0, 3, 0, 5, 0, 7, 0, 9]  # 1-based parent link index, 0 = pelvis base
        joint_types = [p.JOINT_FIXED, p.JOINT_FIXED] + [p.JOINT_REVOLUTE] * 8
        n = len(shapes)
        pelvis_half = (0.07 * s.height_m * s.build, s.hip_half_width_m + limb, 0.05 * s.height_m)
        pelvis_col = p.createCollisionShape(p.GEOM_BOX, halfExtents=pelvis_half, physicsClientId=c)
        pelvis_vis = p.createVisualShape(p.GEOM_BOX, halfExtents=pelvis_half, rgbaColor=[*spec.trousers_rgb, 1],
                                         physicsClientId=c)
        body = p.createMultiBody(
            baseMass=0.0, baseCollisionShapeIndex=pelvis_col, baseVisualShapeIndex=pelvis_vis,
            basePosition=(spec.start_m[0], spec.start_m[1], s.hip_height_m),
            linkMasses=[1.0] * n,
            linkCollisionShapeIndices=[a for a, _ in shapes], linkVisualShapeIndices=[b for _, b in shapes],
            linkPositions=positions, linkOrientations=[(0, 0, 0, 1)] * n,
            linkInertialFramePositions=[(0, 0, 0)] * n, linkInertialFrameOrientations=[(0, 0, 0, 1)] * n,
            linkParentIndices=parents, linkJointTypes=joint_types, linkJointAxis=[(0, 1, 0)] * n,
            physicsClientId=c,
        )
        for link in range(-1, n):
            # actors touch only the drone: no wasted contacts with the ground they walk on
            p.setCollisionFilterGroupMask(body, link, GROUP_ACTOR, GROUP_DRONE | GROUP_RAY, physicsClientId=c)
        p.setJointMotorControlArray(body, SWING_JOINTS, p.POSITION_CONTROL, targetPositions=[0.0] * 8,
                                    forces=[500.0] * 8, physicsClientId=c)
        p.changeDynamics(body, -1, activationState=p.ACTIVATION_STATE_ENABLE_SLEEPING, physicsClientId=c)
        return body

    def joint_angles(self, pose: ActorPose) -> tuple[list[float], float, float]:
        """Gait joint angles (rad), pelvis height (m) and forward lean (rad) for a pose.

        Positive hip/shoulder angles swing the limb backward (rotation about the
        figure's left-pointing y axis); knees and elbows flex forward/backward as
        human joints do.
        """
        g, s = self.gait, self.shape
        speed = float(np.hypot(*pose.velocity_mps[:2]))
        if speed < 1e-3:
            return [0.0] * 8, s.hip_height_m, 0.0
        stride = (g.run_stride_per_height if pose.running else g.walk_stride_per_height) * s.height_m
        phase = math.pi * pose.distance_m / stride  # one stride = half a gait cycle
        hip_amp = math.radians(g.run_hip_swing_deg if pose.running else g.walk_hip_swing_deg)
        arm_amp = math.radians(g.run_arm_swing_deg if pose.running else g.walk_arm_swing_deg)
        knee_amp = hip_amp * (2.2 if pose.running else 1.6)
        elbow_bias = math.radians(85.0 if pose.running else 15.0)
        sin_p, cos_p = math.sin(phase), math.cos(phase)
        # swing forward = negative hip angle; the knee flexes while the leg swings forward
        l_hip, r_hip = -hip_amp * sin_p, hip_amp * sin_p
        l_knee = knee_amp * max(0.0, cos_p)
        r_knee = knee_amp * max(0.0, -cos_p)
        l_sh, r_sh = arm_amp * sin_p, -arm_amp * sin_p  # arms opposite to the legs
        l_el = -(elbow_bias + 0.3 * arm_amp * max(0.0, -sin_p))
        r_el = -(elbow_bias + 0.3 * arm_amp * max(0.0, sin_p))
        lean = math.radians(8.0 if pose.running else 2.0)

        def reach(hip: float, knee: float) -> float:
            return s.thigh_m * math.cos(hip) + s.shin_m * math.cos(hip + knee)

        pelvis_z = max(reach(l_hip, l_knee), reach(r_hip, r_knee)) * math.cos(lean)
        if pose.running:  # flight phase: the body rises between footfalls
            pelvis_z += 0.03 * s.height_m * abs(sin_p)
        return [l_hip, l_knee, r_hip, r_knee, l_sh, l_el, r_sh, r_el], pelvis_z, lean

    def update(self, time_s: float) -> ActorPose:
        """Pose the figure for ``time_s`` (teleport the pelvis, set the joints and hold them there)."""
        c = self.client
        pose = self.timeline.pose(time_s)
        angles, pelvis_z, lean = self.joint_angles(pose)
        quat = p.getQuaternionFromEuler((0.0, lean, pose.heading_rad))
        p.resetBasePositionAndOrientation(self.body, (pose.position_m[0], pose.position_m[1], pelvis_z), quat,
                                          physicsClientId=c)
        for joint, angle in zip(SWING_JOINTS, angles, strict=True):
            p.resetJointState(self.body, joint, angle, physicsClientId=c)
        p.setJointMotorControlArray(self.body, SWING_JOINTS, p.POSITION_CONTROL, targetPositions=angles,
                                    forces=[500.0] * 8, physicsClientId=c)
        # Posed exactly until the next update: put the figure to sleep so the physics steps in
        # between skip its articulated dynamics (3x cheaper); a touch by the drone wakes it and the
        # motors hold the pose.  Sleeping bodies still collide.
        p.changeDynamics(self.body, -1, activationState=p.ACTIVATION_STATE_SLEEP, physicsClientId=c)
        self.pose = pose
        return pose

    def link_world_positions(self) -> dict[str, np.ndarray]:
        """World positions of the joints (for tests and debugging: are the limbs really swinging?)."""
        names = ["torso", "head", "l_hip", "l_knee", "r_hip", "r_knee", "l_shoulder", "l_elbow", "r_shoulder",
                 "r_elbow"]
        states = p.getLinkStates(self.body, list(range(10)), physicsClientId=self.client)
        return {name: np.array(state[4]) for name, state in zip(names, states, strict=True)}
