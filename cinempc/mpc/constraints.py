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
        # spheres and cylinders: super-ellipsoid |x/a|^p_xy + |y/b|^p_xy, combined with |z/c|^p_z: sphere
        # (2, 2), vertical cylinder (2, 8); log() keeps the scale O(1) far away.  The exponents are only ever 2
        # or 8, so each power is a polynomial blend -- u or u^4 of the squares -- chosen by 0/1 flags (no pow()).
        box_xy = (p["obs_p_xy"][i] - 2.0) / 6.0  # 1 for p_xy = 8, 0 for 2
        box_z = (p["obs_p_z"][i] - 2.0) / 6.0
        cylinder = box_z * (1.0 - box_xy)  # p_z / p_xy = 4: the horizontal disc is raised to the 4th power
        u = [(rel[axis] / axes[axis]) ** 2 for axis in range(3)]
        xy = (1.0 - box_xy) * (u[0] + u[1]) + box_xy * (u[0] ** 4 + u[1] ** 4)
        level = (1.0 - cylinder) * xy + cylinder * xy ** 4 + (1.0 - box_z) * u[2] + box_z * u[2] ** 4
        active = p["obs_active"][i]
        smooth = active * ca.log(level + 1e-9) + (1.0 - active)
        # boxes: a half-space per stage, n . p >= b, tangent to the inflated box where the warm start passes
        # it (ReferenceBuilder.place_obstacles).  Linear: the |x/a|^8 level set of a building-sized box
        # cost warm solves 40-300 iterations beside it.  (Not for round obstacles: a tangent plane under a
        # tree's canopy cuts the airspace down to the floor and made the problem infeasible.)
        plane = ca.dot(p["obs_normal"][3 * i:3 * i + 3], position) - p["obs_offset_m"][i]
        rows.append(p["obs_plane"][i] * plane + (1.0 - p["obs_plane"][i]) * smooth + slack)
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
