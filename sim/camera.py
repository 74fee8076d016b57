"""The cinema camera: render at the current focal length's field of view, then defocus.

PyBullet's TinyRenderer (CPU, no GL needed, runs in CI) draws a pinhole image
with the vertical field of view the current focal length gives on the sensor,
so zooming changes the picture exactly as :mod:`cinempc.optics` predicts.  The
pinhole image is sharp everywhere; depth of field is added afterwards from the
depth buffer: every pixel's blur-circle diameter comes from
:func:`cinempc.optics.blur_circle_px` (the same thin-lens formula the MPC
optimises), the image is blurred with disc kernels of a few diameters (layered
defocus), and each pixel is interpolated between the two layers around its own
blur diameter.  That ignores partial occlusion at depth edges (a blurred
foreground does not bleed over a sharp subject), which is the usual trade-off of
layered defocus and irrelevant for measuring focus on a subject.

The segmentation mask maps PyBullet body ids to actor track ids (-1 elsewhere),
which is the ground truth for visibility and composition metrics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pybullet as p

from cinempc import optics
from cinempc.config import CameraProfile


@dataclass(frozen=True)
class Frame:
    """One rendered camera frame with its ground truth."""

    rgb: np.ndarray  # (H, W, 3) uint8, with depth-of-field blur
    depth_m: np.ndarray  # (H, W) float32, optical-axis depth; far clip where there is only sky
    segmentation: np.ndarray  # (H, W) int32 actor track id per pixel, -1 elsewhere
    time_s: float
    focal_length_mm: float
    focus_distance_m: float
    f_number: float
    blur_px: np.ndarray | None = None  # (H, W) float32 blur-circle diameter the DoF pass applied


@lru_cache(maxsize=64)
def disc_kernel(diameter_px: float) -> np.ndarray:
    """Normalised anti-aliased disc (the aperture's image) of a given diameter in pixels."""
    radius = diameter_px / 2.0
    size = int(math.ceil(radius)) * 2 + 1
    c = size // 2
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) - c
    # coverage of each pixel by the disc, approximated with a 1-pixel soft edge
    kernel = np.clip(radius + 0.5 - np.sqrt(xx * xx + yy * yy), 0.0, 1.0)
    return (kernel / kernel.sum()).astype(np.float32)


def apply_depth_of_field(rgb: np.ndarray, blur_px: np.ndarray, layers_px: list[float]) -> np.ndarray:
    """Layered defocus: blur with discs of ``layers_px`` diameters, interpolate per pixel by ``blur_px``."""
    import cv2

    layers_px = sorted(float(d) for d in layers_px)
    needed = float(np.max(blur_px)) if blur_px.size else 0.0
    used = [d for d in layers_px if d <= needed]
    used += [d for d in layers_px if d > needed][:1]  # one layer above the largest blur in the frame
    if len(used) < 2:
        return rgb
    src = rgb.astype(np.float32)
    stack = np.empty((len(used),) + rgb.shape, dtype=np.float32)
    for i, d in enumerate(used):
        stack[i] = src if d <= 1.0 else cv2.filter2D(src, -1, disc_kernel(d), borderType=cv2.BORDER_REFLECT)
    if used[0] == 0.0 and used[1] == 1.0:
        # a 1-px blur circle is "just sharp" in a pinhole render: keep layer 1 identical to layer 0
        pass
    diam = np.clip(blur_px, used[0], used[-1]).astype(np.float32)
    levels = np.asarray(used, dtype=np.float32)
    hi = np.clip(np.searchsorted(levels, diam, side="right"), 1, len(used) - 1)
    lo = hi - 1
    w = ((diam - levels[lo]) / (levels[hi] - levels[lo]))[..., None]
    rows, cols = np.indices(blur_px.shape)
    out = stack[lo, rows, cols] * (1.0 - w) + stack[hi, rows, cols] * w
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


class CameraRenderer:
    """Renders one PyBullet client through the cinema lens."""

    def __init__(self, client: int, profile: CameraProfile, params: dict, segmentation_lut: dict[int, int]) -> None:
        self.client = client
        self.profile = profile  # already at the render resolution (square pixels)
        self.params = params
        self.near_m = float(params["near_clip_m"])
        self.far_m = float(params["far_clip_m"])
        self.sky_rgb = np.asarray(params["sky_rgb"], dtype=np.uint8)
        self.max_blur_px = float(params["max_blur_px"])
        self.layers_px = [float(d) for d in params["blur_layers_px"]]
        size = max(segmentation_lut, default=0) + 2
        self._lut = np.full(size, -1, dtype=np.int32)
        for body, track in segmentation_lut.items():
            self._lut[body + 1] = track

    def render(self, position_m, yaw_rad: float, pitch_rad: float, focal_length_mm: float, focus_distance_m: float,
               f_number: float, time_s: float, depth_of_field: bool = True) -> Frame:
        """One frame from a camera at ``position_m`` looking along (yaw, pitch) with these lens settings."""
        prof = self.profile
        w, h = prof.image_width_px, prof.image_height_px
        right, down, forward = (np.asarray(a, dtype=float) for a in optics.camera_axes(yaw_rad, pitch_rad))
        eye = np.asarray(position_m, dtype=float)
        view = p.computeViewMatrix(eye.tolist(), (eye + forward).tolist(), (-down).tolist())
        f_m = focal_length_mm * 1e-3
        vfov_deg = math.degrees(optics.field_of_view_rad(f_m, prof.sensor_height_m))
        proj = p.computeProjectionMatrixFOV(vfov_deg, w / h, self.near_m, self.far_m)
        rp = self.params
        _, _, rgba, depth_buffer, seg = p.getCameraImage(
            w, h, view, proj, renderer=p.ER_TINY_RENDERER, shadow=int(bool(rp["shadows"])),
            lightDirection=list(rp["light_direction"]), lightAmbientCoeff=float(rp["ambient"]),
            lightDiffuseCoeff=float(rp["diffuse"]), lightSpecularCoeff=float(rp["specular"]),
            physicsClientId=self.client,
        )
        rgb = np.asarray(rgba, dtype=np.uint8).reshape(h, w, 4)[:, :, :3].copy()
        seg = np.asarray(seg, dtype=np.int32).reshape(h, w)
        zbuf = np.asarray(depth_buffer, dtype=np.float32).reshape(h, w)
        depth = (self.far_m * self.near_m / (self.far_m - (self.far_m - self.near_m) * zbuf)).astype(np.float32)
        sky = seg < 0
        depth[sky] = self.far_m
        rgb[sky] = self.sky_rgb
        track = self._lut[np.clip(seg, -1, len(self._lut) - 2) + 1]
        blur = None
        if depth_of_field:
            blur = optics.blur_circle_px(f_m, f_number, focus_distance_m, np.maximum(depth, f_m * 1.01),
                                         prof.pixel_pitch_m).astype(np.float32)
            blur = np.minimum(blur, self.max_blur_px)
            rgb = apply_depth_of_field(rgb, blur, self.layers_px)
        return Frame(rgb=rgb, depth_m=depth, segmentation=track, time_s=time_s, focal_length_mm=focal_length_mm,
                     focus_distance_m=focus_distance_m, f_number=f_number, blur_px=blur)
