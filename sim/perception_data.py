"""Random labelled scenes for training and evaluating the person detector.

Why our own scenes and not the evaluation scenarios: a detector trained on the
scenarios it is scored on learns those scenarios.  Here every scene is drawn
from a seed: ground colour and checker texture (squares of 0.5-10 m on a grid
mesh, built the way the simulator builds its ground), sky, light direction and
strength, props (boxes, pillars, trees) that partially hide people, 0..N
articulated actors (the simulator's own :class:`~cinempc_sim.actors.ActorBody`
with random heights, builds, clothes, gaits and gait phases), a camera placed
at 1.5-15 m height and 3-30 m from a chosen actor with a random zoom and
framing, and a random focus distance and iris whose depth-of-field blur is
rendered from the depth buffer with the thin-lens blur circle of
:mod:`cinempc.optics` -- so the detector sees soft, out-of-focus people as the
MPC's lens choices produce them.

Labels come from PyBullet's segmentation mask (the tight box of each actor's
visible pixels), never from projected geometry, so occlusion and truncation at
the image border are labelled as they look.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pybullet as p

from cinempc import optics
from cinempc.config import CameraProfile, load_parameters
from cinempc_sim.actors import ActorBody, GaitParams
from cinempc_sim.scenario import ActorSpec, ScriptStep

__all__ = ["LabelledImage", "SceneRenderer", "mask_box", "render_blur", "scenario_views", "scripted_sequence"]

NEAR_M, FAR_M = 0.05, 400.0


@dataclass
class LabelledImage:
    """One rendered image with its labels (pixel boxes ``x1 y1 x2 y2``, one per visible actor)."""

    rgb: np.ndarray
    depth_m: np.ndarray
    segmentation: np.ndarray  # actor index per pixel, -1 elsewhere
    boxes_xyxy: np.ndarray
    actor_ids: list[int] = field(default_factory=list)
    focal_length_mm: float = 35.0
    focus_distance_m: float = 5.0
    f_number: float = 4.0
    camera_position_m: np.ndarray | None = None
    yaw_rad: float = 0.0
    pitch_rad: float = 0.0
    feet_m: dict[int, np.ndarray] = field(default_factory=dict)  # actor index -> ground truth feet point


def mask_box(mask: np.ndarray) -> np.ndarray | None:
    """Tight pixel box ``[x1, y1, x2, y2]`` (x2, y2 exclusive edges) of a boolean mask, None if empty."""
    rows, cols = np.any(mask, axis=1), np.any(mask, axis=0)
    if not rows.any():
        return None
    y1, y2 = np.flatnonzero(rows)[[0, -1]]
    x1, x2 = np.flatnonzero(cols)[[0, -1]]
    return np.array([x1, y1, x2 + 1, y2 + 1], dtype=float)


def _disc(diameter_px: float) -> np.ndarray:
    radius = max(diameter_px / 2.0, 0.5)
    size = int(math.ceil(radius)) * 2 + 1
    yy, xx = np.mgrid[:size, :size] - size // 2
    kernel = (xx**2 + yy**2 <= radius**2).astype(np.float32)
    return kernel / kernel.sum()


def render_blur(rgb: np.ndarray, blur_px: np.ndarray,
                layers_px=(0.0, 1.0, 2.0, 3.5, 6.0, 10.0, 16.0, 24.0)) -> np.ndarray:
    """Layered defocus: each pixel takes the image blurred by the disc nearest its blur-circle diameter.

    The same idea as the simulator's renderer (discs of fixed diameters, picked per
    pixel), good enough to teach the detector what soft people look like.
    """
    out = rgb.astype(np.float32)
    result = out.copy()
    layers = np.asarray(layers_px, dtype=float)
    index = np.abs(blur_px[..., None] - layers[None, None, :]).argmin(axis=2)
    for i, diameter in enumerate(layers):
        if diameter < 1.0:
            continue
        where = index == i
        if not where.any():
            continue
        blurred = cv2.filter2D(out, -1, _disc(diameter), borderType=cv2.BORDER_REFLECT)
        result[where] = blurred[where]
    return np.clip(result, 0, 255).astype(np.uint8)


def _gait_params() -> GaitParams:
    actors = load_parameters("sim.yaml")["actors"]
    return GaitParams(**{k: float(actors[k]) for k in GaitParams.__dataclass_fields__})


def _checker_texture(path: Path, rng: np.random.Generator) -> Path:
    """Two-by-two checker squares with noise, grass-like more often than not (sand, asphalt, snow, dirt else).

    The texture repeats over the ground mesh (see :func:`_grid_ground`), one repeat
    every two squares, exactly as the simulator's own ground is built.
    """
    size = 128
    yy, xx = np.mgrid[0:size, 0:size]
    board = ((yy // (size // 2) + xx // (size // 2)) % 2).astype(np.float32)[..., None]
    if rng.random() < 0.6:
        base = rng.uniform([0.25, 0.4, 0.15], [0.45, 0.6, 0.35])  # grass
    else:
        base = rng.uniform(0.2, 0.7, 3)  # sand, asphalt, snow, dirt
    contrast = rng.uniform(0.0, 0.15, 3)
    image = base + contrast * board + rng.normal(0.0, rng.uniform(0.0, 0.05), (size, size, 1))
    cv2.imwrite(str(path), (np.clip(image, 0, 1) * 255).astype(np.uint8)[..., ::-1])
    return path


def _grid_ground(client: int, texture: int | None, rgba, tile_m: float, half_size_m: float = 200.0,
                 quads: int = 24) -> int:
    """The ground as a grid mesh with a repeating texture, as the simulator builds its own.

    Why a mesh and not one big textured box: TinyRenderer maps textures affinely per
    triangle, so one huge quad smears its squares towards the horizon.  A detector that
    only ever saw smeared ground reads the simulator's crisp, perspective-correct
    squares (long straight edges converging to the horizon) as people.
    """
    edges = np.linspace(-half_size_m, half_size_m, quads + 1)
    xs, ys = np.meshgrid(edges, edges, indexing="xy")
    vertices = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], axis=1)
    uvs = vertices[:, :2] / (2.0 * tile_m)
    n = quads + 1
    indices = []
    for j in range(quads):
        for i in range(quads):
            a, b, c, d = j * n + i, j * n + i + 1, (j + 1) * n + i + 1, (j + 1) * n + i
            indices += [a, b, c, a, c, d]
    vis = p.createVisualShape(p.GEOM_MESH, vertices=vertices.tolist(), indices=indices, uvs=uvs.tolist(),
                              normals=[[0.0, 0.0, 1.0]] * len(vertices), rgbaColor=list(rgba),
                              physicsClientId=client)
    body = p.createMultiBody(baseMass=0.0, baseVisualShapeIndex=vis, physicsClientId=client)
    if texture is not None:
        p.changeVisualShape(body, -1, textureUniqueId=texture, rgbaColor=[1, 1, 1, 1], physicsClientId=client)
    return body


def _band_texture(path: Path, rng: np.random.Generator) -> Path:
    """Vertical bands of random greens, browns and greys: a distant tree line or row of buildings."""
    palette = rng.uniform([0.1, 0.15, 0.1], [0.6, 0.6, 0.55], (6, 3))
    columns: list[np.ndarray] = []
    while len(columns) < 256:
        columns.extend([palette[rng.integers(len(palette))]] * int(rng.integers(3, 30)))
    image = np.repeat(np.array(columns[:256], dtype=np.float32)[None], 256, axis=0)
    image *= 1.0 + rng.normal(0.0, 0.08, (256, 256, 1)).astype(np.float32)
    cv2.imwrite(str(path), (np.clip(image, 0, 1) * 255).astype(np.uint8)[..., ::-1])
    return path


class SceneRenderer:
    """A PyBullet DIRECT world that builds random scenes and renders labelled views of them."""

    def __init__(self, camera: CameraProfile, image_size: tuple[int, int] = (320, 240),
                 texture_dir: Path | None = None, max_actors: int = 4,
                 subject_distance_m: tuple[float, float] = (3.0, 30.0),
                 camera_height_m: tuple[float, float] = (1.5, 15.0), min_box_pixels: int = 30,
                 subject_fraction: tuple[float, float] = (0.15, 0.9), small_subject_share: float = 0.0,
                 small_subject_fraction: tuple[float, float] = (0.06, 0.15)) -> None:
        self.camera = camera
        self.width, self.height = int(image_size[0]), int(image_size[1])
        self.client = p.connect(p.DIRECT)
        self.gait = _gait_params()
        self.texture_dir = Path(texture_dir) if texture_dir else None
        self.max_actors = int(max_actors)
        self.subject_distance_m = subject_distance_m
        self.camera_height_m = camera_height_m
        self.min_box_pixels = int(min_box_pixels)
        self.subject_fraction = subject_fraction
        self.small_subject_share = float(small_subject_share)
        self.small_subject_fraction = small_subject_fraction
        self.actors: list[ActorBody] = []
        self._scene_time_s = 0.0
        self._light: dict = {}

    def close(self) -> None:
        if self.client is not None and p.isConnected(self.client):
            p.disconnect(self.client)
        self.client = None

    def __enter__(self) -> SceneRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ scenes
    def new_scene(self, rng: np.random.Generator) -> None:
        """Clear the world and build a fresh random one."""
        c = self.client
        p.resetSimulation(physicsClientId=c)
        if self.texture_dir is not None:
            self.texture_dir.mkdir(parents=True, exist_ok=True)
        ground_rgb = [*rng.uniform(0.2, 0.75, 3), 1.0]
        texture = None
        if self.texture_dir is not None and rng.random() < 0.8:
            texture = p.loadTexture(str(_checker_texture(self.texture_dir / f"ground_{c}.png", rng)),
                                    physicsClientId=c)
        _grid_ground(c, texture, ground_rgb, tile_m=float(math.exp(rng.uniform(math.log(0.5), math.log(10.0)))))
        if rng.random() < 0.75:
            self._add_backdrop(rng)
        self.actors = []
        n_actors = int(rng.integers(1, self.max_actors + 1)) if self.max_actors else 0
        for i in range(n_actors):
            start = rng.uniform(-6, 6, 2)
            goal = start + rng.uniform(-15, 15, 2)
            spec = ActorSpec(
                name=f"a{i}", track_id=i + 1, height_m=float(rng.uniform(1.5, 1.95)),
                build=float(rng.uniform(0.8, 1.3)), shirt_rgb=tuple(rng.uniform(0, 1, 3)),
                trousers_rgb=tuple(rng.uniform(0, 0.8, 3)), skin_rgb=tuple(rng.uniform([0.3, 0.2, 0.1],
                                                                                       [0.95, 0.8, 0.7])),
                start_m=tuple(start), start_heading_deg=float(rng.uniform(-180, 180)),
                script=[ScriptStep(to=tuple(goal), speed_mps=float(rng.choice([0.0, 1.0, 1.4, 2.0, 3.5, 5.0]) or 1.4)),
                        ScriptStep(pause_s=2.0)],
            )
            self.actors.append(ActorBody(c, spec, self.gait))
        for _ in range(int(rng.integers(0, 12))):
            self._add_prop(rng)
        self._scene_time_s = 0.0
        self._light = dict(
            lightDirection=[*rng.uniform(-1, 1, 2), float(rng.uniform(0.3, 1.2))],
            lightColor=list(rng.uniform(0.85, 1.0, 3)), lightAmbientCoeff=float(rng.uniform(0.35, 0.75)),
            lightDiffuseCoeff=float(rng.uniform(0.3, 0.7)), lightSpecularCoeff=float(rng.uniform(0.0, 0.15)),
        )
        self._sky = rng.uniform([120, 150, 180], [210, 230, 255])

    def build_scene(self, actors: list[ActorSpec], boxes: list[tuple[tuple[float, float, float],
                                                                       tuple[float, float, float]]] = (),
                    ground_rgb=(0.45, 0.5, 0.35), sky_rgb=(170, 200, 235)) -> None:
        """A scripted scene: these actors, these box occluders ``(centre_m, half_extents_m)``, fixed light."""
        c = self.client
        p.resetSimulation(physicsClientId=c)
        p.createMultiBody(
            baseVisualShapeIndex=p.createVisualShape(p.GEOM_BOX, halfExtents=[200, 200, 0.05],
                                                     rgbaColor=[*ground_rgb, 1.0], physicsClientId=c),
            basePosition=[0, 0, -0.05], physicsClientId=c)
        for centre, half in boxes:
            vis = p.createVisualShape(p.GEOM_BOX, halfExtents=list(half), rgbaColor=[0.35, 0.3, 0.3, 1],
                                      physicsClientId=c)
            p.createMultiBody(baseVisualShapeIndex=vis, basePosition=list(centre), physicsClientId=c)
        self.actors = [ActorBody(c, spec, self.gait) for spec in actors]
        self._light = dict(lightDirection=[0.4, -0.3, 1.0], lightColor=[1, 1, 1], lightAmbientCoeff=0.55,
                           lightDiffuseCoeff=0.5, lightSpecularCoeff=0.05)
        self._sky = np.asarray(sky_rgb, dtype=float)

    def pose_actors(self, time_s: float) -> None:
        """Move every actor to where its script has it at ``time_s``."""
        self._scene_time_s = float(time_s)
        for actor in self.actors:
            actor.update(self._scene_time_s)

    def _add_backdrop(self, rng: np.random.Generator) -> None:
        """A square of walls around the scene (tree line / buildings), like the simulator's backdrop."""
        c = self.client
        r = float(rng.uniform(15.0, 80.0))
        wall_h = max(6.0, float(rng.uniform(0.1, 0.3)) * r)
        rgb = [*rng.uniform(0.2, 0.6, 3), 1.0]
        texture = None
        if self.texture_dir is not None:
            texture = p.loadTexture(str(_band_texture(self.texture_dir / f"band_{c}.png", rng)), physicsClientId=c)
        for sx, sy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            half = (1.0, r + 1.0, wall_h / 2.0) if sx else (r + 1.0, 1.0, wall_h / 2.0)
            vis = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=rgb, physicsClientId=c)
            body = p.createMultiBody(baseVisualShapeIndex=vis, basePosition=(sx * (r + 1.0), sy * (r + 1.0),
                                                                             wall_h / 2.0), physicsClientId=c)
            if texture is not None:
                p.changeVisualShape(body, -1, textureUniqueId=texture, rgbaColor=[1, 1, 1, 1], physicsClientId=c)

    def _add_prop(self, rng: np.random.Generator) -> None:
        c = self.client
        centre = rng.uniform(-20, 20, 2)
        rgb = [*rng.uniform(0.1, 0.9, 3), 1.0]
        kind = rng.integers(0, 4)
        if kind == 0:  # box / wall / car-sized block
            half = rng.uniform([0.2, 0.2, 0.2], [2.5, 2.5, 1.6])
            vis = p.createVisualShape(p.GEOM_BOX, halfExtents=half.tolist(), rgbaColor=rgb, physicsClientId=c)
            p.createMultiBody(baseVisualShapeIndex=vis, basePosition=[*centre, half[2]],
                              baseOrientation=p.getQuaternionFromEuler([0, 0, rng.uniform(0, math.pi)]),
                              physicsClientId=c)
        elif kind == 1:  # pillar / post
            radius, height = rng.uniform(0.1, 0.6), rng.uniform(1.0, 6.0)
            vis = p.createVisualShape(p.GEOM_CYLINDER, radius=radius, length=height, rgbaColor=rgb,
                                      physicsClientId=c)
            p.createMultiBody(baseVisualShapeIndex=vis, basePosition=[*centre, height / 2], physicsClientId=c)
        elif kind == 2:  # ball / boulder
            radius = rng.uniform(0.2, 1.0)
            vis = p.createVisualShape(p.GEOM_SPHERE, radius=radius, rgbaColor=rgb, physicsClientId=c)
            p.createMultiBody(baseVisualShapeIndex=vis, basePosition=[*centre, radius * rng.uniform(0.5, 2.5)],
                              physicsClientId=c)
        else:  # tree: trunk + crown
            height = rng.uniform(2.0, 6.0)
            trunk = p.createVisualShape(p.GEOM_CYLINDER, radius=0.15, length=height,
                                        rgbaColor=[0.4, 0.28, 0.15, 1], physicsClientId=c)
            crown = p.createVisualShape(p.GEOM_SPHERE, radius=rng.uniform(0.8, 2.0),
                                        rgbaColor=[*rng.uniform([0.05, 0.3, 0.05], [0.3, 0.6, 0.25]), 1],
                                        physicsClientId=c)
            p.createMultiBody(baseVisualShapeIndex=trunk, basePosition=[*centre, height / 2], physicsClientId=c)
            p.createMultiBody(baseVisualShapeIndex=crown, basePosition=[*centre, height], physicsClientId=c)

    # ------------------------------------------------------------------ views
    def random_view(self, rng: np.random.Generator) -> LabelledImage:
        """Pose the actors at a random instant and render a random framing of one of them."""
        self._scene_time_s = float(rng.uniform(0.0, 8.0))
        for actor in self.actors:
            actor.update(self._scene_time_s)
        if self.actors:
            target = self.actors[int(rng.integers(len(self.actors)))]
            aim = np.array([*target.pose.position_m[:2], 0.0])
            subject_h = target.spec.height_m
        else:
            aim = np.array([*rng.uniform(-10, 10, 2), 0.0])
            subject_h = 1.75
        lo, hi = self.subject_distance_m
        distance = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        small_fraction = None
        if self.small_subject_share > 0 and rng.random() < self.small_subject_share:
            # a small framing needs distance: even the widest lens frames a person 3 m away at half the image
            small_fraction = float(rng.uniform(*self.small_subject_fraction))
            widest_px = self.camera.focal_length_mm.min * self.width / self.camera.sensor_width_mm
            near = min(hi, subject_h * widest_px / (small_fraction * self.height))
            distance = float(math.exp(rng.uniform(math.log(max(lo, near)), math.log(hi))))
        low, high = self.camera_height_m
        # half the views from a low drone (how the evaluation scenarios fly), half from higher up
        cam_h = float(rng.uniform(low, min(high, low + 2.5))) if rng.random() < 0.5 else float(rng.uniform(low, high))
        cam_h = min(cam_h, max(1.5, 0.9 * distance))  # no straight-down views from 3 m away
        bearing = float(rng.uniform(-math.pi, math.pi))
        horizontal = math.sqrt(max(distance**2 - (cam_h - subject_h / 2) ** 2, 1.0))
        position = aim + np.array([horizontal * math.cos(bearing), horizontal * math.sin(bearing), 0.0])
        position[2] = cam_h
        # framing: the subject fills subject_fraction of the image height (a share of views: small), within the
        # zoom range (no extra draws without a small share: older dataset versions render as they did)
        fraction = small_fraction if small_fraction is not None else float(rng.uniform(*self.subject_fraction))
        focal_px = fraction * self.height * distance / subject_h
        focal_mm = self.camera.focal_length_mm.clamp(focal_px * self.camera.sensor_width_mm / self.width)
        focal_px = focal_mm * self.width / self.camera.sensor_width_mm
        # aim at the middle of the body, then shift so the subject is not always centred
        mid = aim + np.array([0.0, 0.0, subject_h / 2])
        rel = mid - position
        yaw = math.atan2(rel[1], rel[0])
        pitch = math.atan2(rel[2], math.hypot(rel[0], rel[1]))
        half_h_fov = math.atan(self.width / 2 / focal_px)
        half_v_fov = math.atan(self.height / 2 / focal_px)
        yaw += float(rng.uniform(-0.8, 0.8)) * half_h_fov
        pitch += float(rng.uniform(-0.7, 0.7)) * half_v_fov
        f_number = float(np.exp(rng.uniform(math.log(self.camera.f_number.min), math.log(8.0))))
        focus = distance * float(np.exp(rng.normal(0.0, 0.35))) if rng.random() < 0.6 else distance
        focus = self.camera.focus_distance_m.clamp(max(focus, focal_mm * 1e-3 * 1.5))
        return self.render(position, yaw, pitch, focal_mm, focus, f_number, rng)

    def render(self, position_m, yaw_rad: float, pitch_rad: float, focal_length_mm: float,
               focus_distance_m: float, f_number: float, rng: np.random.Generator | None = None) -> LabelledImage:
        """Render one view with depth-of-field blur; labels from the segmentation mask."""
        c, w, h = self.client, self.width, self.height
        position = np.asarray(position_m, dtype=float)
        focal_px = focal_length_mm * w / self.camera.sensor_width_mm
        _, down, forward = (np.asarray(a, dtype=float) for a in optics.camera_axes(yaw_rad, pitch_rad))
        view = p.computeViewMatrix(position.tolist(), (position + forward).tolist(), (-down).tolist())
        fov_v_deg = math.degrees(2 * math.atan(h / 2 / focal_px))
        proj = p.computeProjectionMatrixFOV(fov_v_deg, w / h, NEAR_M, FAR_M)
        _, _, rgba, depth_buffer, seg = p.getCameraImage(
            w, h, view, proj, renderer=p.ER_TINY_RENDERER, shadow=0, physicsClientId=c, **self._light)
        rgba = np.asarray(rgba, dtype=np.uint8).reshape(h, w, 4)
        zbuf = np.asarray(depth_buffer, dtype=np.float64).reshape(h, w)
        depth = FAR_M * NEAR_M / (FAR_M - (FAR_M - NEAR_M) * zbuf)
        seg = np.asarray(seg, dtype=np.int64).reshape(h, w)
        rgb = rgba[..., :3].copy()
        sky = seg < 0
        if sky.any() and hasattr(self, "_sky"):
            rgb[sky] = self._sky.astype(np.uint8)
            depth[sky] = FAR_M
        blur = optics.blur_circle_px(focal_length_mm * 1e-3, f_number, focus_distance_m, np.maximum(depth, 0.1),
                                     self.camera.sensor_width_m / w)
        rgb = render_blur(rgb, np.minimum(blur, 24.0))
        if rng is not None:
            gain = rng.uniform(0.8, 1.2)
            noise = rng.normal(0, rng.uniform(0, 4), rgb.shape)
            rgb = np.clip(rgb.astype(np.float32) * gain + noise, 0, 255).astype(np.uint8)
        labels = np.full((h, w), -1, dtype=np.int64)
        boxes, ids, feet = [], [], {}
        for index, actor in enumerate(self.actors):
            mask = seg == actor.body
            labels[mask] = index
            feet[index] = np.array([*actor.pose.position_m[:2], 0.0])
            if mask.sum() < self.min_box_pixels:
                continue
            box = mask_box(mask)
            if box is None or box[3] - box[1] < 4 or box[2] - box[0] < 2:
                continue
            boxes.append(box)
            ids.append(index)
        return LabelledImage(
            rgb=rgb, depth_m=depth.astype(np.float32), segmentation=labels,
            boxes_xyxy=np.array(boxes, dtype=float).reshape(-1, 4), actor_ids=ids,
            focal_length_mm=float(focal_length_mm), focus_distance_m=float(focus_distance_m), f_number=f_number,
            camera_position_m=position, yaw_rad=float(yaw_rad), pitch_rad=float(pitch_rad), feet_m=feet,
        )


def scripted_sequence(camera: CameraProfile, actors: list[ActorSpec], camera_position_m, *, duration_s: float,
                      rate_hz: float = 10.0, boxes=(), focal_length_mm: float = 35.0, f_number: float = 4.0,
                      look_at_m=None, image_size: tuple[int, int] = (320, 240)):
    """Render a scripted shot from a fixed camera aimed at ``look_at_m``; yields ``(time_s, LabelledImage)``.

    The actors' ground-truth feet points and visible boxes come with every frame
    (actor index = position in ``actors``), for tracking tests and the benchmark.
    """
    position = np.asarray(camera_position_m, dtype=float)
    target = np.asarray(look_at_m if look_at_m is not None else [*actors[0].start_m, 0.9], dtype=float)
    rel = target - position
    yaw = math.atan2(rel[1], rel[0])
    pitch = math.atan2(rel[2], math.hypot(rel[0], rel[1]))
    with SceneRenderer(camera, image_size, min_box_pixels=20) as renderer:
        renderer.build_scene(actors, list(boxes))
        for k in range(int(round(duration_s * rate_hz)) + 1):
            t = k / rate_hz
            renderer.pose_actors(t)
            target_distance = float(np.linalg.norm(rel))
            yield t, renderer.render(position, yaw, pitch, focal_length_mm, max(target_distance, 1.0), f_number)


def scenario_views(scenario, count: int, rng: np.random.Generator, *, image_size: tuple[int, int] = (320, 240),
                   distance_m: tuple[float, float] = (4.0, 25.0), camera_height_m: tuple[float, float] = (1.5, 8.0),
                   subject_fraction: tuple[float, float] = (0.2, 0.8), min_box_pixels: int = 30):
    """Labelled views of an evaluation scenario's own world, from the simulator's own camera renderer.

    For measuring only -- the detector is never trained on these worlds.  Each view
    picks an instant and an actor, puts the camera ``distance_m`` away at a random
    bearing and height, aims at the actor's middle and zooms so it fills
    ``subject_fraction`` of the image height (within the lens range), focused on it.
    Yields ``(rgb, boxes_xyxy)``: boxes are the segmentation masks' tight boxes of
    every actor with at least ``min_box_pixels`` visible pixels.
    """
    from cinempc_sim.closed_loop import prepare_run

    setup = prepare_run(scenario, None, None, image_size=image_size, render=True)
    sim, camera = setup.sim, setup.camera
    width, height = image_size
    try:
        for _ in range(int(count)):
            t = float(rng.uniform(0.0, setup.duration_s))
            for actor in sim.actors:
                actor.update(t)
            target = sim.actors[int(rng.integers(len(sim.actors)))]
            aim = np.array([*target.pose.position_m[:2], target.spec.height_m / 2.0])
            distance = float(math.exp(rng.uniform(math.log(distance_m[0]), math.log(distance_m[1]))))
            bearing = float(rng.uniform(-math.pi, math.pi))
            position = aim + np.array([distance * math.cos(bearing), distance * math.sin(bearing), 0.0])
            position[2] = float(rng.uniform(*camera_height_m))
            rel = aim - position
            yaw = math.atan2(rel[1], rel[0])
            pitch = math.atan2(rel[2], math.hypot(rel[0], rel[1]))
            range_m = float(np.linalg.norm(rel))
            focal_px = float(rng.uniform(*subject_fraction)) * height * range_m / target.spec.height_m
            focal_mm = camera.focal_length_mm.clamp(focal_px * camera.sensor_width_mm / width)
            frame = sim.camera.render(position, yaw, pitch, focal_mm, camera.focus_distance_m.clamp(range_m), 4.0, t)
            boxes = []
            for track_id in np.unique(frame.segmentation):
                mask = frame.segmentation == track_id
                if track_id >= 0 and mask.sum() >= min_box_pixels:
                    boxes.append(mask_box(mask))
            yield frame.rgb, np.array(boxes, dtype=float).reshape(-1, 4)
    finally:
        sim.close()


class PerceivingController:
    """Wraps a controller so it sees subjects through the camera and the perception pipeline.

    The closed loop keeps grading against ground truth (it hands ground-truth
    subjects to ``solve``); this wrapper throws them away except to play the
    operator who points each named person out on the tablet's map once, at the
    first frame (``point_out``: where they stand, give or take ``tap_sigma_m`` per
    axis), renders the camera frame and gives the wrapped controller what
    perception made of it.  ``frames`` counts perception frames, ``lost_events``
    every subject reported lost.

    ``scenario_refs``: the shot flown is written against the scenario (its ``#N`` are the
    scenario's track IDs, :func:`operator_shot`).  A live director run clears it once the
    director sends a shot: the tablet shows perception's IDs, so a director's ``#N`` is one.
    """

    def __init__(self, inner, sim, pipeline, use_depth: bool = True, tap_sigma_m: float = 0.5,
                 seed: int = 0) -> None:
        self.inner = inner
        self.sim = sim
        self.pipeline = pipeline
        self.use_depth = use_depth
        self.tap_sigma_m = float(tap_sigma_m)
        self._taps = np.random.default_rng(seed)
        self._pointed_out: set[str] = set()
        self.frames = 0
        self.lost_events: list[tuple[float, str]] = []
        self.last_subjects: list = []
        self.last_frame = None  # the frame of the latest solve: the closed loop shows it rather than drawing it again
        self.scenario_refs = True

    @property
    def horizon_steps(self) -> int:
        return self.inner.horizon_steps

    @property
    def dt_s(self) -> float:
        return self.inner.dt_s

    def reset(self) -> None:
        self.inner.reset()

    def perceive(self, state, truth) -> list:
        frame = self.last_frame = self.sim.render()
        for subject in truth:
            if subject.name and subject.name.lower() not in self._pointed_out:
                self._pointed_out.add(subject.name.lower())
                tap_m = np.asarray(subject.positions_m[0], float)[:2] + self._taps.normal(0.0, self.tap_sigma_m, 2)
                self.pipeline.point_out(subject.name, tap_m, float(frame.time_s))
        subjects = self.pipeline.process_frame(frame, state, self.inner.horizon_steps, self.inner.dt_s,
                                               use_depth=self.use_depth)
        self.frames += 1
        self.lost_events += [(float(frame.time_s), name) for name in self.pipeline.lost]
        self.last_subjects = subjects
        return subjects

    def solve(self, state, shot, subjects, obstacles, shot_time_s, background_distance_m=None):
        perceived = self.perceive(state, subjects)
        flown = operator_shot(shot, subjects) if self.scenario_refs else shot
        return self.inner.solve(state, flown, perceived, obstacles, shot_time_s, background_distance_m)


def operator_shot(shot, truth):
    """The shot with the scenario's ``#N`` references replaced by the names of those people.

    A shot written against the simulator says ``rack_to: "#2"``; ``#2`` is the
    scenario's track ID, while perception numbers people in the order its tracker
    met them.  The operator who taps each person once (``point_out``) knows that
    ``#2`` is ``far``, so the perceiving controller flies the shot by name; the
    grading keeps the original shot and the ground truth.
    """
    names = {f"#{s.track_id}": s.name.lower() for s in truth if getattr(s, "name", None)}
    if not names:
        return shot

    def ref(value):
        return names.get(value.strip().lower(), value) if isinstance(value, str) else value

    focus = shot.focus.model_copy(update={"target": ref(shot.focus.target), "rack_to": ref(shot.focus.rack_to)})
    return shot.model_copy(update={"subjects": [ref(r) for r in shot.subjects], "focus": focus})


def run_scenario_with_perception(scenario, *, backend: str = "ultralytics", duration_s: float | None = None,
                                 controller: str = "cinempc", seed: int = 0, use_depth: bool = True,
                                 image_size: tuple[int, int] = (320, 240)):
    """Fly a scenario's default shot with subjects from perception; metrics graded on ground truth.

    Returns ``(RunResult, PerceivingController)``.  Mirrors
    :func:`cinempc_sim.closed_loop.run_scenario` (lock-step MPC, no video) so the two
    runs differ only in where the controller's subjects come from.
    """
    from cinempc.perception.pipeline import PerceptionPipeline
    from cinempc_sim.closed_loop import ClosedLoop, prepare_run

    setup = prepare_run(scenario, None, duration_s, seed=seed, image_size=image_size, render=True)
    scenario, shot, duration, settings = setup.scenario, setup.shot, setup.duration_s, setup.settings
    camera, vehicle, sim = setup.camera, setup.vehicle, setup.sim
    inner = setup.make_controller(controller)
    wrapped = PerceivingController(inner, sim, PerceptionPipeline.from_config(camera, backend), use_depth,
                                   seed=seed)
    loop = ClosedLoop(sim, wrapped, shot, camera, vehicle, controller_name=f"{controller}+perception",
                      scenario_name=scenario.name, settings=settings, render=False)
    try:
        result = loop.run(duration)
    finally:
        sim.close()
    return result, wrapped
