"""The static world: textured ground, obstacles, props and a backdrop at a known distance.

Depth of field and zoom are only visible against things at many depths with
texture on them, so the world has a checkered ground, props scattered to the
horizon and a backdrop wall (a square of "tree line" walls around the scene at
``background_distance_m``).  Everything solid is built twice from one
description: as PyBullet collision + visual bodies and as
:class:`cinempc.state.Obstacle` primitives, so the MPC avoids exactly the
geometry the drone can hit.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pybullet as p

from cinempc.state import Obstacle
from cinempc_sim.scenario import ObstacleSpec, Scenario
from cinempc_sim.vehicle import GROUP_DRONE, GROUP_RAY, GROUP_WORLD

_TEXTURE_DIR = Path(tempfile.gettempdir()) / "cinempc_sim_textures"

DEFAULT_RGB = {
    "tree": (0.45, 0.3, 0.18), "pillar": (0.7, 0.7, 0.68), "cylinder": (0.6, 0.6, 0.62),
    "sphere": (0.3, 0.55, 0.3), "box": (0.65, 0.5, 0.35), "wall": (0.75, 0.72, 0.66),
}
CANOPY_RGB = (0.2, 0.5, 0.22)


def _texture(name: str, make) -> str:
    """Write a generated texture once per machine and return its path (TinyRenderer loads files only).

    Names carry a version: change the generator, bump the name, so a stale cached file is never used.
    """
    import cv2

    _TEXTURE_DIR.mkdir(parents=True, exist_ok=True)
    path = _TEXTURE_DIR / f"{name}.png"
    if not path.is_file():
        tmp = path.with_suffix(f".{np.random.default_rng().integers(1 << 30)}.png")
        cv2.imwrite(str(tmp), make()[:, :, ::-1])  # generated only when not cached
        tmp.replace(path)  # atomic: parallel simulators never read half a file
    return str(path)


def checker_texture(tiles: int, size_px: int = 512) -> np.ndarray:
    """Grass-coloured checkerboard with fine noise: defocus blur shows on every square."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:size_px, 0:size_px]
    board = (((yy * tiles) // size_px + (xx * tiles) // size_px) % 2).astype(np.float32)
    base = np.stack([0.32 + 0.12 * board, 0.48 + 0.12 * board, 0.25 + 0.06 * board], axis=-1)
    base += rng.normal(0.0, 0.03, size=(size_px, size_px, 1)).astype(np.float32)
    return (np.clip(base, 0, 1) * 255).astype(np.uint8)


def treeline_texture(size_px: int = 256) -> np.ndarray:
    """Vertical bands of greens and browns: a distant tree line / building row, textured for blur."""
    rng = np.random.default_rng(11)
    widths = rng.integers(4, 24, size=64)
    columns = []
    for w in widths:
        colour = rng.choice([(0.18, 0.35, 0.2), (0.28, 0.42, 0.22), (0.4, 0.35, 0.28), (0.55, 0.55, 0.5),
                             (0.22, 0.3, 0.18)])
        columns.extend([colour] * int(w))
    row = np.array(columns[:size_px], dtype=np.float32)
    image = np.repeat(row[None, :, :], size_px, axis=0)
    image *= 1.0 + rng.normal(0.0, 0.08, size=(size_px, size_px, 1)).astype(np.float32)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


@dataclass
class World:
    """Body ids of the static world and the obstacles the MPC is given."""

    ground: int
    bodies: list[int] = field(default_factory=list)
    obstacles: list[Obstacle] = field(default_factory=list)
    backdrop_half_size_m: float = 50.0
    backdrop_center_m: tuple[float, float] = (0.0, 0.0)

    def background_distance_m(self, position_m, yaw_rad: float, default_m: float) -> float:
        """Horizontal distance from ``position_m`` along heading ``yaw_rad`` to the backdrop wall."""
        dx, dy = math.cos(yaw_rad), math.sin(yaw_rad)
        rel = (position_m[0] - self.backdrop_center_m[0], position_m[1] - self.backdrop_center_m[1])
        best = math.inf
        for d, r in ((dx, rel[0]), (dy, rel[1])):
            if abs(d) > 1e-9:
                best = min(best, (math.copysign(self.backdrop_half_size_m, d) - r) / d)
        return best if math.isfinite(best) and best > 0 else default_m


def _static_body(client: int, shape: int, col_kwargs: dict, vis_kwargs: dict, position, rgb, texture=None) -> int:
    col = p.createCollisionShape(shape, physicsClientId=client, **col_kwargs)
    vis = p.createVisualShape(shape, rgbaColor=[*rgb, 1.0], physicsClientId=client, **vis_kwargs)
    body = p.createMultiBody(baseMass=0.0, baseCollisionShapeIndex=col, baseVisualShapeIndex=vis,
                             basePosition=list(position), physicsClientId=client)
    p.setCollisionFilterGroupMask(body, -1, GROUP_WORLD, GROUP_DRONE | GROUP_RAY, physicsClientId=client)
    if texture is not None:
        p.changeVisualShape(body, -1, textureUniqueId=texture, rgbaColor=[1, 1, 1, 1], physicsClientId=client)
    return body


def add_solid(client: int, spec: ObstacleSpec, world: World) -> None:
    """Build one obstacle/prop as PyBullet bodies and as Obstacle primitives."""
    x, y = spec.position_m
    z0 = spec.z_m
    rgb = spec.rgb or DEFAULT_RGB[spec.kind]
    name = spec.name or spec.kind
    if spec.kind in ("tree", "pillar", "cylinder"):
        r, h = spec.radius_m, spec.height_m
        world.bodies.append(_static_body(client, p.GEOM_CYLINDER, {"radius": r, "height": h},
                                         {"radius": r, "length": h}, (x, y, z0 + h / 2.0), rgb))
        world.obstacles.append(Obstacle("cylinder", (x, y, z0), radius_m=r, height_m=h, name=name))
        if spec.kind == "tree":
            canopy = spec.canopy_radius_m or max(1.2, 0.35 * h)
            centre = (x, y, z0 + h + 0.6 * canopy)
            world.bodies.append(_static_body(client, p.GEOM_SPHERE, {"radius": canopy}, {"radius": canopy},
                                             centre, CANOPY_RGB if spec.rgb is None else spec.rgb))
            world.obstacles.append(Obstacle("sphere", centre, radius_m=canopy, name=f"{name} canopy"))
    elif spec.kind == "sphere":
        r = spec.radius_m
        centre = (x, y, z0 + r)
        world.bodies.append(_static_body(client, p.GEOM_SPHERE, {"radius": r}, {"radius": r}, centre, rgb))
        world.obstacles.append(Obstacle("sphere", centre, radius_m=r, name=name))
    else:
        half = tuple(v / 2.0 for v in spec.size_m)
        centre = (x, y, z0 + half[2])
        world.bodies.append(_static_body(client, p.GEOM_BOX, {"halfExtents": half}, {"halfExtents": half}, centre,
                                         rgb))
        world.obstacles.append(Obstacle("box", centre, half_extents_m=half, name=name))


def _ground(client: int, half_size_m: float, tile_m: float, quads: int) -> int:
    """The ground: a box for collisions, a textured grid mesh for the camera.

    Why a grid: TinyRenderer interpolates texture coordinates without perspective
    correction, so one huge textured quad smears its checker near the horizon.  Many
    smaller quads with a repeating texture keep the squares square.
    """
    half = (half_size_m, half_size_m, 0.5)
    col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, collisionFramePosition=(0, 0, -0.5),
                                 physicsClientId=client)
    edges = np.linspace(-half_size_m, half_size_m, quads + 1)
    xs, ys = np.meshgrid(edges, edges, indexing="xy")
    vertices = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], axis=1)
    uvs = vertices[:, :2] / (2.0 * tile_m)  # the texture holds 2 x 2 squares and repeats
    indices = []
    n = quads + 1
    for j in range(quads):
        for i in range(quads):
            a, b, c, d = j * n + i, j * n + i + 1, (j + 1) * n + i + 1, (j + 1) * n + i
            indices += [a, b, c, a, c, d]
    vis = p.createVisualShape(p.GEOM_MESH, vertices=vertices.tolist(), indices=indices, uvs=uvs.tolist(),
                              normals=[[0.0, 0.0, 1.0]] * len(vertices), rgbaColor=[1, 1, 1, 1],
                              physicsClientId=client)
    body = p.createMultiBody(baseMass=0.0, baseCollisionShapeIndex=col, baseVisualShapeIndex=vis,
                             basePosition=(0.0, 0.0, 0.0), physicsClientId=client)
    p.setCollisionFilterGroupMask(body, -1, GROUP_WORLD, GROUP_DRONE | GROUP_RAY, physicsClientId=client)
    texture = p.loadTexture(_texture("ground_v2", lambda: checker_texture(2, 128)), physicsClientId=client)
    p.changeVisualShape(body, -1, textureUniqueId=texture, rgbaColor=[1, 1, 1, 1], physicsClientId=client)
    return body


def build_world(client: int, scenario: Scenario, renderer_params: dict) -> World:
    """Ground, obstacles, props and backdrop of a scenario in one PyBullet client."""
    half_size = max(150.0, 2.5 * scenario.background_distance_m)
    ground = _ground(client, half_size, float(renderer_params["ground_tile_m"]),
                     int(renderer_params["ground_grid_quads"]))
    world = World(ground=ground, backdrop_half_size_m=scenario.background_distance_m,
                  backdrop_center_m=tuple(scenario.background_center_m))
    for spec in list(scenario.obstacles) + list(scenario.props):
        add_solid(client, spec, world)
    # backdrop: four textured walls, axis-aligned so they are exact Obstacle boxes too
    r = scenario.background_distance_m
    cx, cy = scenario.background_center_m
    wall_h = max(8.0, 0.25 * r)
    backdrop_tex = p.loadTexture(_texture("treeline_v1", treeline_texture), physicsClientId=client)
    for sx, sy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        half = (1.0, r + 1.0, wall_h / 2.0) if sx else (r + 1.0, 1.0, wall_h / 2.0)
        centre = (cx + sx * (r + 1.0), cy + sy * (r + 1.0), wall_h / 2.0)
        world.bodies.append(_static_body(client, p.GEOM_BOX, {"halfExtents": half}, {"halfExtents": half}, centre,
                                         (0.3, 0.4, 0.3), texture=backdrop_tex))
        world.obstacles.append(Obstacle("box", centre, half_extents_m=half, name="backdrop"))
    return world
