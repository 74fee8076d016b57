"""A quadrotor rigid body in PyBullet flown by a PX4-style cascaded controller.

The plant is one rigid body (mass and inertia of a 1.5 kg cinema quad) pushed by
a collective thrust along its body z axis and three body torques, with motor lag,
rotor drag proportional to airspeed, quadratic body drag and wind.  Nothing is
kinematic: the drone gets where the MPC wants only if the controller flies it there,
so tracking error, overshoot and wind drift show up in the shot as they would on
a real airframe.

The controller takes exactly what PX4's offboard mode and ArduPilot's guided mode
take -- position, velocity and acceleration feed-forward plus yaw and yaw rate
(``SET_POSITION_TARGET_LOCAL_NED``) -- and runs the same cascade as PX4's
``mc_pos_control``/``mc_att_control``/``mc_rate_control``:

    position P -> velocity PID (+ acceleration feed-forward) -> thrust vector
    -> attitude (tilt-limited, yaw from the setpoint) P -> body-rate P -> torques.

The attitude law is the geometric SO(3) error of Lee, Leok & McClamroch (2010),
which has no gimbal-lock corner cases.  Gains and airframe numbers live in
``config/sim.yaml``.  It runs at the physics rate (240 Hz) in plain ``math``
(no NumPy per substep) because a NumPy call costs more than the arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pybullet as p

from cinempc.state import Setpoint

# Collision filter groups.  Bullet's ray tests carry group 1, so every body lets group 1 in (rays see
# everything); the world and the actors never touch each other (no wasted ground contacts for the
# kinematic figures), and the drone touches both.
GROUP_RAY, GROUP_DRONE, GROUP_ACTOR, GROUP_WORLD = 1, 2, 4, 8


def _clip(value: float, limit: float) -> float:
    return -limit if value < -limit else (limit if value > limit else value)


@dataclass
class VehicleParams:
    """Airframe and controller numbers (``config/sim.yaml`` vehicle + controller)."""

    mass_kg: float
    body_half_extents_m: tuple[float, float, float]
    max_thrust_n: float
    min_thrust_n: float
    max_tilt_rad: float
    max_body_rate_rad_s: float
    linear_drag_n_per_mps: float
    quadratic_drag_n_per_mps2: float
    motor_time_constant_s: float
    position_gain_1ps: tuple[float, float, float]
    velocity_gain_1ps: tuple[float, float, float]
    velocity_integral_gain_1ps2: tuple[float, float, float]
    velocity_integral_limit_mps2: float
    max_velocity_mps: tuple[float, float, float]
    max_accel_mps2: float
    attitude_gain_1ps: tuple[float, float, float]
    rate_gain_1ps: tuple[float, float, float]

    @classmethod
    def from_parameters(cls, params: dict) -> VehicleParams:
        merged = {**params["vehicle"], **params["controller"]}
        for key, value in merged.items():
            if isinstance(value, list):
                merged[key] = tuple(float(v) for v in value)
        return cls(**merged)


class Quadrotor:
    """The drone body in one PyBullet client and its onboard cascaded controller."""

    def __init__(self, client: int, params: VehicleParams, gravity_mps2: float, rate_hz: float) -> None:
        self.client = client
        self.params = params
        self.gravity_mps2 = gravity_mps2
        self.dt_s = 1.0 / rate_hz
        collision = p.createCollisionShape(p.GEOM_BOX, halfExtents=params.body_half_extents_m, physicsClientId=client)
        # No visual shape: the camera sits at the body centre and must not see its own airframe.
        self.body = p.createMultiBody(baseMass=params.mass_kg, baseCollisionShapeIndex=collision,
                                      baseVisualShapeIndex=-1, basePosition=(0, 0, 2), physicsClientId=client)
        p.changeDynamics(self.body, -1, linearDamping=0.0, angularDamping=0.0, physicsClientId=client)
        p.setCollisionFilterGroupMask(self.body, -1, GROUP_DRONE, GROUP_WORLD | GROUP_ACTOR | GROUP_RAY,
                                      physicsClientId=client)
        self.inertia_kgm2 = tuple(p.getDynamicsInfo(self.body, -1, physicsClientId=client)[2])
        self.reset((0.0, 0.0, 2.0), 0.0)

    # ------------------------------------------------------------------ state

    def reset(self, position_m, yaw_rad: float) -> None:
        """Hover at a pose: at rest, motors already spinning at hover thrust."""
        quat = p.getQuaternionFromEuler((0.0, 0.0, yaw_rad))
        p.resetBasePositionAndOrientation(self.body, list(position_m), quat, physicsClientId=self.client)
        p.resetBaseVelocity(self.body, (0, 0, 0), (0, 0, 0), physicsClientId=self.client)
        self.velocity_integral = [0.0, 0.0, 0.0]
        self.thrust_n = self.params.mass_kg * self.gravity_mps2
        self.torque_nm = [0.0, 0.0, 0.0]
        self.yaw_setpoint_rad = yaw_rad

    def pose(self) -> tuple[tuple[float, float, float], tuple[float, ...]]:
        """Position (ENU m) and the rotation matrix body->world as 9 row-major numbers."""
        pos, orn = p.getBasePositionAndOrientation(self.body, physicsClientId=self.client)
        return pos, p.getMatrixFromQuaternion(orn)

    def velocity(self) -> tuple[float, float, float]:
        return p.getBaseVelocity(self.body, physicsClientId=self.client)[0]

    def yaw_rad(self) -> float:
        _, r = self.pose()
        return math.atan2(r[3], r[0])

    # ------------------------------------------------------------- control

    def control_step(self, setpoint: Setpoint, wind_mps: tuple[float, float, float]) -> None:
        """One 240 Hz controller update: read the state, apply thrust, torques, drag and wind.

        The forces are cleared by PyBullet after every ``stepSimulation``, so this
        runs before each physics step.
        """
        prm = self.params
        cid = self.client
        pos, orn = p.getBasePositionAndOrientation(self.body, physicsClientId=cid)
        vel, omega_w = p.getBaseVelocity(self.body, physicsClientId=cid)
        r = p.getMatrixFromQuaternion(orn)  # row-major body->world
        sp_pos, sp_vel, sp_acc = setpoint.position_m, setpoint.velocity_mps, setpoint.acceleration_mps2

        # position P -> velocity command (saturated), velocity PID -> acceleration command
        acc = [0.0, 0.0, 0.0]
        for i in range(3):
            v_cmd = _clip(float(sp_vel[i]) + prm.position_gain_1ps[i] * (float(sp_pos[i]) - pos[i]),
                          prm.max_velocity_mps[i])
            err = v_cmd - vel[i]
            self.velocity_integral[i] = _clip(self.velocity_integral[i] + prm.velocity_integral_gain_1ps2[i] * err
                                              * self.dt_s, prm.velocity_integral_limit_mps2)
            acc[i] = float(sp_acc[i]) + prm.velocity_gain_1ps[i] * err + self.velocity_integral[i]
        norm = math.sqrt(acc[0] ** 2 + acc[1] ** 2 + acc[2] ** 2)
        if norm > prm.max_accel_mps2:
            acc = [a * prm.max_accel_mps2 / norm for a in acc]

        # desired thrust vector, tilt-limited (PX4 keeps vertical authority first)
        m, g = prm.mass_kg, self.gravity_mps2
        fz = max(m * (acc[2] + g), 0.2 * m * g)
        fx, fy = m * acc[0], m * acc[1]
        horizontal = math.hypot(fx, fy)
        max_horizontal = fz * math.tan(prm.max_tilt_rad)
        if horizontal > max_horizontal:
            fx, fy = fx * max_horizontal / horizontal, fy * max_horizontal / horizontal
        f_norm = math.sqrt(fx * fx + fy * fy + fz * fz)
        b3 = (fx / f_norm, fy / f_norm, fz / f_norm)

        # desired attitude from thrust direction and yaw setpoint (advanced by the yaw-rate feed-forward)
        self.yaw_setpoint_rad = float(setpoint.yaw_rad)
        # PX4's bodyzToAttitude: body x = y_C x b3 with y_C = (-sin yaw, cos yaw, 0), so body x stays in the
        # vertical plane of the yaw setpoint and the heading is exactly the setpoint however the airframe tilts.
        # (Projecting (cos yaw, sin yaw, 0) onto the tilted plane instead turned the heading by up to
        # sin^2(tilt) / 2: 0.9 deg at 20 deg of tilt, a steady 7 % of the width off-centre on a long lens.)
        cy, sy = math.cos(self.yaw_setpoint_rad), math.sin(self.yaw_setpoint_rad)
        b1 = (cy * b3[2], sy * b3[2], -sy * b3[1] - cy * b3[0])  # (-sy, cy, 0) x b3
        n1 = math.sqrt(b1[0] ** 2 + b1[1] ** 2 + b1[2] ** 2)
        b1 = (b1[0] / n1, b1[1] / n1, b1[2] / n1)
        b2 = (b3[1] * b1[2] - b3[2] * b1[1], b3[2] * b1[0] - b3[0] * b1[2], b3[0] * b1[1] - b3[1] * b1[0])  # b3 x b1
        rd = (b1[0], b2[0], b3[0], b1[1], b2[1], b3[1], b1[2], b2[2], b3[2])  # row-major, columns b1 b2 b3

        # attitude error e_R = 1/2 vee(Rd^T R - R^T Rd)
        def rtr(a, b, i, j):  # (A^T B)[i][j]
            return a[i] * b[j] + a[3 + i] * b[3 + j] + a[6 + i] * b[6 + j]

        e = (
            0.5 * (rtr(rd, r, 2, 1) - rtr(r, rd, 2, 1)),
            0.5 * (rtr(rd, r, 0, 2) - rtr(r, rd, 0, 2)),
            0.5 * (rtr(rd, r, 1, 0) - rtr(r, rd, 1, 0)),
        )
        # body rates and commanded rates (attitude P + yaw-rate feed-forward about body z)
        omega_b = [r[0 + i] * omega_w[0] + r[3 + i] * omega_w[1] + r[6 + i] * omega_w[2] for i in range(3)]
        rate_cmd = [-prm.attitude_gain_1ps[i] * e[i] for i in range(3)]
        rate_cmd[2] += float(setpoint.yaw_rate_rad_s) * r[8]
        rate_cmd = [_clip(c, prm.max_body_rate_rad_s) for c in rate_cmd]
        j = self.inertia_kgm2
        torque_cmd = [j[i] * prm.rate_gain_1ps[i] * (rate_cmd[i] - omega_b[i]) for i in range(3)]
        # gyroscopic term omega x J omega
        torque_cmd[0] += omega_b[1] * j[2] * omega_b[2] - omega_b[2] * j[1] * omega_b[1]
        torque_cmd[1] += omega_b[2] * j[0] * omega_b[0] - omega_b[0] * j[2] * omega_b[2]
        torque_cmd[2] += omega_b[0] * j[1] * omega_b[1] - omega_b[1] * j[0] * omega_b[0]

        thrust_cmd = fx * r[2] + fy * r[5] + fz * r[8]  # projected on the current body z
        thrust_cmd = min(max(thrust_cmd, prm.min_thrust_n), prm.max_thrust_n)
        # first-order motor lag
        alpha = min(self.dt_s / prm.motor_time_constant_s, 1.0) if prm.motor_time_constant_s > 0 else 1.0
        self.thrust_n += alpha * (thrust_cmd - self.thrust_n)
        self.torque_nm = [t + alpha * (c - t) for t, c in zip(self.torque_nm, torque_cmd, strict=True)]

        # forces in the world frame: thrust along body z, rotor + body drag against the airspeed
        air = (vel[0] - wind_mps[0], vel[1] - wind_mps[1], vel[2] - wind_mps[2])
        speed = math.sqrt(air[0] ** 2 + air[1] ** 2 + air[2] ** 2)
        drag = prm.linear_drag_n_per_mps + prm.quadratic_drag_n_per_mps2 * speed
        force = [self.thrust_n * r[2 + 3 * i] - drag * air[i] for i in range(3)]
        tq = self.torque_nm
        torque = [r[3 * i] * tq[0] + r[3 * i + 1] * tq[1] + r[3 * i + 2] * tq[2] for i in range(3)]
        p.applyExternalForce(self.body, -1, force, pos, p.WORLD_FRAME, physicsClientId=cid)
        p.applyExternalTorque(self.body, -1, torque, p.WORLD_FRAME, physicsClientId=cid)
