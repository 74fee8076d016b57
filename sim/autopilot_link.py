"""The simulator behind MAVLink: a drop-in rig link for the closed loop (``--via-mavlink``).

:class:`MavlinkSimRig` looks like a :class:`cinempc_sim.simulator.Simulator` to
:class:`cinempc_sim.closed_loop.ClosedLoop`, but every setpoint goes
bridge -> UDP -> simulated autopilot -> physics, and ``rig_state()`` is what
came back as LOCAL_POSITION_NED / ATTITUDE / GIMBAL_DEVICE_ATTITUDE_STATUS /
CAMERA_SETTINGS.  The autopilot runs in lockstep, so a run over MAVLink flies
the same physics steps as the direct run and the two can be compared.

Ground truth that no drone would send over MAVLink (subjects, obstacles, the
rendered frame, collisions) still comes from the simulator directly.
"""

from __future__ import annotations

from typing import Any

from cinempc.mavlink.autopilots import Autopilot
from cinempc.mavlink.bridge import MavlinkBridge
from cinempc.mavlink.rig_link import MavlinkRigLink
from cinempc.state import RigState, Setpoint
from cinempc_sim.autopilot import SimAutopilot


class MavlinkSimRig:
    """A Simulator flown over real MAVLink bytes on loopback UDP."""

    def __init__(self, simulator: Any, flavour: Autopilot | str = Autopilot.PX4, *,
                 signing_key: bytes | None = None, params: dict | None = None, timeout_s: float = 5.0) -> None:
        self.sim = simulator
        self.timeout_s = float(timeout_s)
        self.autopilot = SimAutopilot(simulator, flavour, signing_key=signing_key, params=params, lockstep=True)
        self.autopilot.start()
        self.bridge = MavlinkBridge(self.autopilot.url, simulator.camera_profile, simulator.vehicle_config,
                                    params=params, signing_key=signing_key, clock=lambda: float(simulator.time_s))
        try:
            self.bridge.start(wait_heartbeat_s=timeout_s)
            self.link = MavlinkRigLink(self.bridge)
            self.autopilot.publish_telemetry()
            if not self.bridge.wait_for_telemetry(0, timeout_s=timeout_s):
                raise TimeoutError("no telemetry from the simulated autopilot")
            # the operator's part, done explicitly as a pilot would: arm, then start offboard
            state = self.bridge.rig_state()
            for result in (self.bridge.operator_arm(), self.bridge.operator_start_offboard(Setpoint.hold_at(state))):
                if not result.accepted:
                    raise RuntimeError(f"simulated autopilot refused {result.command}: {result.result}")
        except BaseException:
            self.close()
            raise

    # ---------------------------------------------------------------- RigLink
    def step(self, setpoint: Setpoint, dt_s: float) -> None:
        """Send the setpoint over MAVLink, fly ``dt_s`` once it arrived, wait for the telemetry after it."""
        tag = self.bridge.send_setpoint_now(setpoint)
        if tag:
            # a setpoint lost on the way is the vehicle's problem (its failsafe), not a reason to stop the world
            self.autopilot.wait_for_setpoint(tag, self.timeout_s)
        self.autopilot.advance(dt_s)
        if not self.bridge.wait_for_telemetry(self.autopilot.time_boot_ms(), timeout_s=self.timeout_s):
            raise TimeoutError("no telemetry after the simulation step")

    def rig_state(self) -> RigState:
        state = self.link.rig_state()
        if state is None:
            raise RuntimeError("MAVLink link down: no rig state")
        return state

    @property
    def time_s(self) -> float:
        return float(self.sim.time_s)

    @property
    def collisions(self) -> int:
        return int(self.sim.collisions)

    @property
    def background_distance_m(self) -> float:
        return float(self.sim.background_distance_m)

    def subjects(self, horizon_steps: int, dt_s: float):
        return self.sim.subjects(horizon_steps, dt_s)

    def obstacles(self, *args, **kwargs):
        return self.sim.obstacles(*args, **kwargs)

    def render(self, *args, **kwargs):
        return self.sim.render(*args, **kwargs)

    @property
    def events(self):
        return self.bridge.event_list

    def close(self) -> None:
        """Stop the bridge and the autopilot (the Simulator stays open: its owner closes it)."""
        bridge = getattr(self, "bridge", None)
        if bridge is not None:
            bridge.close()
        self.autopilot.close()

    def __enter__(self) -> MavlinkSimRig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_scenario_via_mavlink(
    scenario: Any,
    shot: Any = None,
    controller: str = "cinempc",
    duration_s: float | None = None,
    *,
    seed: int = 0,
    flavour: Autopilot | str = Autopilot.PX4,
    signing_key: bytes | None = None,
    out_dir: Any = None,
    video: bool = True,
    render_rate_hz: float | None = None,
    solver: str = "fast",
    lockstep: bool = True,
    image_size: tuple[int, int] = (320, 240),
    on_step=(),
    progress=None,
):
    """:func:`cinempc_sim.closed_loop.run_scenario`, but the controller flies the rig over MAVLink.

    Same scenario, shot, controller, seed and arguments as the direct run; the only
    difference is the hardware path (bridge -> UDP -> simulated autopilot -> physics ->
    telemetry).  ``lockstep`` is the MPC's (no wall-clock deadline); the autopilot always
    runs in lockstep with the loop so the physics steps are those of the direct run.
    """
    from cinempc_sim.closed_loop import ClosedLoop, prepare_run

    setup = prepare_run(scenario, shot, duration_s, seed=seed, render_rate_hz=render_rate_hz, image_size=image_size)
    scenario, shot_spec, duration, settings = setup.scenario, setup.shot, setup.duration_s, setup.settings
    camera, vehicle, sim, render = setup.camera, setup.vehicle, setup.sim, setup.render
    ctrl = setup.make_controller(controller, solver=solver, lockstep=lockstep)
    hooks = list(on_step)
    writer = None
    if out_dir is not None and video and render:
        from pathlib import Path

        from cinempc_sim.report import CameraVideo

        writer = CameraVideo(Path(out_dir) / "camera.mp4", fps=int(round(settings.render_rate_hz)))
        hooks.append(writer)
    rig = MavlinkSimRig(sim, flavour, signing_key=signing_key)
    try:
        loop = ClosedLoop(rig, ctrl, shot_spec, camera, vehicle, controller_name=controller,
                          scenario_name=scenario.name, settings=settings, on_step=hooks, render=render)
        result = loop.run(duration, progress=progress)
        events = [event.as_dict() for event in rig.events]
    finally:
        if writer is not None:
            writer.close()
        rig.close()
        sim.close()
    if out_dir is not None:
        from cinempc_sim.report import write_run

        write_run(result, out_dir, extra={"seed": seed, "duration_s": duration, "solver": solver, "lockstep": lockstep,
                                          "via_mavlink": str(Autopilot(flavour).value), "mavlink_events": events})
    return result
