"""The simulated autopilot's payload: gimbal manager (gimbal protocol v2) and camera (camera protocol v2).

Targets only -- the Simulator's gimbal and lens actuators do the moving.  The
two flavours differ the way the real stacks do: PX4 forwards to a MAVLink
camera that takes zoom as focal length and focus in metres; ArduPilot's
AP_Camera takes zoom and focus only as a range percentage (or rate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mav

from cinempc.angles import wrap_angle
from cinempc.config import CameraProfile
from cinempc.mavlink import frames
from cinempc.mavlink.lens import LensMapping

ACCEPTED = mav.MAV_RESULT_ACCEPTED
DENIED = mav.MAV_RESULT_DENIED
UNSUPPORTED = mav.MAV_RESULT_UNSUPPORTED
FAILED = mav.MAV_RESULT_FAILED
_EARTH_YAW_FLAGS = (
    mav.GIMBAL_MANAGER_FLAGS_YAW_LOCK | mav.GIMBAL_MANAGER_FLAGS_YAW_IN_EARTH_FRAME
)


@dataclass
class GimbalManager:
    """Who controls the gimbal and where it should point (pitch, earth-frame yaw in NED)."""

    pitch_rad: float | None = None
    yaw_earth_ned_rad: float | None = None
    primary: tuple[int, int] | None = None  # (sysid, compid) in control
    ignored_commands: int = 0

    def configure(self, sender: tuple[int, int], sysid: float, compid: float) -> int:
        """MAV_CMD_DO_GIMBAL_MANAGER_CONFIGURE params 1-2: -1 leave, -2 self, -3 release, else the id."""
        if sysid == -2.0:
            self.primary = sender
        elif sysid == -3.0:
            if self.primary == sender:
                self.primary = None
        elif sysid >= 0:
            self.primary = (int(sysid), int(compid))
        return ACCEPTED

    def command(self, sender: tuple[int, int], pitch_rad: float, yaw_rad: float, flags: int,
                vehicle_yaw_ned_rad: float) -> bool:
        """A pitch/yaw request; only the primary controller is obeyed (as PX4's gimbal manager does)."""
        if self.primary is not None and sender != self.primary:
            self.ignored_commands += 1
            return False
        if self.primary is None:
            self.ignored_commands += 1
            return False
        if math.isfinite(pitch_rad):
            self.pitch_rad = float(pitch_rad)
        if math.isfinite(yaw_rad):
            if flags & _EARTH_YAW_FLAGS:
                self.yaw_earth_ned_rad = wrap_angle(yaw_rad)
            else:
                self.yaw_earth_ned_rad = wrap_angle(vehicle_yaw_ned_rad + yaw_rad)
        return True

    def attitude(self, sender: tuple[int, int], q: Any, flags: int, vehicle_yaw_ned_rad: float) -> bool:
        """GIMBAL_MANAGER_SET_ATTITUDE: a quaternion (NaN first element = ignore)."""
        if not math.isfinite(q[0]):
            return False
        try:
            _, pitch, yaw = frames.euler_from_quaternion_ned(q)
        except ValueError:
            return False
        return self.command(sender, pitch, yaw, flags, vehicle_yaw_ned_rad)


@dataclass
class SimCamera:
    """Lens targets from camera protocol v2 commands, with per-flavour acceptance."""

    profile: CameraProfile
    accepts_focal_length: bool  # PX4 MAVLink camera: True; ArduPilot AP_Camera: False
    focal_length_mm: float
    focus_distance_m: float
    f_number: float
    lens: LensMapping = field(init=False)

    def __post_init__(self) -> None:
        self.lens = LensMapping(self.profile)

    def zoom(self, zoom_type: int, value: float) -> int:
        if not math.isfinite(value):
            return DENIED
        if zoom_type == mav.ZOOM_TYPE_RANGE:
            self.focal_length_mm = self.lens.focal_length_mm(value)
        elif zoom_type == mav.ZOOM_TYPE_FOCAL_LENGTH and self.accepts_focal_length:
            self.focal_length_mm = self.profile.focal_length_mm.clamp(value)
        elif zoom_type == mav.ZOOM_TYPE_CONTINUOUS:
            limits = self.profile.focal_length_mm
            self.focal_length_mm = limits.max if value > 0 else limits.min if value < 0 else self.focal_length_mm
        else:
            return UNSUPPORTED
        return ACCEPTED

    def focus(self, focus_type: int, value: float) -> int:
        if not math.isfinite(value):
            return DENIED
        if focus_type == mav.FOCUS_TYPE_RANGE:
            self.focus_distance_m = self.lens.focus_distance_m(value)
        elif focus_type == mav.FOCUS_TYPE_METERS and self.accepts_focal_length:
            if value <= 0:
                return DENIED
            self.focus_distance_m = self.profile.focus_distance_m.clamp(value)
        else:
            return UNSUPPORTED
        return ACCEPTED

    def aperture(self, f_number: float) -> int:
        if not (math.isfinite(f_number) and f_number > 0):
            return ACCEPTED  # 0 / NaN = "leave the iris alone" in DO_DIGICAM_CONFIGURE
        self.f_number = self.profile.f_number.clamp(f_number)
        return ACCEPTED
