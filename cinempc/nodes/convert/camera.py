"""Camera intrinsics and images <-> ``sensor_msgs`` (pinhole K at the current zoom; rgb8/bgr8 and 32FC1)."""

from __future__ import annotations

import math

import numpy as np
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from cinempc import optics
from cinempc.config import CameraProfile
from cinempc.nodes.convert.geometry import (
    CAMERA_FRAME,
    s_to_stamp,
)

# ------------------------------------------------------------------ camera


def camera_info_msg(camera: CameraProfile, focal_length_mm: float, time_s: float) -> CameraInfo:
    """Pinhole intrinsics at the current zoom (principal point at the centre, no distortion)."""
    k = optics.intrinsics_matrix(focal_length_mm * 1e-3, camera.sensor_width_m, camera.image_width_px,
                                 camera.image_height_px)
    p = np.zeros((3, 4))
    p[:, :3] = k
    return CameraInfo(
        header=Header(stamp=s_to_stamp(time_s), frame_id=CAMERA_FRAME),
        width=camera.image_width_px, height=camera.image_height_px, distortion_model="plumb_bob",
        d=[0.0] * 5, k=k.reshape(-1).tolist(), r=np.eye(3).reshape(-1).tolist(), p=p.reshape(-1).tolist(),
    )


def focal_length_mm_from_camera_info(msg: CameraInfo, camera: CameraProfile) -> float:
    """Focal length implied by a CameraInfo's fx for this camera's sensor (ValueError if implausible)."""
    fx = float(msg.k[0]) if len(msg.k) == 9 else math.nan
    if not (math.isfinite(fx) and fx > 0 and msg.width > 0):
        raise ValueError(f"camera info: fx must be positive and finite, got {fx}")
    return fx * camera.sensor_width_mm / float(msg.width)


def image_msg(rgb: np.ndarray, time_s: float) -> Image:
    """An HxWx3 uint8 RGB frame as ``rgb8``."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"image must be HxWx3, got shape {rgb.shape}")
    height, width = rgb.shape[:2]
    return Image(header=Header(stamp=s_to_stamp(time_s), frame_id=CAMERA_FRAME), height=height, width=width,
                 encoding="rgb8", is_bigendian=0, step=width * 3, data=rgb.tobytes())


def depth_msg(depth_m: np.ndarray, time_s: float) -> Image:
    depth = np.ascontiguousarray(depth_m, dtype=np.float32)
    height, width = depth.shape
    return Image(header=Header(stamp=s_to_stamp(time_s), frame_id=CAMERA_FRAME), height=height, width=width,
                 encoding="32FC1", is_bigendian=0, step=width * 4, data=depth.tobytes())


def image_from_msg(msg: Image) -> np.ndarray:
    """An ``rgb8``/``bgr8`` image as HxWx3 uint8 RGB; ValueError for empty or inconsistent images."""
    if msg.height == 0 or msg.width == 0:
        raise ValueError("image is empty (0 x 0)")
    if msg.encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"image encoding {msg.encoding!r} not supported (rgb8, bgr8)")
    if msg.step < msg.width * 3 or len(msg.data) < msg.step * msg.height:
        raise ValueError(f"image data too short: {len(msg.data)} bytes for {msg.height} rows of step {msg.step}")
    buffer = np.frombuffer(bytes(msg.data), dtype=np.uint8)[: msg.step * msg.height].reshape(msg.height, msg.step)
    image = buffer[:, : msg.width * 3].reshape(msg.height, msg.width, 3)
    return image[:, :, ::-1].copy() if msg.encoding == "bgr8" else image.copy()


def depth_from_msg(msg: Image) -> np.ndarray:
    if msg.height == 0 or msg.width == 0 or msg.encoding != "32FC1":
        raise ValueError(f"depth image must be non-empty 32FC1, got {msg.width}x{msg.height} {msg.encoding!r}")
    if len(msg.data) < msg.height * msg.width * 4:
        raise ValueError("depth image data too short")
    return np.frombuffer(bytes(msg.data), dtype=np.float32)[: msg.height * msg.width].reshape(msg.height, msg.width)
