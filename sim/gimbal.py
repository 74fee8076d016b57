"""A stabilised two-axis (pan/tilt) gimbal with angle and rate limits.

The gimbal holds the camera's *world* heading and elevation regardless of how
the airframe tilts and yaws (that is what a brushless gimbal's IMU loop does),
so the camera follows the setpoint's ``yaw_rad`` and ``pitch_rad`` through a
fast first-order response, never faster than ``config/vehicle.yaml``'s gimbal
rate limits and never past its pitch end stops.  The pan axis is limited to
``yaw_range_rad`` around the airframe heading; a profile with
``gimbal_yaw: false`` has no pan axis, so the camera heading is the airframe's.
"""

from __future__ import annotations

from cinempc.angles import wrap_angle
from cinempc.config import GimbalLimits


class Gimbal:
    """Camera yaw (world heading) and pitch (elevation, negative down) following commands."""

    def __init__(self, limits: GimbalLimits, has_yaw_axis: bool, time_constant_s: float, yaw_range_rad: float,
                 yaw_rad: float = 0.0, pitch_rad: float = 0.0) -> None:
        self.limits = limits
        self.has_yaw_axis = has_yaw_axis
        self.time_constant_s = max(float(time_constant_s), 0.0)
        self.yaw_range_rad = float(yaw_range_rad)
        self.reset(yaw_rad, pitch_rad)

    def reset(self, yaw_rad: float, pitch_rad: float) -> None:
        self.yaw_rad = wrap_angle(yaw_rad)
        self.pitch_rad = min(max(pitch_rad, self.limits.pitch_min_rad), self.limits.pitch_max_rad)
        self.yaw_rate_rad_s = 0.0
        self.pitch_rate_rad_s = 0.0

    def _rate(self, error_rad: float, max_rate: float, dt_s: float) -> float:
        """First-order response rate, limited in magnitude and never overshooting in one step."""
        rate = error_rad / max(self.time_constant_s, dt_s)
        rate = min(max(rate, -max_rate), max_rate)
        if abs(rate * dt_s) > abs(error_rad):
            rate = error_rad / dt_s
        return rate

    def step(self, yaw_cmd_rad: float, pitch_cmd_rad: float, body_yaw_rad: float, dt_s: float) -> None:
        """Advance ``dt_s`` toward the commanded world yaw and pitch given the airframe's yaw."""
        pitch_cmd = min(max(pitch_cmd_rad, self.limits.pitch_min_rad), self.limits.pitch_max_rad)
        self.pitch_rate_rad_s = self._rate(pitch_cmd - self.pitch_rad, self.limits.max_pitch_rate_rad_s, dt_s)
        self.pitch_rad += self.pitch_rate_rad_s * dt_s
        if not self.has_yaw_axis:
            self.yaw_rate_rad_s = wrap_angle(body_yaw_rad - self.yaw_rad) / dt_s
            self.yaw_rad = wrap_angle(body_yaw_rad)
            return
        # the pan axis cannot leave its range around the airframe heading
        rel_cmd = wrap_angle(yaw_cmd_rad - body_yaw_rad)
        rel_cmd = min(max(rel_cmd, -self.yaw_range_rad), self.yaw_range_rad)
        target = body_yaw_rad + rel_cmd
        self.yaw_rate_rad_s = self._rate(wrap_angle(target - self.yaw_rad), self.limits.max_yaw_rate_rad_s, dt_s)
        self.yaw_rad = wrap_angle(self.yaw_rad + self.yaw_rate_rad_s * dt_s)
