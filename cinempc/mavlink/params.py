"""PARAM_VALUE / PARAM_SET's one float field, as the autopilot meant it.

MAVLink carries every parameter in a float32.  ArduPilot casts integers to it (``MAV_PROTOCOL_CAPABILITY_
PARAM_ENCODE_C_CAST``: ``FS_GCS_ENABLE`` 5 arrives as 5.0); PX4 copies the integer's bytes into it (``..._PARAM_
ENCODE_BYTEWISE``: ``NAV_DLL_ACT`` 2 arrives as the float whose bytes are int32 2, about 2.8e-45).  Reading a PX4
integer parameter as a plain float gives 0 for every small value -- "disabled" -- so a reader must decode by
``param_type``.  Why by autopilot and not AUTOPILOT_VERSION's capability bits: both stacks are fixed in this
choice, and preflight reads parameters before or without that message.
"""

from __future__ import annotations

import struct

# MAV_PARAM_TYPE -> struct format of the integer stored in the float's low bytes (little-endian)
_INTEGER_FORMATS = {1: "<B", 2: "<b", 3: "<H", 4: "<h", 5: "<I", 6: "<i"}


def decode_param_value(value: float, param_type: int, bytewise: bool) -> float:
    """The parameter's value: a bytewise-encoded integer type is read from the float's bytes, else the float.

    (A Python float round-trips a float32's bytes exactly, save a signalling-NaN pattern: integers near 2**31.)
    """
    fmt = _INTEGER_FORMATS.get(int(param_type))
    if not bytewise or fmt is None:
        return float(value)
    raw = struct.pack("<f", value)
    return float(struct.unpack(fmt, raw[: struct.calcsize(fmt)])[0])


def encode_param_value(value: float, param_type: int, bytewise: bool) -> float:
    """The float to send for ``value`` of ``param_type``: decode_param_value's inverse."""
    fmt = _INTEGER_FORMATS.get(int(param_type))
    if not bytewise or fmt is None:
        return float(value)
    raw = struct.pack(fmt, int(round(value))).ljust(4, b"\x00")
    return struct.unpack("<f", raw)[0]
