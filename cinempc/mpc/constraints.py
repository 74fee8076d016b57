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
        # (powers written as exp(e * log(b)): the derivatives then reuse one exp and one log per term instead of
        # a pow() per derivative -- 342 pow() calls in the generated code became ~60 exp/log pairs)
        log_sq = [ca.log((rel[axis] / axes[axis]) ** 2 + 1e-9) for axis in range(3)]
        xy = ca.exp(p_xy / 2 * log_sq[0]) + ca.exp(p_xy / 2 * log_sq[1])
        level = ca.exp(p_z / p_xy * ca.log(xy)) + ca.exp(p_z / 2 * log_sq[2])
        active = p["obs_active"][i]
        rows.append(active * ca.log(level + 1e-9) + (1.0 - active) + slack)
        names.append("obstacle_clearance")

    for axis in range(3):
        # one row per axis, (half^2 - (p - centre)^2) / (2 half) >= 0: the same interval as the two linear rows
        # lo <= p <= hi, within ~1 % of the distance to the nearer wall near it, and in metres like them.  Why:
        # every row is a column of the stage's inequality block in fatrop's Riccati recursion; 3 rows fewer
        # per stage measured -6 % solve time, the optimum unchanged (2e-5 on the benchmark's plans)
        half = (p["fence_hi_m"][axis] - p["fence_lo_m"][axis]) / 2.0
        offset = position[axis] - (p["fence_hi_m"][axis] + p["fence_lo_m"][axis]) / 2.0
        rows.append((half * half - offset * offset) / (2.0 * half) + slack)
        names.append("geofence")

    velocity_xy = x[IX["vx"]:IX["vy"] + 1]
    rows.append(1.0 - ca.sumsqr(velocity_xy) / p["max_speed_sq"])
    names.append("speed")
    rows.append(1.0 - ca.sumsqr(x[IX["ax"]:IX["az"] + 1]) / p["max_accel_sq"])
    names.append("acceleration")
    return ca.vertcat(*rows), names
