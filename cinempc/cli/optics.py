"""``cinempc optics``: the depth-of-field calculator a camera assistant keeps open."""

from __future__ import annotations

import argparse
import json
import math


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``optics`` sub-command."""
    parser = subparsers.add_parser(
        "optics",
        help="depth-of-field calculator (hyperfocal, near/far limits, FOV, blur)",
        description="Thin-lens depth of field. Give --coc-mm or a --camera profile (which also sets the sensor "
        "for FOV and blur in pixels; without one a full-frame 36x24 mm sensor at 1920 px is assumed).",
    )
    parser.add_argument("--focal-length-mm", type=float, required=True)
    parser.add_argument("--f-number", type=float, required=True)
    parser.add_argument("--focus-distance-m", type=float, required=True)
    parser.add_argument("--coc-mm", type=float, help="circle of confusion (default: the camera's, else 0.03)")
    parser.add_argument("--camera", help="camera profile from config/cameras.yaml")
    parser.add_argument("--subject-distance-m", type=float, help="also print the blur of a point at this distance")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def compute(args: argparse.Namespace) -> dict[str, float | None]:
    """The calculator's numbers for parsed arguments (also used by tests)."""
    from cinempc import optics
    from cinempc.config import load_camera_profile

    if args.camera:
        profile = load_camera_profile(args.camera)
        sensor_w_mm, sensor_h_mm, width_px = profile.sensor_width_mm, profile.sensor_height_mm, profile.image_width_px
        coc_mm = args.coc_mm if args.coc_mm is not None else profile.coc_mm
    else:
        sensor_w_mm, sensor_h_mm, width_px = 36.0, 24.0, 1920
        coc_mm = args.coc_mm if args.coc_mm is not None else 0.03
    f_m = args.focal_length_mm * 1e-3
    dof = optics.depth_of_field(f_m, args.f_number, args.focus_distance_m, coc_mm * 1e-3)
    result: dict[str, float | None] = {
        "hyperfocal_m": dof.hyperfocal_m,
        "near_m": dof.near_m,
        "far_m": None if math.isinf(dof.far_m) else dof.far_m,
        "dof_m": None if math.isinf(dof.total_m) else dof.total_m,
        "hfov_deg": math.degrees(optics.field_of_view_rad(f_m, sensor_w_mm * 1e-3)),
        "vfov_deg": math.degrees(optics.field_of_view_rad(f_m, sensor_h_mm * 1e-3)),
        "coc_mm": coc_mm,
    }
    if args.subject_distance_m is not None:
        if not (math.isfinite(args.subject_distance_m) and args.subject_distance_m > f_m):
            raise ValueError("--subject-distance-m must be a finite distance beyond the focal length")
        pixel_pitch_m = sensor_w_mm * 1e-3 / width_px
        result["blur_px"] = float(
            optics.blur_circle_px(f_m, args.f_number, args.focus_distance_m, args.subject_distance_m, pixel_pitch_m)
        )
    return result


def run(args: argparse.Namespace) -> int:
    """Print the depth of field as text or JSON."""
    result = compute(args)
    if args.json:
        print(json.dumps(result))
        return 0

    def metres(value: float | None) -> str:
        return "infinity" if value is None else f"{value:.2f} m"

    print(f"{args.focal_length_mm:g} mm  f/{args.f_number:g}  focused at {args.focus_distance_m:g} m"
          f"  (CoC {result['coc_mm']:g} mm)")
    print(f"  hyperfocal  {metres(result['hyperfocal_m'])}")
    print(f"  near        {metres(result['near_m'])}")
    print(f"  far         {metres(result['far_m'])}")
    print(f"  total DoF   {metres(result['dof_m'])}")
    print(f"  FOV         {result['hfov_deg']:.1f} x {result['vfov_deg']:.1f} deg")
    if "blur_px" in result:
        print(f"  blur at {args.subject_distance_m:g} m: {result['blur_px']:.1f} px")
    return 0
