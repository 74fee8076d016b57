"""Lens settings <-> the percentages camera protocol v2 speaks, through the camera profile.

Why: ArduPilot (and many gimbal cameras) only take zoom and focus as a
percentage of their range, and ``CAMERA_SETTINGS`` reports ``zoomLevel`` and
``focusLevel`` that way.  The profile in ``config/cameras.yaml`` says what 0 %
and 100 % mean, so the MPC keeps reasoning in millimetres and metres.

* zoom: linear in focal length (optical zoom motors and SIYI/ArduPilot "zoom
  absolute" are linear in magnification, i.e. focal length).
* focus: linear in dioptres (1/distance), the way a focus ring is geared:
  0 % = closest focus, 100 % = the profile's far limit (infinity for practical
  purposes).  Linear in metres would spend almost the whole ring on the far end.
"""

from __future__ import annotations

import math

from cinempc.config import CameraProfile


def _finite(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


class LensMapping:
    """Zoom and focus percentages of one camera profile."""

    def __init__(self, profile: CameraProfile) -> None:
        self.profile = profile
        self._f_min = profile.focal_length_mm.min
        self._f_max = profile.focal_length_mm.max
        self._d_near = profile.focus_distance_m.min
        self._d_far = profile.focus_distance_m.max

    def zoom_percent(self, focal_length_mm: float) -> float:
        """Zoom range percentage for a focal length (clamped to the lens)."""
        f = self.profile.focal_length_mm.clamp(_finite("focal_length_mm", focal_length_mm))
        span = self._f_max - self._f_min
        return 0.0 if span <= 0 else 100.0 * (f - self._f_min) / span

    def focal_length_mm(self, zoom_percent: float) -> float:
        """Focal length at a zoom range percentage (clamped to 0..100)."""
        p = min(max(_finite("zoom_percent", zoom_percent), 0.0), 100.0)
        return self._f_min + (self._f_max - self._f_min) * p / 100.0

    def focus_percent(self, focus_distance_m: float) -> float:
        """Focus range percentage (dioptre-linear) for a distance (clamped to the lens)."""
        d = self.profile.focus_distance_m.clamp(_finite("focus_distance_m", focus_distance_m))
        near, far = 1.0 / self._d_near, 1.0 / self._d_far
        return 0.0 if near <= far else 100.0 * (near - 1.0 / d) / (near - far)

    def focus_distance_m(self, focus_percent: float) -> float:
        """Focus distance at a focus range percentage (clamped to 0..100)."""
        p = min(max(_finite("focus_percent", focus_percent), 0.0), 100.0)
        near, far = 1.0 / self._d_near, 1.0 / self._d_far
        return 1.0 / (near - (near - far) * p / 100.0)
