"""``cinempc sim``: fly one shot in the PyBullet simulator and write the evidence.

Subjects come from simulator ground truth, or with ``--perception yolo`` from the camera image
through the perception pipeline (live with ``--director`` too).  The run
writes DIR/camera.mp4, metrics.json, plots.png, trajectory.csv, run.json and report.html;
``--compare`` also flies the two baselines (``extrinsics_only``, ``follow``) into
DIR/baselines/<name>/ and puts their metrics beside this run's in report.html.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

CONTROLLER_CHOICES = ("cinempc", "extrinsics_only", "follow")


class ProgressBar:
    """A one-line text progress bar on stderr (silent when disabled)."""

    def __init__(self, label: str = "", enabled: bool = True, width: int = 30) -> None:
        self.label, self.enabled, self.width = label, enabled, width
        self.start = time.monotonic()
        self._last = -1.0

    def __call__(self, fraction: float, label: str | None = None) -> None:
        if not self.enabled:
            return
        fraction = min(max(fraction, 0.0), 1.0)
        if (fraction - self._last < 0.01 and fraction < 1.0) or self._last >= 1.0:
            return
        self._last = fraction
        filled = int(round(self.width * fraction))
        elapsed = time.monotonic() - self.start
        text = label if label is not None else self.label
        sys.stderr.write(f"\r{text[:40]:<40} [{'#' * filled}{'.' * (self.width - filled)}] "
                         f"{100 * fraction:5.1f}% {elapsed:6.1f}s")
        if fraction >= 1.0:
            sys.stderr.write("\n")
        sys.stderr.flush()


def resolve_scenario_path(ref: str) -> Path:
    """A scenario file path, or the name of one in sim/scenarios/."""
    path = Path(ref)
    if path.is_file():
        return path
    from cinempc_sim.scenario import SCENARIO_DIR

    for candidate in (SCENARIO_DIR / ref, SCENARIO_DIR / f"{ref}.yaml"):
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
    raise FileNotFoundError(f"scenario {ref!r} not found (a file, or one of: {', '.join(known) or 'none'})")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sim`` sub-command."""
    parser = subparsers.add_parser(
        "sim", help="fly a shot in the simulator; write video, metrics, plots, trajectory and a report",
        description="Closed loop in the PyBullet simulator with ground-truth subjects. SHOT is a preset name from "
        "config/shots.yaml or a ShotSpec JSON/YAML file; the default is the scenario's default_shot.",
    )
    parser.add_argument("--scenario", required=True, help="scenario YAML file or name in sim/scenarios/")
    parser.add_argument("--shot", help="preset name, ShotSpec JSON/YAML file, or a `cinempc parse --json` answer "
                        "with one shot (default: the scenario's)")
    parser.add_argument("--controller", choices=CONTROLLER_CHOICES, default="cinempc")
    parser.add_argument("--duration", type=float, help="seconds of simulated time (default: shot, else scenario)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--headless", action="store_true",
                        help="no live output (no progress bar); the simulator itself always renders offscreen")
    parser.add_argument("--seed", type=int, default=0, help="wind-gust seed")
    parser.add_argument("--compare", action="store_true", help="also fly both baselines and compare in report.html")
    parser.add_argument("--no-video", action="store_true", help="skip camera.mp4 (metrics never need frames)")
    parser.add_argument("--solver", choices=("fast", "reference"), default="fast", help="MPC solver")
    parser.add_argument("--real-time", action="store_true",
                        help="keep the MPC's wall-clock deadline (late solves fly the shifted plan, as in flight); "
                        "default: lockstep, the simulated world waits for the controller")
    parser.add_argument("--via-mavlink", choices=("px4", "ardupilot"),
                        help="fly the controller over real MAVLink bytes on loopback UDP through the simulated "
                        "PX4/ArduPilot autopilot (the hardware path; see docs/hardware.md)")
    parser.add_argument("--perception", choices=("groundtruth", "yolo"), default="groundtruth",
                        help="where the controller's subjects come from: simulator ground truth, or the camera "
                        "image through the shipped YOLO detector, tracker and 3D estimator (metrics are always "
                        "graded on ground truth; with yolo and without --director: the scenario's default "
                        "shot, no video)")
    director = parser.add_argument_group("director tablet app (live run, steered from a browser)")
    director.add_argument("--director", action="store_true",
                          help="fly in real time, steered from the director web app, until Ctrl-C or --duration")
    director.add_argument("--director-host", help="bind address (default: config/director.yaml, loopback)")
    director.add_argument("--director-port", type=int, help="TCP port (default: config/director.yaml)")
    director.add_argument("--director-token", help="pairing token (default: a fresh random one, printed)")
    parser.set_defaults(func=run)


def wrote_line(out: Path, names: list[str], started_s: float) -> str:
    """``wrote DIR/a, b, c``: only the files of ``names`` this run really wrote (a file older than the run is not)."""
    written = [name for name in names if (out / name).is_file() and (out / name).stat().st_mtime >= started_s - 1.0]
    if not written:
        return f"wrote nothing to {out}"
    return f"wrote {out}/{written[0]}" + "".join(f", {name}" for name in written[1:])


def run_files(video: bool, report: bool = True) -> list[str]:
    """The files a run folder gets: camera.mp4 only with video, report.html only from a reported run."""
    return (["camera.mp4"] if video else []) + ["metrics.json", "plots.png", "trajectory.csv", "run.json"] + (
        ["report.html"] if report else [])


def fly_and_report(scenario_ref: str, shot: Any, controller: str, duration: float | None, out: Path,
                   seed: int = 0, compare: bool = False, video: bool = True, solver: str = "fast",
                   show_progress: bool = True, lockstep: bool = True, via_mavlink: str | None = None) -> dict:
    """Run ``controller`` (and the baselines with ``compare``) and write the run folder(s) + report.html."""
    from cinempc_sim.closed_loop import run_scenario
    from cinempc_sim.report import write_report_html
    from cinempc_sim.scenario import load_scenario

    scenario = load_scenario(resolve_scenario_path(scenario_ref))
    out.mkdir(parents=True, exist_ok=True)
    names = [controller] + ([c for c in CONTROLLER_CHOICES if c != controller] if compare else [])
    metrics: dict[str, dict] = {}
    links: dict[str, str] = {}
    for name in names:
        target = out if name == controller else out / "baselines" / name
        bar = ProgressBar(f"{scenario.name}: {name}", enabled=show_progress)
        runner = run_scenario
        if via_mavlink and name == controller:
            from functools import partial

            from cinempc_sim.autopilot_link import run_scenario_via_mavlink

            runner = partial(run_scenario_via_mavlink, flavour=via_mavlink)
        result = runner(scenario, shot, name, duration, seed=seed, out_dir=target, video=video, solver=solver,
                        lockstep=lockstep, progress=bar)
        bar(1.0)
        metrics[name] = result.metrics
        if name != controller:
            links[name] = f"baselines/{name}"
    title = f"{scenario.name}: {result.shot.name or 'custom shot'}"
    write_report_html(out, metrics, main=controller, links=links, title=title)
    return metrics


def unknown_actors_message(shot: Any, scenario: Any) -> str | None:
    """Which subject references of the shot no actor of the scene carries, naming the actors (None: all known).

    A reference is an actor's name, ``#<track id>`` or ``all`` (cinempc.state.SubjectState.matches); the subjects,
    the focus target and the rack target are checked (cinempc_sim.scene_generator.shot_references).
    """
    from cinempc_sim.scene_generator import shot_references

    known = {"all"} | {actor.name for actor in scenario.actors} | {f"#{actor.track_id}" for actor in scenario.actors}
    unknown = [ref for ref in dict.fromkeys(shot_references(shot)) if ref not in known]
    if not unknown:
        return None
    one = len(unknown) == 1
    actors = ", ".join(f"'{actor.name}' (#{actor.track_id})" for actor in scenario.actors)
    return (f"shot subject{'' if one else 's'} {', '.join(repr(ref) for ref in unknown)} "
            f"{'is not an actor' if one else 'are not actors'} of scenario {scenario.name!r}, whose actors are "
            f"{actors}: name one of them, '#<track id>' or 'all'")


def check_shot_subjects(shot: Any, scenario_ref: str, director: bool) -> None:
    """Refuse a shot whose subjects the scene has no actor for (ValueError); with ``director`` only warn.

    The parser only warns about an unknown name because a track may still be named so on the tablet; a run
    without the director has no way to name one, so the shot would frame nobody for the whole run.
    """
    from cinempc_sim.scenario import load_scenario

    problem = unknown_actors_message(shot, load_scenario(resolve_scenario_path(scenario_ref)))
    if problem is None:
        return
    if not director:
        raise ValueError(problem)
    print(f"warning: {problem} -- or name a track so on the director page; until then the shot frames nobody",
          file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Fly, write, print where the files are and the headline metrics."""
    import json

    from cinempc.cli.shot import load_shot_ref

    out = Path(args.out)
    started_s = time.time()
    shot = load_shot_ref(args.shot) if args.shot else None
    if shot is not None:
        check_shot_subjects(shot, args.scenario, bool(getattr(args, "director", False)))
    if getattr(args, "director", False):
        from cinempc_sim.director_bridge import serve_live

        serve_live(resolve_scenario_path(args.scenario), shot, args.controller, args.duration,
                   host=args.director_host, port=args.director_port, token=args.director_token, out_dir=out,
                   video=not args.no_video, seed=args.seed, solver=args.solver, perception=args.perception)
        print(wrote_line(out, run_files(not args.no_video, report=False), started_s))
        return 0
    if args.perception == "yolo":
        return run_with_perception(args, out, started_s)
    metrics = fly_and_report(args.scenario, shot, args.controller, args.duration, out, seed=args.seed,
                             compare=args.compare, video=not args.no_video, solver=args.solver,
                             show_progress=not args.headless, lockstep=not args.real_time,
                             via_mavlink=args.via_mavlink)
    for name, values in metrics.items():
        print(f"{name}: " + json.dumps({k: values[k] for k in (
            "composition_error_rms", "in_focus_fraction", "visible_fraction", "collisions", "real_time_factor")}))
    print(wrote_line(out, run_files(not args.no_video), started_s))
    return 0


def run_with_perception(args: argparse.Namespace, out: Path, started_s: float = 0.0) -> int:
    """``--perception yolo``: the controller sees subjects through the detector; graded on ground truth."""
    import json

    from cinempc_sim.perception_data import run_scenario_with_perception
    from cinempc_sim.report import write_run

    if args.shot or args.via_mavlink or args.compare:
        raise ValueError("--perception yolo flies the scenario's default shot directly (no --shot/--compare/"
                         "--via-mavlink)")
    result, perceiver = run_scenario_with_perception(resolve_scenario_path(args.scenario), duration_s=args.duration,
                                                     controller=args.controller, seed=args.seed)
    write_run(result, out, extra={"perception": "yolo", "perception_frames": perceiver.frames,
                                  "lost_events": len(perceiver.lost_events)})
    print(f"{args.controller}+yolo: " + json.dumps({k: result.metrics[k] for k in (
        "composition_error_rms", "in_focus_fraction", "visible_fraction", "collisions", "real_time_factor")}))
    print(wrote_line(out, run_files(False, report=False), started_s))
    return 0
