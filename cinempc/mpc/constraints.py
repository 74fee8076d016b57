"""Path constraints of the CineMPC problem: stand-off, obstacles, geofence, speed and acceleration.

Box limits (per-axis speed, acceleration, jerk, gimbal angles and rates, lens
ranges and motor speeds) are variable bounds set by the OCP builder; this module
holds the nonlinear ones.  Everything that could make the problem infeasible
through no fault of the optimiser -- a subject walking into the drone, a start
outside the geofence, an obstacle appearing inside the clearance -- is softened
by the one safety slack ``x[slack] >= 0`` with an exact L1 penalty, so the slack
is zero whenever the hard problem is feasible and any non-zero slack is
reported as a relaxation.  Speed and acceleration norms are hard (the measured
state is clamped into them before solving, so they are always feasible).
"""

from __future__ import annotations

import casadi as ca

from cinempc.mpc.model import IX, SLACK_SCALE

CONSTRAINT_GROUPS = ("subject_distance", "obstacle_clearance", "geofence", "speed", "acceleration")


def path_constraints(x, p: dict):
    """Constraint vector ``h(x, p) >= 0`` of one stage and its group names (same order).

    An empty subject or obstacle slot evaluates to ``1 + slack``, never to ``0``:
    a row pinned at its bound with a zero gradient is degenerate for an
    interior-point method (its slack is pushed to the barrier, its multiplier is
    undetermined), and 8 such rows per stage cost fatrop one blocked iteration
    and ill-conditioned steps in every solve.
    """
    position = x[IX["px"]:IX["pz"] + 1]
    slack = SLACK_SCALE * x[IX["slack"]]
    rows, names = [], []

    dmin = p["min_subject_distance_m"]
    for i in range(p["subj_active"].shape[0]):
        rel = position - p["subj_body_m"][3 * i:3 * i + 3]
        active = p["subj_active"][i]
        rows.append(active * (ca.sumsqr(rel) / (dmin * dmin) - 1.0) + (1.0 - active) + slack)
        names.append("subject_distance")

    for i in range(p["obs_active"].shape[0]):
        rel = position - p["obs_center_m"][3 * i:3 * i + 3]
        axes = p["obs_axes_m"][3 * i:3 * i + 3]
        p_xy, p_z = p["obs_p_xy"][i], p["obs_p_z"][i]
        # super-ellipsoid |x/a|^p_xy + |y/b|^p_xy, combined with |z/c|^p_z: sphere (2, 2),
        # vertical cylinder (2, 8), box (8, 8); log() keeps the scale O(1) far away
        # (tiny offsets keep the second derivative of a power finite at rel = 0)
        xy = ((rel[0] / axes[0]) ** 2 + 1e-9) ** (p_xy / 2) + ((rel[1] / axes[1]) ** 2 + 1e-9) ** (p_xy / 2)
        level = xy ** (p_z / p_xy) + ((rel[2] / axes[2]) ** 2 + 1e-9) ** (p_z / 2)
        active = p["obs_active"][i]
        rows.append(active * ca.log(level + 1e-9) + (1.0 - active) + slack)
        names.append("obstacle_clearance")

    for axis in range(3):
        rows.append(position[axis] - p["fence_lo_m"][axis] + slack)
        rows.append(p["fence_hi_m"][axis] - position[axis] + slack)
        names += ["geofence", "geofence"]

    velocity_xy = x[IX["vx"]:IX["vy"] + 1]
    rows.append(1.0 - ca.sumsqr(velocity_xy) / p["max_speed_sq"])
    names.append("speed")
    rows.append(1.0 - ca.sumsqr(x[IX["ax"]:IX["az"] + 1]) / p["max_accel_sq"])
    names.append("acceleration")
    return ca.vertcat(*rows), names
