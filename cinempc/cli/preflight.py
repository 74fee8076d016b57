"""``cinempc preflight --site FIELD.yaml``: pass/fail with a reason for every check before the first arm."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``preflight`` sub-command."""
    parser = subparsers.add_parser(
        "preflight", help="check the autopilot, fence, rally point, failsafes, camera, lens, detector and "
        "setpoint stream before flying",
        description="Connects to the site's autopilot and checks: link and signing, mode and arming, home, our "
        "fence inside the autopilot's, its rally point is the site's (cinempc mavlink rally uploads it), its "
        "failsafes (link, offboard and RC loss, low battery) return or land and its Return goes to the site's rally "
        "point at an altitude inside the site's band, camera and gimbal, lens profile, detector on a test frame, "
        "setpoint stream rate (docs/first_flight.md).  Exit code 0 only when every check passes (a WARN line "
        "passes).",
    )
    parser.add_argument("--site", type=Path, required=True, help="the site file (FIELD.yaml)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--skip-detector", action="store_true", help="do not load the detector (link checks only)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cinempc.preflight import run_preflight
    from cinempc.site import load_site

    site = load_site(args.site)

    def show(result) -> None:
        if not args.json:
            print(result.line(), flush=True)

    report = run_preflight(site, detector=not args.skip_detector, on_result=show)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report.text().splitlines()[-1])
    if not report.passed:
        print("do not arm: fix every FAIL above and run preflight again", file=sys.stderr)
    return 0 if report.passed else 1
