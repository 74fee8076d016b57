"""Evidence of a run: the camera video with a HUD, plots, the trajectory log, metrics, an HTML report.

A run directory holds::

    camera.mp4        the rendered shot, HUD: shot, focal length, focus distance, f-number,
                      a depth-of-field bar with the subjects' distances on it
    metrics.json      exactly cinempc_sim.metrics.METRIC_KEYS, from ground truth
    plots.png         composition error, DoF limits against subject distances, lens, speed
    trajectory.csv    one row per control step
    run.json          what ran: scenario, shot, controller, seed, solver statuses
    report.html       video + plots + metrics beside the baselines (when they were run)

Drawing uses OpenCV (HUD) and Matplotlib's Agg backend (plots); the video is H.264 through
imageio-ffmpeg, which every browser plays inline.
"""

from __future__ import annotations

import csv
import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cinempc_sim.closed_loop import RunResult, StepEvent
from cinempc_sim.metrics import METRIC_KEYS

# Display colours for subjects on the HUD and the plots (BGR-free: RGB tuples, 0..255).
SUBJECT_COLOURS = [(255, 90, 60), (60, 170, 255), (120, 220, 80), (240, 200, 40), (220, 100, 220), (80, 230, 220)]

# Which way each metric is better, for the report's highlighting.
LOWER_IS_BETTER = {
    "composition_error_rms", "size_error_mean", "subject_blur_px_p95", "jerk_rms", "collisions",
    "solve_ms_p50", "solve_ms_p95", "angle_error_deg_mean", "side_error_deg_mean",
}
HIGHER_IS_BETTER = {"in_focus_fraction", "visible_fraction", "real_time_factor"}


# ----------------------------------------------------------------------------------- HUD


def _shot_label(event: StepEvent) -> str:
    shot = event.shot
    name = shot.name or "custom"
    return f"{name}: {shot.framing} {shot.movement.type}"


def _dof_x(distance_m: float, x0: int, x1: int, near_m: float = 0.5, far_m: float = 120.0) -> int:
    """Log-scale position of a distance on the DoF bar (0.5 m .. 120 m, clamped)."""
    d = min(max(distance_m, near_m), far_m)
    return int(round(x0 + (x1 - x0) * math.log(d / near_m) / math.log(far_m / near_m)))


def draw_hud(rgb: np.ndarray, event: StepEvent) -> np.ndarray:
    """The frame with a small camera-assistant HUD burnt in (returns a new array)."""
    import cv2

    image = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8).copy()
    height, width = image.shape[:2]
    state = event.state
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.33 * width / 320

    def text(line: str, x: int, y: int, colour=(255, 255, 255)) -> None:
        cv2.putText(image, line, (x, y), font, scale, colour, 1, cv2.LINE_AA)

    # Darkened bands under the text lines and the DoF bar keep the HUD legible on any picture.
    for top, bottom in ((0, int(39 * width / 320)), (height - int(36 * width / 320), height)):
        image[top:bottom] = (image[top:bottom].astype(np.uint16) * 2 // 5).astype(np.uint8)
    text(_shot_label(event), 4, 11)
    text(f"{state.focal_length_mm:.0f}mm  f/{state.f_number:.1f}  focus {state.focus_distance_m:.1f}m", 4, 23)
    text(f"t {event.time_s:5.1f}s  {event.status}", 4, 35, (200, 200, 200))
    if event.status.startswith("hold") or "error" in event.status or "fallback" in event.status:
        text("HOLD" if event.status.startswith("hold") else event.status.upper(), width - 70, 11, (255, 80, 80))

    # Composition target: where the shot wants the head top on the centre line.
    grade = event.grade
    if math.isfinite(grade.u_fraction):
        u, v = int(grade.u_fraction * width), int(grade.v_head_fraction * height)
        cv2.drawMarker(image, (u, v), (255, 255, 0), cv2.MARKER_TILTED_CROSS, 6, 1)

    # Depth-of-field bar: log distance axis, sharp zone shaded, focus mark, subjects as ticks.
    x0, x1, y = 8, width - 8, height - 12
    cv2.rectangle(image, (x0, y - 4), (x1, y + 4), (40, 40, 40), -1)
    near_x = _dof_x(grade.near_m, x0, x1)
    far_x = _dof_x(grade.far_m if math.isfinite(grade.far_m) else 1e9, x0, x1)
    cv2.rectangle(image, (near_x, y - 4), (far_x, y + 4), (90, 200, 90), -1)
    focus_x = _dof_x(state.focus_distance_m, x0, x1)
    cv2.line(image, (focus_x, y - 7), (focus_x, y + 7), (255, 255, 255), 1)
    for i, (name, depth) in enumerate(event.subject_depths_m.items()):
        if depth <= 0:
            continue
        colour = SUBJECT_COLOURS[i % len(SUBJECT_COLOURS)]
        sx = _dof_x(depth, x0, x1)
        cv2.circle(image, (sx, y), 3, colour, -1)
        text(f"{name} {depth:.1f}m", min(sx, width - 60), y - 8 - 9 * (i % 2), colour)
    for mark in (1, 2, 5, 10, 20, 50, 100):
        mx = _dof_x(mark, x0, x1)
        cv2.line(image, (mx, y + 4), (mx, y + 6), (220, 220, 220), 1)
    return image


class CameraVideo:
    """An ``on_step`` hook that writes every rendered frame, HUD burnt in, to an MP4 file."""

    def __init__(self, path: str | Path, fps: int = 10) -> None:
        self.path = Path(path)
        self.fps = fps
        self.frames = 0
        self._writer = None

    def __call__(self, event: StepEvent) -> None:
        if event.frame is None:
            return
        if self._writer is None:
            import imageio.v2 as imageio

            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = imageio.get_writer(
                self.path, fps=self.fps, codec="libx264", quality=7, pixelformat="yuv420p", macro_block_size=8,
                ffmpeg_log_level="error",
            )
        self._writer.append_data(draw_hud(event.frame.rgb, event))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


# --------------------------------------------------------------------------- tables


def _subject_label(track) -> str:
    """A subject's column prefix in trajectory.csv: its name, else ``subject<track id>``."""
    return f"subject_{track.name}" if getattr(track, "name", "") else f"subject{track.track_id}"


def trajectory_rows(result: RunResult) -> list[dict[str, Any]]:
    """One flat dictionary per control step (the CSV rows): rig, setpoint, grade and every subject's position."""
    names = sorted({name for event in result.events for name in event.subject_depths_m})
    subject_labels = sorted({_subject_label(track) for event in result.events for track in event.subjects})
    rows = []
    for e in result.events:
        s, sp, g = e.state, e.setpoint, e.grade
        row: dict[str, Any] = {
            "t_s": e.time_s, "shot_t_s": e.shot_time_s, "shot": e.shot.name or "custom", "status": e.status,
            "x_m": s.position_m[0], "y_m": s.position_m[1], "z_m": s.position_m[2],
            "vx_mps": s.velocity_mps[0], "vy_mps": s.velocity_mps[1], "vz_mps": s.velocity_mps[2],
            "ax_mps2": s.acceleration_mps2[0], "ay_mps2": s.acceleration_mps2[1], "az_mps2": s.acceleration_mps2[2],
            "speed_mps": float(np.linalg.norm(s.velocity_mps)),
            "yaw_rad": s.yaw_rad, "pitch_rad": s.pitch_rad, "focal_length_mm": s.focal_length_mm,
            "focus_distance_m": s.focus_distance_m, "f_number": s.f_number,
            "sp_x_m": sp.position_m[0], "sp_y_m": sp.position_m[1], "sp_z_m": sp.position_m[2],
            "sp_yaw_rad": sp.yaw_rad, "sp_pitch_rad": sp.pitch_rad, "sp_focal_length_mm": sp.focal_length_mm,
            "sp_focus_distance_m": sp.focus_distance_m, "sp_f_number": sp.f_number, "sp_hold": int(sp.hold),
            "solve_ms": e.solve_ms, "composition_error": g.composition_error, "size_error": g.size_error,
            "in_focus": int(g.in_focus), "visible": int(g.visible),
            "subject_blur_px": g.subject_blur_px if math.isfinite(g.subject_blur_px) else "",
            "background_blur_px": g.background_blur_px if math.isfinite(g.background_blur_px) else "",
            "dof_near_m": g.near_m, "dof_far_m": g.far_m if math.isfinite(g.far_m) else "",
            "nearest_subject_m": e.nearest_subject_m,
            "nearest_obstacle_m": e.nearest_obstacle_m if math.isfinite(e.nearest_obstacle_m) else "",
            "collisions": e.collisions,
        }
        row["angle_error_deg"] = g.angle_error_deg if math.isfinite(g.angle_error_deg) else ""
        row["side_error_deg"] = g.side_error_deg if math.isfinite(g.side_error_deg) else ""
        for name in names:
            row[f"depth_{name}_m"] = e.subject_depths_m.get(name, "")
        positions = {_subject_label(track): track.positions_m[0] for track in e.subjects}
        for label in subject_labels:
            where = positions.get(label)
            for axis, value in zip("xyz", where if where is not None else ("", "", ""), strict=True):
                row[f"{label}_{axis}_m"] = value if value == "" else float(value)
        rows.append(row)
    return rows


def write_trajectory_csv(result: RunResult, path: str | Path) -> Path:
    path = Path(path)
    rows = trajectory_rows(result)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["t_s"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return path


def write_metrics_json(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """``metrics.json``: exactly the metric keys, in their documented order."""
    if tuple(metrics) != METRIC_KEYS:
        raise ValueError(f"metrics must have exactly the keys {METRIC_KEYS}, got {tuple(metrics)}")
    path = Path(path)
    path.write_text(json.dumps(dict(metrics), indent=2) + "\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- plots


def write_plots(result: RunResult, path: str | Path) -> Path:
    """``plots.png``: composition error, DoF limits vs subject distances, lens settings, speed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    events = result.events
    t = np.array([e.time_s for e in events])
    fig, axes = plt.subplots(4, 1, figsize=(9, 11), sharex=True, constrained_layout=True)
    fig.suptitle(f"{result.scenario} / {result.shot.name or 'custom shot'} / {result.controller}")

    ax = axes[0]
    ax.plot(t, [e.grade.composition_error for e in events], label="composition error (image widths)")
    ax.plot(t, [abs(e.grade.size_error) for e in events], label="|size error| (relative)", alpha=0.7)
    ax.axhline(0.05, color="grey", ls="--", lw=0.8, label="0.05")
    ax.set_ylim(0, max(0.3, min(1.0, float(np.nanmax([e.grade.composition_error for e in events] or [0]) * 1.1))))
    ax.set_ylabel("error")
    ax.legend(loc="upper right", fontsize=8)

    ax = axes[1]
    near = np.array([e.grade.near_m for e in events])
    far = np.array([e.grade.far_m if math.isfinite(e.grade.far_m) else np.nan for e in events])
    ax.fill_between(t, near, np.where(np.isnan(far), 200.0, far), color="tab:green", alpha=0.2, label="depth of field")
    ax.plot(t, [e.state.focus_distance_m for e in events], color="k", lw=1, label="focus distance")
    names = sorted({name for e in events for name in e.subject_depths_m})
    for i, name in enumerate(names):
        colour = np.array(SUBJECT_COLOURS[i % len(SUBJECT_COLOURS)]) / 255
        depth = [e.subject_depths_m.get(name, np.nan) for e in events]
        ax.plot(t, np.where(np.array(depth) > 0, depth, np.nan), color=colour, label=f"{name} (eyes)")
    ax.set_yscale("log")
    ax.set_ylim(0.5, 200)
    ax.set_ylabel("distance (m)")
    ax.legend(loc="upper right", fontsize=8, ncol=2)

    ax = axes[2]
    ax.plot(t, [e.state.focal_length_mm for e in events], color="tab:blue", label="focal length (mm)")
    ax.set_ylabel("focal length (mm)", color="tab:blue")
    twin = ax.twinx()
    f_numbers = [e.state.f_number for e in events]
    twin.plot(t, f_numbers, color="tab:orange", label="f-number")
    twin.set_ylabel("f-number", color="tab:orange")
    # a held iris is a flat line at its f-number, not micro-stops around an offset ("1e-6 + 5.59999")
    twin.ticklabel_format(axis="y", useOffset=False)
    if f_numbers and max(f_numbers) - min(f_numbers) < 0.5:
        middle = 0.5 * (max(f_numbers) + min(f_numbers))
        twin.set_ylim(middle - 0.5, middle + 0.5)

    ax = axes[3]
    ax.plot(t, [float(np.linalg.norm(e.state.velocity_mps)) for e in events], label="drone speed (m/s)")
    ax.plot(t, [e.nearest_subject_m for e in events], label="nearest subject (m)", alpha=0.7)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("m/s, m")
    ax.legend(loc="upper right", fontsize=8)
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------ run dir


def write_run(result: RunResult, out_dir: str | Path, extra: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write metrics.json, trajectory.csv, plots.png and run.json of one run into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    info = {
        "scenario": result.scenario, "controller": result.controller, "shot": json.loads(result.shot.to_json()),
        "steps": len(result.events), "wall_time_s": result.wall_time_s, "statuses": result.statuses,
        "camera_profile": result.camera.name, **(extra or {}),
    }
    (out / "run.json").write_text(json.dumps(info, indent=2, default=str) + "\n", encoding="utf-8")
    return {
        "metrics": write_metrics_json(result.metrics, out / "metrics.json"),
        "trajectory": write_trajectory_csv(result, out / "trajectory.csv"),
        "plots": write_plots(result, out / "plots.png"),
    }


def _format(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


def write_report_html(
    out_dir: str | Path, runs: Mapping[str, Mapping[str, Any]], main: str = "cinempc",
    links: Mapping[str, str] | None = None, title: str = "cinempc run",
) -> Path:
    """``report.html``: the main run's video and plots, and every run's metrics side by side.

    ``runs`` maps a controller name to its metrics; ``links`` optionally maps it to its own
    run directory (relative to ``out_dir``) for the baselines' videos and plots.
    """
    out = Path(out_dir)
    names = [main] + [name for name in runs if name != main]
    header = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = []
    for key in METRIC_KEYS:
        values = [runs[n].get(key) for n in names]
        numeric = [v for v in values if isinstance(v, (int, float)) and v is not None]
        best = None
        if numeric and key in LOWER_IS_BETTER:
            best = min(numeric)
        elif numeric and key in HIGHER_IS_BETTER:
            best = max(numeric)
        cells = "".join(
            f"<td class='{'best' if best is not None and v == best else ''}'>{_format(v)}</td>" for v in values
        )
        rows.append(f"<tr><th>{key}</th>{cells}</tr>")
    baseline_links = "".join(
        f"<li><a href='{html.escape(href)}/camera.mp4'>{html.escape(n)} video</a> · "
        f"<a href='{html.escape(href)}/plots.png'>plots</a></li>"
        for n, href in (links or {}).items()
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; background: #111; color: #eee; }}
table {{ border-collapse: collapse; margin: 1em 0; }} th, td {{ padding: 4px 10px; border-bottom: 1px solid #333; }}
td {{ text-align: right; font-variant-numeric: tabular-nums; }} td.best {{ color: #7f7; font-weight: bold; }}
a {{ color: #8cf; }} .media {{ display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }}
video {{ width: 640px; max-width: 100%; background: #000; }} img {{ max-width: 640px; background: #fff; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<div class="media">
<video src="camera.mp4" controls autoplay loop muted playsinline></video>
<img src="plots.png" alt="composition error, depth of field, lens and speed over time">
</div>
<h2>Metrics (ground truth)</h2>
<table><tr><th>metric</th>{header}</tr>
{''.join(rows)}
</table>
<ul>{baseline_links}</ul>
<p>Green: best of the controllers. composition_error_rms is in image widths; quality numbers skip the
acquisition transient (config/closed_loop.yaml metrics.settle_time_s); distances and collisions cover the whole run.</p>
</body></html>
"""
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def comparison_rows(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Flatten ``{scenario, controller, metrics}`` records into table rows (evaluation)."""
    return [{"scenario": r["scenario"], "controller": r["controller"], **r["metrics"]} for r in results]
