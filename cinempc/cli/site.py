"""``cinempc site check FIELD.yaml``: validate a site file, print what it resolves to, draw the fence."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``site`` sub-command."""
    parser = subparsers.add_parser(
        "site", help="site files: check one (resolved values and a plot of the fence)",
        description="A site file is one YAML outside the repository that overlays config/ for a flying field: "
        "GPS geofence polygon + altitude band, camera profile, MAVLink URL and signing key, detector weights, "
        "hold mode (example: examples/site_field.yaml; docs/first_flight.md).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="validate, print the resolved values, draw the fence on a PNG")
    check.add_argument("site", type=Path, help="the site file (FIELD.yaml)")
    check.add_argument("--plot", type=Path, help="PNG to draw the fence on (default: FIELD.png next to the file)")
    check.add_argument("--home", metavar="LAT,LON,ALT",
                       help="anchor the fence here (default: the site's home, else the polygon's centre; the "
                       "autopilot's own home replaces it at preflight)")
    check.set_defaults(func=run_check)


def parse_home(text: str):
    """``LAT,LON,ALT`` (degrees, degrees, metres AMSL) -> Home."""
    from cinempc.site import Home

    parts = text.split(",")
    try:
        lat, lon, alt = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"--home {text!r}: expected LAT,LON,ALT in degrees, degrees, metres") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"--home {text!r}: latitude must be in [-90, 90] and longitude in [-180, 180]")
    return Home(lat, lon, alt)


def run_check(args: argparse.Namespace) -> int:
    import yaml

    from cinempc.site import Home, load_site, plot_site, provisional_home, resolve_site

    site = load_site(args.site)
    if args.home:
        home, anchor = parse_home(args.home), "--home"
    elif site.home is not None:
        home, anchor = Home.from_site(site.home), "the site's home"
    else:
        home, anchor = provisional_home(site), "the polygon's centre (no home in the site file)"
    resolved = resolve_site(site, home)
    problems = []
    if not resolved.fence.contains(home.local_enu_m[:2]):
        problems.append(f"home ({home.lat_deg:.6f}, {home.lon_deg:.6f}) is outside the geofence polygon")
    key = site.mavlink.signing_key
    if key is not None:
        from cinempc.mavlink.signing import SigningKeyError, load_signing_key

        try:
            load_signing_key(key)
        except SigningKeyError as exc:
            problems.append(str(exc))
    elif site.mavlink.require_signing:
        problems.append("mavlink.signing_key is missing while mavlink.require_signing is true")
    params = site.perception_params()
    from cinempc.perception import resolve_weights

    try:
        resolve_weights(params.onnx_weights if params.backend == "onnx" else params.weights)
    except FileNotFoundError as exc:
        problems.append(str(exc))
    if site.perception.test_frame is not None and not site.perception.test_frame.expanduser().is_file():
        problems.append(f"perception.test_frame {site.perception.test_frame} does not exist")
    summary = resolved.summary()
    summary["anchored_at"] = anchor
    print(yaml.safe_dump(summary, sort_keys=False, default_flow_style=None, width=110), end="")
    plot = args.plot or args.site.with_suffix(".png")
    plot_site(resolved, plot)
    print(f"wrote {plot}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print(f"site {args.site}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 0 if not problems else 1
