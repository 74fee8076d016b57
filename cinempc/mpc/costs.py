"""Stage cost terms of the CineMPC problem, built on CasADi symbols.

Every term is dimensionless (an error over its natural scale, squared) and
returned separately so the controller can report a cost breakdown.  The optics
come from :mod:`cinempc.optics` evaluated on the *decision variables* -- focal
length, focus distance and f-number are optimised together with the pose, and
the depth of field is a function of all three (unlike the original CineMPC code,
which fixed the aperture and used the measured focal length).
"""

from __future__ import annotations

import casadi as ca

from cinempc import optics
from cinempc.mpc.model import FOCAL_SCALE_MM, IU, IX, SLACK_SCALE, f_number_from_stops

TERM_NAMES: tuple[str, ...] = (
    "composition", "viewpoint", "movement", "focus", "depth_of_field", "lens", "smoothness", "slack",
)


def _hinge(value):
    """max(0, value): the residual of a one-sided quadratic penalty (its square is continuously differentiable)."""
    return ca.fmax(value, 0.0)


def _soft_log(excess, knee):
    """``knee * log(1 + excess / knee)``: the excess itself while it is small against ``knee``, its logarithm
    beyond; a residual that cannot grow with a ratio of distances that a projection can make 1000x."""
    return knee * ca.log1p(excess / knee)


class Squares:
    """Every squared residual of a stage cost, kept so the objective's Gauss-Newton Hessian can be formed.

    Each term is ``weight * |residual|^2`` with a non-negative weight; the stacked
    ``sqrt(weight) * residual`` vector ``r`` gives the cost ``|r|^2`` and the
    positive semi-definite Hessian approximation ``2 J_r^T J_r``.  Why: the exact
    Hessian of the optics (``f^2 / (N (s - f))`` in every blur circle) is
    indefinite; fatrop regularised it by up to 1e4 and a warm-started rack focus
    wandered for 100-300 iterations from an almost optimal start (see
    ``solver.hessian_cold``/``hessian_warm`` in config/mpc.yaml and docs/mpc.md).  The linear part of the
    slack penalty has no curvature and no residual.
    """

    def __init__(self) -> None:
        self.residuals: list = []

    def add(self, weight, residual):
        """Record ``sqrt(weight) * residual`` and return the term ``weight * |residual|^2``."""
        self.residuals.append(ca.sqrt(weight) * residual)
        return weight * ca.sumsqr(residual)

    def vector(self):
        """All recorded residuals, stacked."""
        return ca.vertcat(*self.residuals)


def _bounded_depth(x, y, z):
    """The depth ``z`` of a camera-frame point inside the field of view, never below 0.3 x its distance.

    Why: a projection divides by the depth.  A subject behind the camera (a shot
    started with the camera turned away) has ``z < 0``; the former floor (a softplus
    to 0.1 m) made that depth ~2 mm, the projection ~1e5 px and the composition cost
    ~1e12, and the solve failed from every start -- the drone held position for
    ever.  Held at 0.3 x the distance (72 degrees off the axis, outside any lens's
    field of view), a projection stays within ~3 focal lengths of the centre and
    the cost is O(100), while inside the picture the depth is biased by < 0.04 %
    (2 mm at 5 m, against a shallow depth of field of a few centimetres).
    """
    distance = ca.sqrt(x * x + y * y + z * z + 1e-6)
    floor = 0.3 * distance
    corner = 0.03 * distance
    return 0.5 * (z + floor + ca.sqrt((z - floor) ** 2 + corner**2))


def camera_state(x):
    """Position, yaw, pitch and the lens in SI units from a stage state."""
    position = x[IX["px"]:IX["pz"] + 1]
    focal_m = x[IX["focal"]] * FOCAL_SCALE_MM * 1e-3
    f_number = f_number_from_stops(x[IX["stops"]])
    return position, x[IX["yaw"]], x[IX["pitch"]], focal_m, x[IX["focus"]], f_number


def depth_of(point, position, yaw, pitch):
    """Optical-axis depth of a world point, bounded below outside the field of view (:func:`_bounded_depth`)."""
    return _bounded_depth(*optics.camera_frame_point(point, position, yaw, pitch))


def _framed_image_points(position, yaw, pitch, focal_px, p: dict, squares: Squares):
    """Mean feet and head pixels of the framed subjects, and the hinges keeping each of them in the picture.

    Averaged in the *image*, each subject projected on its own (weights ``subj_framed``
    sum to 1): a group is framed by where its members appear, and the projection of
    their 3D mean is not that when they stand at different depths (a 6 m and a 14 m
    subject put the mean point ~10 % of the frame away from the mean of their images).
    The mean alone would let a wide two-shot of people walking apart cut both out of
    the frame, so ``in_frame`` keeps every framed subject's body within the side
    margins and its head below the top one (feet may leave the bottom: a medium shot
    cuts there).  At the sides the margin is counted from the body's edge (``subj_half_width_m``
    either side of its axis, at the subject's depth and the current zoom): a person half out of the
    picture is bad framing, and for a perceived subject a cut box is a weak measurement, so an
    uncertain subject is given its position's standard deviation as extra width.
    The size is the body's *apparent length*, ``focal_px * height / depth`` of its middle, averaged like
    the points: the head-to-feet distance on screen at eye level, and still the framing's scale when the
    camera looks down steeply (from 75 deg the projected head-to-feet is a quarter of it).
    The head row is the *highest* head's (a smooth minimum over the framed subjects): a group's headroom
    is above its tallest member, as the examiner measures it (:func:`cinempc.framing.measure_frame`).
    Returns ``(u_feet, v_feet, u_head, v_head, size_px), in_front, in_frame``.
    """
    width, height = p["image_width_px"], p["image_height_px"]
    margin_u = p["frame_margin"] * width
    margin_v = p["frame_margin"] * height
    u_feet = v_feet = u_head = v_head = size_px = in_front = in_frame = 0
    w_front, w_frame = p["w_in_front"], p["w_in_frame"]
    heads = []
    for i in range(p["subj_framed"].shape[0]):
        weight = p["subj_framed"][i]
        feet = p["subj_feet_m"][3 * i:3 * i + 3]
        head = feet + ca.vertcat(0, 0, p["subj_height_m"][i])
        xf, yf, zf = optics.camera_frame_point(feet, position, yaw, pitch)
        xh, yh, zh = optics.camera_frame_point(head, position, yaw, pitch)
        zf_s, zh_s = _bounded_depth(xf, yf, zf), _bounded_depth(xh, yh, zh)
        uf, uh = focal_px * xf / zf_s + width / 2.0, focal_px * xh / zh_s + width / 2.0
        vf, vh = focal_px * yf / zf_s + height / 2.0, focal_px * yh / zh_s + height / 2.0
        u_feet += weight * uf
        u_head += weight * uh
        v_feet += weight * vf
        v_head += weight * vh
        heads.append((weight, vh))
        size_px += weight * focal_px * p["subj_height_m"][i] / ((zf_s + zh_s) / 2.0)
        in_front += squares.add(w_front * weight, _hinge((p["min_depth_m"] - (zf + zh) / 2.0) / p["min_depth_m"]))
        framed = ca.sign(weight)  # every framed subject counts fully, however many share the frame
        half_width_m = p["subj_half_width_m"][i]
        for u_px, depth in ((uf, zf_s), (uh, zh_s)):
            side_px = margin_u + focal_px * half_width_m / depth  # the body's edge, not its axis, stays inside
            in_frame += squares.add(w_frame * framed, ca.vertcat(_hinge((side_px - u_px) / height),
                                                                 _hinge((u_px - width + side_px) / height)))
        in_frame += squares.add(w_frame * framed, _hinge((margin_v - vh) / height))
    return (u_feet, v_feet, u_head, _highest_row(heads, v_head, p["head_softness_px"]), size_px), in_front, in_frame


def _highest_row(rows: list, mean_row, softness_px: float):
    """Smooth minimum of the rows weighted as framed (log-sum-exp about their weighted mean, exponents clipped
    to +-40): the highest row, within ``softness_px`` log(1 / weight); exactly the row of a lone subject."""
    total = 0
    for weight, row in rows:
        total += weight * ca.exp(ca.fmin(ca.fmax((mean_row - row) / softness_px, -40.0), 40.0))
    return mean_row - softness_px * ca.log(total)


def stage_terms(x, u, p: dict, squares: Squares | None = None) -> dict:
    """Named cost terms of one stage; multiply by the stage weight and sum for the objective.

    ``squares`` (optional) collects the residuals behind every squared term (:class:`Squares`).
    """
    squares = squares if squares is not None else Squares()
    position, yaw, pitch, focal_m, focus_m, f_number = camera_state(x)
    width, height = p["image_width_px"], p["image_height_px"]
    focal_px = optics.focal_length_px(focal_m, p["sensor_width_m"], width)
    pixel_pitch_m = p["sensor_width_m"] / width

    # --- composition: the framed subjects' heads and feet through the decision-variable intrinsics
    (u_feet, v_feet, u_head, v_head, size_px), in_front, in_frame = _framed_image_points(
        position, yaw, pitch, focal_px, p, squares
    )
    w_c = p["w_composition"]
    u_target = p["target_u"] * width
    composition = (
        squares.add(w_c[0], ((u_feet + u_head) / 2.0 - u_target) / height)
        + squares.add(w_c[1], (v_head - p["target_head_v"] * height) / height)
        + squares.add(w_c[2], (size_px - (p["target_feet_v"] - p["target_head_v"]) * height) / height)
        + in_front
        + in_frame
    )

    # --- viewpoint: direction and distance from the group's eye line to the camera
    rel = position - p["view_anchor_m"]
    dist = ca.sqrt(ca.sumsqr(rel) + 1e-4)
    viewpoint = (
        squares.add(p["w_view"][0], rel / dist - p["view_dir"])
        + squares.add(p["w_view"][1], (dist - p["view_distance_m"]) / p["view_distance_m"])
    )

    # --- movement references
    movement = squares.add(p["w_pos"], position - p["pos_ref_m"]) + squares.add(
        p["w_vel"], x[IX["vx"]:IX["vz"] + 1] - p["vel_ref_mps"]
    )

    # --- focus and depth of field on (f, N, s) together
    n_subj = p["subj_focus_alpha"].shape[0]
    focus_target = 0
    dof = 0
    for i in range(n_subj):
        eye = p["subj_eye_m"][3 * i:3 * i + 3]
        depth = depth_of(eye, position, yaw, pitch)
        focus_target += p["subj_focus_alpha"][i] * depth
        blur = optics.blur_circle_m(focal_m, f_number, focus_m, depth)
        # the blur's excess over the margin, logarithmic far out of focus (see _soft_log): a plan that sweeps
        # the lens past a near subject cannot make the cost explode and the Hessian ill-conditioned
        excess = _hinge(blur / (p["depth_margin"] * p["coc_m"]) - 1.0)
        dof += squares.add(p["w_dof"] * p["subj_sharp"][i], _soft_log(excess, p["blur_log_knee"]))
    focus_target = ca.fmax(focus_target, 0.5)
    focus = squares.add(p["w_focus_follow"], (focus_m - focus_target) / focus_target)
    background_blur_px = optics.blur_circle_px(focal_m, f_number, focus_m, p["background_distance_m"], pixel_pitch_m)
    depth_of_field = (
        dof
        + squares.add(p["w_background_blur"], _hinge(1.0 - background_blur_px / p["background_blur_px"]))
        + squares.add(p["w_background_sharp"], _hinge(background_blur_px * pixel_pitch_m / p["coc_m"] - 1.0))
    )

    # --- lens preferences
    lens = squares.add(p["w_focal_hold"], (x[IX["focal"]] - p["focal_hold"]) / p["focal_hold"]) + squares.add(
        p["w_iris"], x[IX["stops"]] - p["stops_nominal"]
    )

    # --- smoothness: acceleration, jerk and every rate, over its limit
    inv = p["inv_limits"]  # 1/max_accel, 1/max_jerk, then the five rate limits
    acc = x[IX["ax"]:IX["az"] + 1]
    jerk = u[IU["jx"]:IU["jz"] + 1]
    rates = u[IU["yaw_rate"]:IU["iris_rate"] + 1]
    smoothness = squares.add(p["w_acc"], acc * inv[0]) + squares.add(p["w_jerk"], jerk * inv[1])
    for i in range(5):
        smoothness += squares.add(p["w_rates"][i], rates[i] * inv[2 + i])

    safety_slack = SLACK_SCALE * x[IX["slack"]]
    slack = p["w_slack"][0] * safety_slack + squares.add(p["w_slack"][1], safety_slack)

    return {
        "composition": composition, "viewpoint": viewpoint, "movement": movement, "focus": focus,
        "depth_of_field": depth_of_field, "lens": lens, "smoothness": smoothness, "slack": slack,
    }


def image_points(x, p: dict):
    """Mean feet and head pixels and apparent size of the framed subjects, as the composition cost sees them."""
    position, yaw, pitch, focal_m, _, _ = camera_state(x)
    focal_px = optics.focal_length_px(focal_m, p["sensor_width_m"], p["image_width_px"])
    (u_f, v_f, u_h, v_h, size), _, _ = _framed_image_points(position, yaw, pitch, focal_px, p, Squares())
    return ca.vertcat(u_f, v_f, u_h, v_h, size)
