"""cinempc_sim: the PyBullet world the controller is proven in before it flies.

A quadrotor with a cascaded PX4-style controller, a stabilised gimbal, a zoom
lens with motor rate limits, a camera rendered at the current field of view with
thin-lens depth of field, articulated walking/running actors and YAML scenarios.
``cinempc_sim`` may import ``cinempc``; never the reverse.  The closed loop and
the Gymnasium environment use :class:`cinempc_sim.simulator.Simulator` only.
"""

__all__ = ["Frame", "Scenario", "Simulator", "load_scenario"]


def __getattr__(name: str):
    """Lazy exports so ``import cinempc_sim.scenario`` does not load PyBullet."""
    if name in ("Simulator", "Frame"):
        from cinempc_sim import simulator

        return getattr(simulator, name)
    if name in ("Scenario", "load_scenario"):
        from cinempc_sim import scenario

        return getattr(scenario, name)
    raise AttributeError(name)
