"""Where a detected subject stands: feet point in the world from a box, the lens *now*, the pose and the gimbal.

Three independent cues, each with its own covariance, fused by inverse covariance:

* **ground plane** -- the ray through the bottom-centre of the box (the feet)
  meets the flat ground.  Excellent when the camera looks down, useless near
  the horizon or when the feet are cut off by the image border.
* **height prior** -- a person of known height spans the box from feet to head;
  the range that makes the projected height match the box height.  Works at any
  pitch, degrades with the height prior's uncertainty (about 7 %).
* **depth** -- when a depth image exists (simulator, RGB-D, stereo), the robust
  depth inside the box, back-projected, pushed back by the body radius.

The pixel focal length is computed from the focal length of *this* frame: on a
zoom lens it changes by 10x over a shot, so a stale value puts the subject at
the wrong distance by the same factor.  Covariances come from numerically
propagating the pixel, gimbal-angle, height and depth uncertainties (config
``perception.yaml``), so the Kalman filter weighs each cue for what it is worth.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from cinempc import optics
from cinempc.perception.boxes import PERSON_BOX_WIDTH
from cinempc.perception.params import PerceptionParams

__all__ = ["CameraView", "SubjectEstimate", "estimate_subject", "occluders"]

# Rows of the body whose column is the body's: below the head top, in metres (shoulders to belly).
# The torso stays over the feet point; the head leads it when a person running leans forward.
BODY_BAND_M = (0.25, 0.75)
# A person's width as a fraction of their box height is boxes.PERSON_BOX_WIDTH: how far a body can reach
# beyond the visible sliver of a box beside an occluder.
# With the feet hidden by a nearer person, the depth cue reads the rows from this fraction of the box
# below its top down to the occluder's top edge: the top of the head is still the person
# (docs/perception.md, "Rules and where they came from").
HIDDEN_TOP_ROW = 0.02


@dataclass(frozen=True)
class CameraView:
    """Everything about the camera at the instant of one frame: pose, gimbal and current intrinsics."""

    position_m: np.ndarray
    yaw_rad: float
    pitch_rad: float
    focal_length_mm: float
    sensor_width_mm: float
    image_width_px: int
    image_height_px: int

    @property
    def focal_px(self) -> float:
        """Pixel focal length for this frame's zoom and image width (square pixels)."""
        return self.focal_length_mm * self.image_width_px / self.sensor_width_mm

    def with_pitch(self, pitch_rad: float) -> CameraView:
        return CameraView(self.position_m, self.yaw_rad, pitch_rad, self.focal_length_mm, self.sensor_width_mm,
                          self.image_width_px, self.image_height_px)

    def ray(self, u_px: float, v_px: float) -> np.ndarray:
        return optics.pixel_ray(u_px, v_px, self.yaw_rad, self.pitch_rad, self.focal_px, self.image_width_px,
                                self.image_height_px)

    def project(self, point_m) -> tuple[float, float, float]:
        u, v, z = optics.project(point_m, self.position_m, self.yaw_rad, self.pitch_rad, self.focal_px,
                                 self.image_width_px, self.image_height_px)
        return float(u), float(v), float(z)


@dataclass(frozen=True)
class SubjectEstimate:
    """One subject in one frame: feet point (ENU), its 3x3 covariance, standing height, which cues were used."""

    position_m: np.ndarray
    covariance_m2: np.ndarray
    height_m: float
    methods: tuple[str, ...]
    range_m: float
    height_measured: bool = True  # False: the head is cut or the box top is not a head (height_m = the prior)
    head_top_m: float | None = None  # measured height of the head top above the feet point (None: not measured)
    feet_in_view: bool = True  # False: the box bottom is the frame's edge or an occluder, not the feet
    partial_box: bool = False  # its top row is not a head: covariance_m2 carries partial_box_variance_factor
    # width / height of the box when it shows a whole person (head and feet in the frame, no side cut), else None
    whole_box_aspect: float | None = None
    # For a box showing the head but not the whole body: its width over the tallest the body can stand in it
    # (down to the box bottom or the feet point, whichever is lower).  Parts of the body cut off at the side
    # only narrow the box, so a value above a person's proportions says it is not one; a low value says little.
    cut_box_aspect: float | None = None

    @property
    def measures_stature(self) -> bool:
        """The head row was measured against a position that did not come from a stature (feet ray or depth).

        With the feet hidden and no depth the position is where a person of the assumed
        stature would be, and the height read back from it is that assumption again.
        """
        return self.head_top_m is not None and any(m != "head_plane" for m in self.methods)


def _ground_hit(view: CameraView, u: float, v: float, ground_z: float, max_range_m: float) -> np.ndarray | None:
    """Feet ray meets the plane z = ground_z in front of the camera, or None."""
    ray = view.ray(u, v)
    drop = ground_z - view.position_m[2]
    if ray[2] >= -1e-6 or drop >= 0:
        return None
    t = drop / ray[2]
    if not 0 < t <= max_range_m:
        return None
    return view.position_m + t * ray


def _height_prior_hit(view: CameraView, u_feet: float, v_feet: float, v_head: float, height_m: float,
                      ground_z: float, max_range_m: float) -> np.ndarray | None:
    """Ground point along the feet ray whose head (height_m above it) projects to row ``v_head``.

    The feet ray is followed rather than assuming the subject stands at one depth,
    so the answer is exact under any gimbal pitch.  The feet point's height is then
    set to the ground (the camera height error would otherwise leak into z).
    """
    ray = view.ray(u_feet, v_feet)

    def head_row_error(t: float) -> float:
        feet = view.position_m + t * ray
        _, v, z = view.project(feet + np.array([0.0, 0.0, height_m]))
        return (v - v_head) if z > 0 else -1e6

    lo, hi = 0.3, max_range_m
    try:
        f_lo, f_hi = head_row_error(lo), head_row_error(hi)
        if not (math.isfinite(f_lo) and math.isfinite(f_hi)) or f_lo * f_hi > 0:
            return None
        t = brentq(head_row_error, lo, hi, xtol=1e-4)
    except (ValueError, RuntimeError):
        return None
    point = view.position_m + t * ray
    point[2] = ground_z
    return point


def _depth_hit(view: CameraView, box: np.ndarray, depth_m: np.ndarray, params: PerceptionParams,
               hiding: list[np.ndarray] | None = None, u_px: float | None = None) -> np.ndarray | None:
    """Feet point from the depth image inside the box (robust: the near-side low percentile of the inner box).

    Pixels inside an occluder's box (``hiding``) are someone else's and are left out;
    ``u_px`` is the body's column (default: the box centre).
    """
    x1, y1, x2, y2 = box
    h, w = depth_m.shape[:2]
    cx, bw, bh = (x1 + x2) / 2 if u_px is None else float(u_px), x2 - x1, y2 - y1
    c0, c1 = int(max(0, cx - bw * 0.2)), int(min(w, cx + bw * 0.2 + 1))
    r0, r1 = int(max(0, y1 + bh * 0.25)), int(min(h, y1 + bh * 0.75 + 1))
    if hiding:
        # the part of this box above its occluders: from the head down to the occluder's top edge
        r1 = int(min(r1, min(b[1] for b in hiding)))
        r0 = int(max(0, min(r0, y1 + bh * HIDDEN_TOP_ROW)))
    if r1 <= r0 or c1 <= c0:
        return None
    patch = depth_m[r0:r1, c0:c1]
    keep = np.isfinite(patch) & (patch > 0.05)
    for b in hiding or ():
        rows = np.arange(r0, r1)[:, None]
        cols = np.arange(c0, c1)[None, :]
        keep &= ~((rows >= b[1]) & (rows < b[3]) & (cols >= b[0]) & (cols < b[2]))
    values = patch[keep]
    if values.size < 3:
        return None
    # The body is the nearest large thing in its own box; the background is further, so
    # a low percentile sits on the body even when the box is loose.
    depth = float(np.percentile(values, 30))
    if not 0 < depth <= params.max_range_m:
        return None
    if depth * (y2 - y1) / view.focal_px > params.plausible_height_m[1] + 0.3:
        return None  # at that depth the box would be taller than a person: the patch saw the background
    v_mid = (r0 + r1) / 2  # the rows the depth was read from
    surface = np.asarray(optics.back_project(cx, v_mid, depth, view.position_m, view.yaw_rad, view.pitch_rad,
                                             view.focal_px, view.image_width_px, view.image_height_px))
    horizontal = surface[:2] - view.position_m[:2]
    norm = float(np.linalg.norm(horizontal))
    if norm > 1e-6:
        surface[:2] += horizontal / norm * params.body_radius_m
    surface[2] = params.ground_height_m
    return surface


def _body_column(view: CameraView, box: np.ndarray, depth_m: np.ndarray, params: PerceptionParams,
                 hiding: list[np.ndarray] | None = None) -> float | None:
    """Image column of the person's head and shoulders, from the depth image inside the box, or None.

    The box centre leads the body by a stride; the head and shoulders sit over the feet
    point: their pixels are the top band's whose depth is the body's.
    """
    x1, y1, x2, y2 = box
    h, w = depth_m.shape[:2]
    c0, c1 = int(max(0, math.floor(x1))), int(min(w, math.ceil(x2)))
    r0 = int(max(0, math.floor(y1)))
    if c1 - c0 < 3:
        return None
    core = depth_m[int(max(0, y1 + (y2 - y1) * 0.1)):int(min(h, y1 + (y2 - y1) * 0.6 + 1)),
                   int(max(0, (x1 + x2) / 2 - (x2 - x1) * 0.2)):int(min(w, (x1 + x2) / 2 + (x2 - x1) * 0.2 + 1))]
    values = core[np.isfinite(core) & (core > 0.05)]
    if values.size < 3:
        return None
    body_depth = float(np.percentile(values, 30))
    px_per_m = view.focal_px / max(body_depth, 0.3)
    r0 = int(max(0, math.floor(y1 + BODY_BAND_M[0] * px_per_m)))
    r1 = int(min(h, math.ceil(y1 + min(BODY_BAND_M[1] * px_per_m, 0.6 * (y2 - y1)))))
    if hiding:
        r1 = int(min(r1, min(b[1] for b in hiding)))
    if r1 - r0 < 2:
        return None
    band = depth_m[r0:r1, c0:c1]
    body = np.isfinite(band) & (np.abs(band - body_depth) < 0.4 + 0.05 * body_depth)
    if int(body.sum()) < 8:
        return None
    columns = np.nonzero(body)[1] + c0 + 0.5
    return float(np.median(columns))


def _jacobian_covariance(fn: Callable[[np.ndarray], np.ndarray | None], x0: np.ndarray,
                         sigmas: np.ndarray) -> np.ndarray | None:
    """Covariance of fn(x) for independent inputs x ~ N(x0, diag(sigmas^2)), by central differences."""
    columns = []
    for i, sigma in enumerate(sigmas):
        if sigma <= 0:
            continue
        step = np.zeros_like(x0)
        step[i] = sigma
        plus, minus = fn(x0 + step), fn(x0 - step)
        if plus is None or minus is None:
            return None
        columns.append((plus - minus) / 2.0)  # = J_i * sigma_i
    if not columns:
        return np.zeros((3, 3))
    jac_scaled = np.column_stack(columns)
    return jac_scaled @ jac_scaled.T


def _regularise(cov: np.ndarray) -> np.ndarray:
    """Symmetric, with a small floor so the feet height (fixed by the ground) keeps the matrix invertible."""
    cov = (cov + cov.T) / 2
    return cov + np.diag([1e-4, 1e-4, 1e-3])


def _patch_depth(depth_m: np.ndarray | None, box: np.ndarray, rows: tuple[float, float]) -> float | None:
    """Low percentile of the depth in the central columns of a band of rows of a box (fractions of its height)."""
    if depth_m is None:
        return None
    x1, y1, x2, y2 = box
    h, w = depth_m.shape[:2]
    cx, bw, bh = (x1 + x2) / 2, x2 - x1, y2 - y1
    patch = depth_m[int(max(0, y1 + bh * rows[0])):int(min(h, y1 + bh * rows[1] + 1)),
                    int(max(0, cx - bw * 0.2)):int(min(w, cx + bw * 0.2 + 1))]
    values = patch[np.isfinite(patch) & (patch > 0.05)]
    return float(np.percentile(values, 30)) if values.size >= 3 else None


def occluders(box_xyxy, others, depth_m: np.ndarray | None = None) -> list[np.ndarray]:
    """The other boxes standing in front of this one's feet: a nearer person hides them.

    On flat ground seen from above, the person whose box reaches further down the
    image stands nearer.  A box B hides A's feet when B reaches clearly lower than
    A's bottom edge, A's bottom edge lies inside B's rows, and B covers A's
    bottom-centre column; a smaller box lying mostly inside A (a second box on the
    same person's legs) is not an occluder, nor is a box holding all of A from its
    top row down (drawn around A and someone else).
    """
    box = np.asarray(box_xyxy, dtype=float).reshape(4)
    x1, y1, x2, y2 = box
    u = (x1 + x2) / 2
    found = []
    for other in others or ():
        b = np.asarray(other, dtype=float).reshape(4)
        if not np.all(np.isfinite(b)) or b[2] <= b[0] or b[3] <= b[1]:
            continue
        if not (b[3] > y2 + max(4.0, 0.05 * (y2 - y1)) and b[1] < y2 and b[0] <= u <= b[2]):
            continue
        inter_w = min(x2, b[2]) - max(x1, b[0])
        inter_h = min(y2, b[3]) - max(y1, b[1])
        area_b = (b[2] - b[0]) * (b[3] - b[1])
        if inter_w > 0 and inter_h > 0 and inter_w * inter_h > 0.7 * area_b:
            continue
        if inter_w > 0 and inter_h > 0 and inter_w * inter_h >= 0.9 * (x2 - x1) * (y2 - y1) \
                and b[1] <= y1 + 0.05 * (y2 - y1):
            continue  # drawn around this box, top to top (a box round two people), not someone in front of it
        # with depth: the one in front really is nearer than this box's head (a box drawn around both
        # people reaches as low, but what it sees in its middle is as far as this person)
        mine, theirs = _patch_depth(depth_m, box, (0.0, 0.2)), _patch_depth(depth_m, b, (0.25, 0.75))
        if mine is not None and theirs is not None and theirs > mine - 0.5:
            continue
        found.append(b)
    return found


def _feet_row(view: CameraView, position_m: np.ndarray) -> float:
    """Image row of a feet point (+inf when it cannot be projected: behind the camera)."""
    _, v_feet, z_feet = view.project(position_m)
    return float(v_feet) if z_feet > 0 and np.isfinite(v_feet) else math.inf


def estimate_subject(box_xyxy, view: CameraView, params: PerceptionParams,
                     depth_m: np.ndarray | None = None, others=None,
                     stature_m: float | None = None, speed_mps: float = 0.0) -> SubjectEstimate | None:
    """Fused feet position of one detected subject, or None when no cue gives a sensible answer.

    ``stature_m``: this person's own height where it is known (the pipeline's median of
    their measured heights); with the feet hidden and no depth it is the only scale
    between the head row and the range, so it replaces the population prior there.
    ``speed_mps``: theirs, for the head-top fraction (a walker's head rides lower).

    ``others``: the other boxes of the same frame; one that stands in front of this
    box's feet (:func:`occluders`) makes the feet count as hidden (head row + height
    prior instead of the feet ray) and its pixels are left out of the depth cue.
    """
    box = np.asarray(box_xyxy, dtype=float).reshape(4)
    if not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
        return None
    x1, y1, x2, y2 = box
    u_feet = (x1 + x2) / 2
    margin = params.border_margin_px
    depth_ok = depth_m is not None and np.asarray(depth_m).ndim == 2 and \
        np.asarray(depth_m).shape == (view.image_height_px, view.image_width_px)
    hiding = occluders(box, others, np.asarray(depth_m, dtype=float) if depth_ok else None)
    u_body = None
    if depth_ok and y1 > margin:
        u_body = _body_column(view, box, np.asarray(depth_m, dtype=float), params, hiding)
        if u_body is not None:
            u_feet = u_body
    feet_cut = y2 >= view.image_height_px - margin or bool(hiding)
    head_cut = y1 <= margin
    ground_z, max_range = params.ground_height_m, params.max_range_m
    px, pitch_sigma = params.pixel_sigma_px, params.pitch_sigma_rad
    prior_h, prior_sigma = params.subject_height_prior_m, params.subject_height_sigma_m
    head_top = params.head_top_fraction(0.0)  # the box's top row is the head top, this fraction of the stature

    estimates: list[tuple[str, np.ndarray, np.ndarray]] = []
    if not feet_cut:
        def ground(x: np.ndarray) -> np.ndarray | None:
            return _ground_hit(view.with_pitch(x[2]), x[0], x[1], ground_z, max_range)

        x0 = np.array([u_feet, y2, view.pitch_rad])
        point = ground(x0)
        if point is not None:
            cov = _jacobian_covariance(ground, x0, np.array([px, px, pitch_sigma]))
            if cov is not None:
                estimates.append(("ground_plane", point, cov))
    if not feet_cut and not head_cut:
        def prior(x: np.ndarray) -> np.ndarray | None:
            return _height_prior_hit(view.with_pitch(x[3]), x[0], x[1], x[2], x[4], ground_z, max_range)

        x0 = np.array([u_feet, y2, y1, view.pitch_rad, prior_h * head_top])
        point = prior(x0)
        if point is not None:
            cov = _jacobian_covariance(prior, x0, np.array([px, px, px, pitch_sigma, prior_sigma]))
            if cov is not None:
                estimates.append(("height_prior", point, cov))
    if feet_cut and not head_cut:
        # Feet below the frame (a close-up): the head ray meets the plane at head height.
        def head(x: np.ndarray) -> np.ndarray | None:
            hit = _ground_hit(view.with_pitch(x[2]), x[0], x[1], ground_z + x[3], max_range)
            if hit is None:
                return None
            hit = hit.copy()
            hit[2] = ground_z
            return hit

        head_row_m = stature_m * params.head_top_fraction(speed_mps) if stature_m else prior_h * head_top
        x0 = np.array([u_feet, y1, view.pitch_rad, head_row_m])
        point = head(x0)
        if point is not None:
            cov = _jacobian_covariance(head, x0, np.array([px, px, pitch_sigma, prior_sigma]))
            if cov is not None:
                estimates.append(("head_plane", point, cov))
    if depth_m is not None:
        depth = np.asarray(depth_m, dtype=float)
        if depth.ndim == 2 and depth.shape == (view.image_height_px, view.image_width_px):
            point = _depth_hit(view, box, depth, params, hiding, u_feet)
            if point is not None:
                rng = float(np.linalg.norm(point - view.position_m))
                sigma_along = params.depth_sigma_fraction * rng
                ray = (point - view.position_m) / max(rng, 1e-6)
                sigma_across = max(px * rng / view.focal_px, 0.02)
                cov = sigma_along**2 * np.outer(ray, ray) + sigma_across**2 * (np.eye(3) - np.outer(ray, ray))
                estimates.append(("depth", point, cov))
    if not estimates:
        return None
    feet_cue = next((e for e in estimates if e[0] == "ground_plane"), None)
    if feet_cue is not None and any(e[0] == "height_prior" for e in estimates):
        # The height prior reads the box's top row as a head.  Where the feet ray says it is not one, it
        # would pull the person towards the camera (a box over a person and what stands behind them).
        lo, hi = params.plausible_height_m
        if not lo <= _apparent_height(view, feet_cue[1], y1, prior_h * head_top) / head_top <= hi:
            estimates = [e for e in estimates if e[0] != "height_prior"]
    depth_cue = next((e for e in estimates if e[0] == "depth"), None)
    if depth_cue is not None:
        # With a direct range from the depth image the box-row cues only add their biases: the height prior
        # assumes everyone is 1.75 m, the box bottom is the nearest toe, not the feet point.
        estimates = [depth_cue]

    information = np.zeros((3, 3))
    weighted = np.zeros(3)
    for _, point, cov in estimates:
        inv = np.linalg.inv(_regularise(cov))
        information += inv
        weighted += inv @ point
    covariance = np.linalg.inv(information)
    position = covariance @ weighted
    position[2] = ground_z if any(m != "depth" for m, _, _ in estimates) else position[2]
    # The height is whatever puts this position's head on the box's top row (when the head is in the
    # frame): the MPC composes by projecting feet + height, so a 3D estimate that re-projects onto the
    # measured box frames the person the camera sees.  With the feet hidden and no depth, the position
    # itself came from the height prior along the head ray, and this gives the prior back.
    height, height_measured, head_top_m, partial_box = prior_h, False, None, False
    feet_row = math.inf
    if not head_cut:
        top = _apparent_height(view, position, y1, prior_h * head_top)
        apparent = top / head_top
        lo, hi = params.plausible_height_m
        feet_row = _feet_row(view, position)
        # With the feet cut (below the frame, behind something) the box ends above them; one that goes on far
        # below them is more than a person standing there (a person and what is in front of them).
        beyond_feet = feet_cut and feet_row < y2 - params.feet_cut_bottom_tolerance * (y2 - y1)
        if lo <= apparent <= hi and not beyond_feet:
            height, height_measured, head_top_m = apparent, True, top
        else:
            # The box's top is not a head (legs seen under a branch, a box on half a person): its
            # rows say little about where the person stands either.
            covariance = covariance * params.partial_box_variance_factor
            partial_box = True
    range_m = float(np.linalg.norm(position - view.position_m))
    side_hidden = depth_ok and _side_hidden(box, np.asarray(depth_m, dtype=float), params)
    if side_hidden and not height_measured:
        # a sliver beside an occluder whose rows are not a whole person (an arm, a shoulder): its depth
        # pixels are mostly the background and the occluder, so it says nothing about where the body is
        return None
    side_cut = x1 <= margin or x2 >= view.image_width_px - margin
    whole = height_measured and not feet_cut and not side_cut and not side_hidden
    # A box reaching the frame's side whose head and shoulders the depth image found well inside it: their
    # column is the body's (an arm or a stride reached the edge, or the box is loose), measured, not guessed.
    clearance_px = params.side_cut_column_clearance * (y2 - y1)
    column_inside = u_body is not None and clearance_px <= u_body <= view.image_width_px - clearance_px
    if (side_cut and not column_inside) or side_hidden:
        # Cut by the side of the frame, or by something nearer standing at the box's side (a trunk the
        # person walks behind): the body's column is somewhere in or beyond the box, not where it seems.
        lateral = optics.across_view(view.position_m, position)
        if lateral is not None:
            # (beside an occluder the visible part may be a sliver: the body reaches a body's width beyond it)
            width_px = max(x2 - x1, PERSON_BOX_WIDTH * (y2 - y1)) if side_hidden else x2 - x1
            sigma = range_m * 0.5 * width_px / view.focal_px
            covariance = covariance + sigma**2 * np.outer(lateral, lateral)
    return SubjectEstimate(
        position_m=position, covariance_m2=(covariance + covariance.T) / 2, height_m=height,
        methods=tuple(m for m, _, _ in estimates), range_m=range_m, height_measured=height_measured,
        head_top_m=head_top_m, feet_in_view=not feet_cut, partial_box=partial_box,
        whole_box_aspect=float((x2 - x1) / (y2 - y1)) if whole else None,
        cut_box_aspect=None if whole or head_cut else float((x2 - x1) / max(y2 - y1, feet_row - y1)),
    )


def _side_hidden(box: np.ndarray, depth_m: np.ndarray, params: PerceptionParams) -> bool:
    """True when something nearer than the person stands right beside the box, in the body's rows.

    A walker behind a trunk is boxed by the half still visible, whose column lags the
    body; the depth image shows the trunk in the columns just beside the box edge.
    """
    h, w = depth_m.shape[:2]
    x1, y1, x2, y2 = box
    body = _patch_depth(depth_m, box, (0.25, 0.75))
    if body is None:
        return False
    r0, r1 = int(max(0, y1 + 0.2 * (y2 - y1))), int(min(h, y1 + 0.6 * (y2 - y1)))
    strip = int(params.side_occluder_strip_px)
    left, right = int(math.floor(x1)), int(math.ceil(x2))
    for c0, c1 in ((left - strip, left), (right, right + strip)):
        c0, c1 = max(0, c0), min(w, c1)
        if c1 <= c0 or r1 <= r0:
            continue
        values = depth_m[r0:r1, c0:c1]
        values = values[np.isfinite(values) & (values > 0.05)]
        if values.size >= 3 and float(np.median(values)) < body - params.side_occluder_margin_m:
            return True
    return False


def _apparent_height(view: CameraView, feet_m: np.ndarray, v_head: float, fallback_m: float) -> float:
    """Height above the feet at which the head row's ray passes over the feet point (clamped to people)."""
    ray = view.ray(float(view.project(feet_m)[0]), v_head)
    horizontal = feet_m[:2] - view.position_m[:2]
    dist = float(np.linalg.norm(horizontal))
    ray_h = float(np.linalg.norm(ray[:2]))
    if dist < 1e-3 or ray_h < 1e-6:
        return fallback_m
    height = view.position_m[2] + ray[2] * dist / ray_h - feet_m[2]
    return float(np.clip(height, 0.5, 2.5)) if math.isfinite(height) else fallback_m
