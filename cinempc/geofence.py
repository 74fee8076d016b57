"""Polygon geofence geometry in the local ENU frame: containment, and the largest box inside.

Rules:

* the site's fence is a simple polygon (no edge intersects another) in local ENU metres plus an altitude band;
  :meth:`PolygonFence.contains` is the safety core's polygon containment check (boundary counts as inside);
* the MPC's OCP only knows a box, so it gets :meth:`PolygonFence.inscribed_box`: the largest-area
  axis-aligned (east/north) rectangle inside the polygon, found on a grid of ``resolution_m`` cells that
  are each proven inside (all corners inside, no polygon edge through the cell) -- so the box is never
  outside the polygon, and is at most one cell per side smaller than the exact optimum.  Every setpoint the
  box admits is therefore inside the polygon too;
* the rally point (:class:`RallyPoint`) lies inside that box, and the flight to it (:class:`RallyPath`) is
  vertical to the rally altitude, then straight across: from any point of the box it stays inside the box.

Pure numpy: no ROS, no simulator, no geodesy (:mod:`cinempc.site` converts GPS to this frame).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_VERTICES = 3


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in ENU metres: ``min_m`` = (east, north) lower corner, ``max_m`` upper."""

    min_m: tuple[float, float]
    max_m: tuple[float, float]

    @property
    def area_m2(self) -> float:
        return (self.max_m[0] - self.min_m[0]) * (self.max_m[1] - self.min_m[1])

    def corners(self) -> np.ndarray:
        (x0, y0), (x1, y1) = self.min_m, self.max_m
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


def _segments_cross(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> bool:
    """True if segments p1-p2 and q1-q2 cross at a point interior to both (touching ends do not count)."""
    def orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
        return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 < 0


def points_in_polygon(points: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Even-odd rule for many points at once; points on an edge count as inside."""
    points = np.atleast_2d(np.asarray(points, dtype=float))
    x, y = points[:, 0][:, None], points[:, 1][:, None]
    a = vertices
    b = np.roll(vertices, -1, axis=0)
    ax, ay, bx, by = a[:, 0][None, :], a[:, 1][None, :], b[:, 0][None, :], b[:, 1][None, :]
    straddles = (ay > y) != (by > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = ax + (y - ay) * (bx - ax) / (by - ay)
    inside = np.logical_xor.reduce(straddles & (x < x_cross), axis=1)
    # on an edge: collinear with it and within its bounding box
    cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
    length = np.hypot(bx - ax, by - ay)
    on_line = np.abs(cross) <= 1e-9 * np.maximum(length, 1.0) * np.maximum(length, 1.0)
    within = (np.minimum(ax, bx) - 1e-9 <= x) & (x <= np.maximum(ax, bx) + 1e-9) \
        & (np.minimum(ay, by) - 1e-9 <= y) & (y <= np.maximum(ay, by) + 1e-9)
    return inside | np.any(on_line & within, axis=1)


def _edges_touch_cells(vertices: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """``touched[i, j]``: some polygon edge passes through the open cell ``[xs[j], xs[j+1]] x [ys[i], ys[i+1]]``.

    Liang-Barsky clipping of every edge against every cell, vectorised over cells.
    """
    x0, x1 = xs[:-1][None, :], xs[1:][None, :]
    y0, y1 = ys[:-1][:, None], ys[1:][:, None]
    touched = np.zeros((len(ys) - 1, len(xs) - 1), dtype=bool)
    eps = 1e-9
    for a, b in zip(vertices, np.roll(vertices, -1, axis=0), strict=True):
        dx, dy = b[0] - a[0], b[1] - a[1]
        t0 = np.zeros_like(touched, dtype=float)
        t1 = np.ones_like(touched, dtype=float)
        ok = np.ones_like(touched)
        # shrink the cell by eps so an edge lying on a cell border does not count (the border is inside)
        for p, q in ((-dx, a[0] - (x0 + eps)), (dx, (x1 - eps) - a[0]), (-dy, a[1] - (y0 + eps)),
                     (dy, (y1 - eps) - a[1])):
            p_arr = np.broadcast_to(np.asarray(p, dtype=float), touched.shape)
            q_arr = np.broadcast_to(np.asarray(q, dtype=float), touched.shape)
            parallel = np.abs(p_arr) < 1e-15
            ok &= ~(parallel & (q_arr < 0))
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.where(parallel, 0.0, q_arr / np.where(parallel, 1.0, p_arr))
            inbound = ~parallel & (p_arr < 0)
            leaving = ~parallel & (p_arr > 0)
            t0 = np.where(inbound, np.maximum(t0, r), t0)
            t1 = np.where(leaving, np.minimum(t1, r), t1)
        touched |= ok & (t0 <= t1)
    return touched


def _largest_true_rectangle(grid: np.ndarray) -> tuple[int, int, int, int] | None:
    """(row0, row1, col0, col1) exclusive ends of the largest all-True rectangle (histogram method)."""
    rows, cols = grid.shape
    heights = np.zeros(cols, dtype=int)
    best, best_area = None, 0
    for r in range(rows):
        heights = np.where(grid[r], heights + 1, 0)
        stack: list[int] = []
        for c in range(cols + 1):
            h = heights[c] if c < cols else 0
            while stack and heights[stack[-1]] >= h:
                height = int(heights[stack.pop()])
                left = stack[-1] + 1 if stack else 0
                area = height * (c - left)
                if height > 0 and area > best_area:
                    best_area, best = area, (r - height + 1, r + 1, left, c)
            stack.append(c)
    return best


@dataclass(frozen=True)
class PolygonFence:
    """A simple polygon (ENU metres, east/north) plus an altitude band (metres, ENU up, local frame)."""

    vertices_m: tuple[tuple[float, float], ...]
    altitude_floor_m: float
    altitude_ceiling_m: float

    def __post_init__(self) -> None:
        v = np.asarray(self.vertices_m, dtype=float)
        if v.ndim != 2 or v.shape[1] != 2 or len(v) < MIN_VERTICES:
            raise ValueError(f"a geofence polygon needs at least {MIN_VERTICES} (east, north) vertices, got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError("geofence polygon vertices must be finite")
        if not self.altitude_ceiling_m > self.altitude_floor_m:
            raise ValueError(f"altitude ceiling {self.altitude_ceiling_m} m must exceed the floor "
                             f"{self.altitude_floor_m} m")
        intersection = self.self_intersection()
        if intersection is not None:
            i, j = intersection
            raise ValueError(f"geofence polygon edges {i + 1} and {j + 1} cross each other: list the vertices in "
                             "order around the field (clockwise or counter-clockwise)")
        if abs(self.signed_area_m2) < 1.0:
            raise ValueError(f"geofence polygon encloses {abs(self.signed_area_m2):.2f} m^2: vertices collinear "
                             "or repeated")

    @property
    def vertices(self) -> np.ndarray:
        return np.asarray(self.vertices_m, dtype=float)

    @property
    def signed_area_m2(self) -> float:
        v = self.vertices
        return 0.5 * float(np.sum(v[:, 0] * np.roll(v[:, 1], -1) - np.roll(v[:, 0], -1) * v[:, 1]))

    def self_intersection(self) -> tuple[int, int] | None:
        """The first pair of non-adjacent edges that cross (None for a simple polygon)."""
        v = self.vertices
        n = len(v)
        for i in range(n):
            for j in range(i + 2, n):
                if i == 0 and j == n - 1:
                    continue  # adjacent through the closing edge
                if _segments_cross(v[i], v[(i + 1) % n], v[j], v[(j + 1) % n]):
                    return i, j
        return None

    def contains(self, position_m: np.ndarray | list[float] | tuple[float, ...]) -> bool:
        """True if an ENU position (x, y[, z]) is inside the polygon (and the altitude band when z is given)."""
        p = np.asarray(position_m, dtype=float).ravel()
        if not np.all(np.isfinite(p)):
            return False
        inside = bool(points_in_polygon(p[None, :2], self.vertices)[0])
        if len(p) >= 3:
            inside = inside and self.altitude_floor_m <= p[2] <= self.altitude_ceiling_m
        return inside

    def max_distance_m(self, origin_m: tuple[float, float] = (0.0, 0.0)) -> float:
        """The farthest polygon point from ``origin_m`` horizontally (a vertex, the polygon being straight-edged)."""
        return float(np.max(np.hypot(*(self.vertices - np.asarray(origin_m, dtype=float)).T)))

    def inscribed_box(self, resolution_m: float = 0.5, max_cells: int = 400) -> Box:
        """The largest-area axis-aligned box inside the polygon (see the module rules).

        ``resolution_m`` is the grid cell; it grows when the polygon would need more than ``max_cells`` per axis.
        """
        if not resolution_m > 0:
            raise ValueError(f"resolution_m must be positive, got {resolution_m}")
        v = self.vertices
        lo, hi = v.min(axis=0), v.max(axis=0)
        cells = np.minimum(np.ceil((hi - lo) / resolution_m).astype(int), max_cells)
        xs = np.linspace(lo[0], hi[0], cells[0] + 1)
        ys = np.linspace(lo[1], hi[1], cells[1] + 1)
        gx, gy = np.meshgrid(xs, ys)
        corners_in = points_in_polygon(np.column_stack([gx.ravel(), gy.ravel()]), v).reshape(gx.shape)
        cell_ok = corners_in[:-1, :-1] & corners_in[:-1, 1:] & corners_in[1:, :-1] & corners_in[1:, 1:]
        cell_ok &= ~_edges_touch_cells(v, xs, ys)
        best = _largest_true_rectangle(cell_ok)
        if best is None:
            raise ValueError(f"no {xs[1] - xs[0]:.2f} x {ys[1] - ys[0]:.2f} m cell fits inside the geofence polygon: "
                             "the field is too narrow for the MPC's box fence")
        r0, r1, c0, c1 = best
        return Box((float(xs[c0]), float(ys[r0])), (float(xs[c1]), float(ys[r1])))


# ---------------------------------------------------------------------------------------------- the rally point

_MIN_JERK_PEAK_SPEED = 1.875  # peak of ds/dtau for s(tau) = 10 tau^3 - 15 tau^4 + 6 tau^5
_MIN_JERK_PEAK_ACCEL = 10.0 / math.sqrt(3.0)  # peak of |d2s/dtau2|


@dataclass(frozen=True)
class RallyPoint:
    """Where an escalated hold flies to (local ENU metres) and how (docs/first_flight.md, cinempc.safety).

    ``after_s``: how long a hold cinempc started by itself must last before the flight begins;
    ``speed_mps`` / ``vertical_speed_mps``: the peak speeds of the horizontal and vertical legs;
    ``accel_mps2``: the peak acceleration of either leg.  All from the site file and config/vehicle.yaml.
    """

    position_m: tuple[float, float, float]
    after_s: float
    speed_mps: float
    vertical_speed_mps: float
    accel_mps2: float

    def __post_init__(self) -> None:
        position = np.asarray(self.position_m, dtype=float)
        if position.shape != (3,) or not np.all(np.isfinite(position)):
            raise ValueError(f"rally position_m must be three finite ENU metres, got {self.position_m!r}")
        for name in ("after_s", "speed_mps", "vertical_speed_mps", "accel_mps2"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"rally {name} must be a positive number, got {value!r}")

    def path_from(self, start_m: np.ndarray | tuple[float, float, float]) -> RallyPath:
        """The flight from ``start_m`` to this point (see :class:`RallyPath`)."""
        return RallyPath(tuple(float(v) for v in np.asarray(start_m, dtype=float)), self)


@dataclass(frozen=True)
class RallyPath:
    """Straight up or down to the rally altitude, then straight across to the rally point; then there.

    Each leg is a minimum-jerk profile (zero speed and acceleration at both ends) whose peak speed is the leg's
    speed and whose peak acceleration is at most ``accel_mps2``.  Why vertical first: the altitude the site
    chose for the rally is the one clear of what stands on the field, so the transit happens at it.  Both ends
    inside an axis-aligned box (the MPC's, inside the site polygon) keep the whole path inside it: the box is
    convex.
    """

    start_m: tuple[float, float, float]
    rally: RallyPoint

    @property
    def _corner(self) -> np.ndarray:
        return np.array([self.start_m[0], self.start_m[1], self.rally.position_m[2]])

    @staticmethod
    def _leg_duration(length_m: float, speed_mps: float, accel_mps2: float) -> float:
        if length_m <= 0.0:
            return 0.0
        return max(_MIN_JERK_PEAK_SPEED * length_m / speed_mps, math.sqrt(_MIN_JERK_PEAK_ACCEL * length_m / accel_mps2))

    @property
    def legs(self) -> tuple[tuple[np.ndarray, np.ndarray, float], ...]:
        """(from, to, duration_s) of the vertical and the horizontal leg."""
        start, corner, end = np.asarray(self.start_m, dtype=float), self._corner, np.asarray(self.rally.position_m)
        vertical = self._leg_duration(abs(corner[2] - start[2]), self.rally.vertical_speed_mps, self.rally.accel_mps2)
        across = self._leg_duration(float(np.linalg.norm(end[:2] - corner[:2])), self.rally.speed_mps,
                                    self.rally.accel_mps2)
        return (start, corner, vertical), (corner, end, across)

    @property
    def duration_s(self) -> float:
        return sum(leg[2] for leg in self.legs)

    def sample(self, t_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """(position, velocity, acceleration, arrived) ``t_s`` seconds after the flight began."""
        t = max(0.0, float(t_s))
        for start, end, duration in self.legs:
            if t < duration:
                tau = t / duration
                s = 10 * tau**3 - 15 * tau**4 + 6 * tau**5
                ds = (30 * tau**2 - 60 * tau**3 + 30 * tau**4) / duration
                dds = (60 * tau - 180 * tau**2 + 120 * tau**3) / duration**2
                delta = end - start
                return start + s * delta, ds * delta, dds * delta, False
            t -= duration
        zero = np.zeros(3)
        return np.asarray(self.rally.position_m, dtype=float), zero, zero.copy(), True
