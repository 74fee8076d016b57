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
    parser.add_argument("--focal-length-mm", type=float, help="focal length in mm (required unless --list-cameras)")
    parser.add_argument("--f-number", type=float, help="f-number, e.g. 2.8 (required unless --list-cameras)")
    parser.add_argument("--focus-distance-m", type=float, help="focus distance in m (required unless --list-cameras)")
    parser.add_argument("--coc-mm", type=float, help="circle of confusion (default: the camera's, else 0.03)")
    parser.add_argument("--camera", help="camera profile from config/cameras.yaml (focal length and f-number "
                        "must be within its lens's ranges; see --list-cameras)")
    parser.add_argument("--list-cameras", action="store_true", help="list the camera profiles of config/cameras.yaml")
    parser.add_argument("--subject-distance-m", type=float, help="also print the blur of a point at this distance")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def check_inputs(args: argparse.Namespace) -> None:
    """The three lens settings given, positive and finite, in the units they were typed in (mm, f-stops, m)."""
    given = (("--focal-length-mm", args.focal_length_mm, "millimetres"), ("--f-number", args.f_number, "f-stops"),
             ("--focus-distance-m", args.focus_distance_m, "metres"))
    missing = [flag for flag, value, _ in given if value is None]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}: the calculator needs all three lens settings "
                         "(or --list-cameras to see the camera profiles)")
    for flag, value, unit in given:
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{flag} must be a positive finite number of {unit}, got {value:g}")
    if args.focus_distance_m * 1e3 <= args.focal_length_mm:
        raise ValueError(f"--focus-distance-m {args.focus_distance_m:g} m is not beyond the focal length "
                         f"({args.focal_length_mm:g} mm): nothing can be focused that close")


def check_against_lens(profile, focal_length_mm: float, f_number: float) -> None:
    """Focal length and f-number within the chosen camera profile's lens ranges, else a ValueError that says both."""
    for flag, value, span, unit in (("--focal-length-mm", focal_length_mm, profile.focal_length_mm, " mm"),
                                    ("--f-number", f_number, profile.f_number, "")):
        if not span.min <= value <= span.max:
            prefix = "f/" if flag == "--f-number" else ""
            raise ValueError(f"{flag} {prefix}{value:g}{unit} is outside the {profile.name} lens's range "
                             f"{prefix}{span.min:g}{unit} to {prefix}{span.max:g}{unit}")


def camera_list() -> list[dict[str, object]]:
    """Every profile of config/cameras.yaml: name, description, sensor and lens ranges."""
    from cinempc.config import camera_profiles

    return [{"name": p.name, "description": p.description, "sensor_mm": [p.sensor_width_mm, p.sensor_height_mm],
             "image_px": [p.image_width_px, p.image_height_px],
             "focal_length_mm": [p.focal_length_mm.min, p.focal_length_mm.max],
             "f_number": [p.f_number.min, p.f_number.max],
             "focus_distance_m": [p.focus_distance_m.min, p.focus_distance_m.max], "coc_mm": p.coc_mm}
            for p in camera_profiles().values()]


def print_cameras(as_json: bool) -> None:
    """Print the camera profiles, one line each (or as JSON)."""
    cameras = camera_list()
    if as_json:
        print(json.dumps(cameras))
        return
    for c in cameras:
        (fmin, fmax), (nmin, nmax), (dmin, dmax) = c["focal_length_mm"], c["f_number"], c["focus_distance_m"]
        sensor = "x".join(f"{v:g}" for v in c["sensor_mm"])
        print(f"{c['name']:20s} {sensor:>12s} mm  {fmin:g}-{fmax:g} mm  f/{nmin:g}-f/{nmax:g}  "
              f"focus {dmin:g}-{dmax:g} m  CoC {c['coc_mm']:g} mm  {c['description']}")


def compute(args: argparse.Namespace) -> dict[str, float | None]:
    """The calculator's numbers for parsed arguments (also used by tests)."""
    from cinempc import optics
    from cinempc.config import load_camera_profile

    check_inputs(args)
    if args.camera:
        profile = load_camera_profile(args.camera)
        check_against_lens(profile, args.focal_length_mm, args.f_number)
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
    """Print the depth of field as text or JSON (or, with --list-cameras, the camera profiles)."""
    if getattr(args, "list_cameras", False):
        print_cameras(args.json)
        return 0
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
