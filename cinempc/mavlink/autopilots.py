"""What differs between PX4 and ArduPilot: detection, flight modes, type_mask, camera routing.

Why a table and not ``if px4`` scattered around: the bridge asks one
:class:`AutopilotDialect` for mode numbers and command variants, and a third
stack would be one more entry here.  Both stacks are decoded with pymavlink's
``ardupilotmega`` dialect, which includes ``common`` (all PX4 uses) plus the
ArduPilot extensions, so one parser serves both.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

MAV_AUTOPILOT_ARDUPILOTMEGA = 3
MAV_AUTOPILOT_PX4 = 12
MAV_MODE_FLAG_SAFETY_ARMED = 128
MAV_MODE_FLAG_CUSTOM_MODE_ENABLED = 1

# SET_POSITION_TARGET_LOCAL_NED type_mask bits (POSITION_TARGET_TYPEMASK)
IGNORE_POSITION = 0b111
IGNORE_VELOCITY = 0b111000
IGNORE_ACCELERATION = 0b111000000
FORCE_SET = 512
IGNORE_YAW = 1024
IGNORE_YAW_RATE = 2048


class Autopilot(str, Enum):
    """The flight stacks the bridge speaks to."""

    PX4 = "px4"
    ARDUPILOT = "ardupilot"


def detect_autopilot(heartbeat: Any) -> Autopilot | None:
    """The stack behind a HEARTBEAT, or None for a non-autopilot component (GCS, camera, gimbal)."""
    return {MAV_AUTOPILOT_PX4: Autopilot.PX4, MAV_AUTOPILOT_ARDUPILOTMEGA: Autopilot.ARDUPILOT}.get(
        int(heartbeat.autopilot)
    )


# PX4 custom_mode = main_mode << 16 | sub_mode << 24 (px4_custom_mode.h)
PX4_MAIN = {"manual": 1, "altitude": 2, "position": 3, "auto": 4, "acro": 5, "offboard": 6, "stabilized": 7}
PX4_AUTO_SUB = {"ready": 1, "takeoff": 2, "loiter": 3, "mission": 4, "rtl": 5, "land": 6}
# cinempc mode name -> (main, sub)
PX4_MODES: dict[str, tuple[int, int]] = {
    "offboard": (6, 0), "hold": (4, 3), "takeoff": (4, 2), "land": (4, 6), "rtl": (4, 5), "position": (3, 0),
    "manual": (1, 0), "altitude": (2, 0), "stabilized": (7, 0), "mission": (4, 4),
}
# ArduCopter mode numbers (COPTER_MODE in ardupilotmega.xml); "offboard" is GUIDED, "hold" LOITER
ARDUPILOT_MODES: dict[str, int] = {
    "stabilized": 0, "altitude": 2, "mission": 3, "offboard": 4, "hold": 5, "rtl": 6, "land": 9,
    "position": 16, "brake": 17, "takeoff": 4,
}


def px4_custom_mode(main_mode: int, sub_mode: int = 0) -> int:
    """PX4's 32-bit custom_mode word."""
    return (int(main_mode) << 16) | (int(sub_mode) << 24)


def px4_split_custom_mode(custom_mode: int) -> tuple[int, int]:
    """(main, sub) from PX4's custom_mode word."""
    return (int(custom_mode) >> 16) & 0xFF, (int(custom_mode) >> 24) & 0xFF


@dataclass(frozen=True)
class AutopilotDialect:
    """Per-stack choices the bridge needs (the numbers come from config/mavlink.yaml)."""

    autopilot: Autopilot
    hold_mode: str
    camera_component_id: int
    gimbal_manager_component_id: int
    zoom_command: str  # "focal_length" | "range"
    focus_command: str  # "meters" | "range"
    type_mask: int

    @classmethod
    def from_params(cls, autopilot: Autopilot, params: dict[str, Any]) -> AutopilotDialect:
        """Build from the ``px4:`` or ``ardupilot:`` section of config/mavlink.yaml, validated."""
        section = params[autopilot.value]
        dialect = cls(
            autopilot=autopilot,
            hold_mode=str(section["hold_mode"]),
            camera_component_id=int(section["camera_component_id"]),
            gimbal_manager_component_id=int(section["gimbal_manager_component_id"]),
            zoom_command=str(section["zoom_command"]),
            focus_command=str(section["focus_command"]),
            type_mask=int(section["type_mask"]),
        )
        if dialect.zoom_command not in ("focal_length", "range"):
            raise ValueError(f"{autopilot.value}.zoom_command must be focal_length or range")
        if dialect.focus_command not in ("meters", "range"):
            raise ValueError(f"{autopilot.value}.focus_command must be meters or range")
        if autopilot is Autopilot.ARDUPILOT and (dialect.zoom_command != "range" or dialect.focus_command != "range"):
            raise ValueError("ArduPilot accepts zoom and focus only as rate or range percent")
        dialect.mode_args(dialect.hold_mode)  # raises for an unknown hold mode
        if dialect.type_mask & (IGNORE_POSITION | FORCE_SET):
            raise ValueError("type_mask must keep the position target (we always send one)")
        return dialect

    def mode_args(self, mode: str) -> tuple[float, float, float]:
        """MAV_CMD_DO_SET_MODE params 1-3 for a cinempc mode name."""
        if self.autopilot is Autopilot.PX4:
            if mode not in PX4_MODES:
                raise ValueError(f"PX4 has no mode {mode!r}; known: {', '.join(sorted(PX4_MODES))}")
            main, sub = PX4_MODES[mode]
            return float(MAV_MODE_FLAG_CUSTOM_MODE_ENABLED), float(main), float(sub)
        if mode not in ARDUPILOT_MODES:
            raise ValueError(f"ArduPilot has no mode {mode!r}; known: {', '.join(sorted(ARDUPILOT_MODES))}")
        return float(MAV_MODE_FLAG_CUSTOM_MODE_ENABLED), float(ARDUPILOT_MODES[mode]), 0.0

    def mode_name(self, custom_mode: int) -> str:
        """cinempc mode name of a heartbeat's custom_mode (``unknown(N)`` if not in the table)."""
        if self.autopilot is Autopilot.PX4:
            main, sub = px4_split_custom_mode(custom_mode)
            for name, (m, s) in PX4_MODES.items():
                if m == main and (s == sub or m != 4):
                    return name
            return f"unknown({main}.{sub})"
        for name, number in ARDUPILOT_MODES.items():
            if number == int(custom_mode) and name != "takeoff":
                return name
        return f"unknown({int(custom_mode)})"

    def is_offboard(self, custom_mode: int) -> bool:
        """True when the vehicle follows our SET_POSITION_TARGET stream (OFFBOARD / GUIDED)."""
        return self.mode_name(custom_mode) == "offboard"

    def is_hold(self, custom_mode: int) -> bool:
        """True in any mode that keeps the vehicle where it is (hold/loiter/brake)."""
        return self.mode_name(custom_mode) in ("hold", "brake", "position")
