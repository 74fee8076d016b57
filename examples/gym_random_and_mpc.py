"""CineMPC/Film-v0 with two agents: a random policy and CineMPC acting as a policy.

Run:  .venv/bin/python examples/gym_random_and_mpc.py [--scenario single_walker] [--duration 10]

The MPC sees the same ground truth the environment grades with; its Setpoint is turned into the
environment's normalised action by ``FilmEnv.setpoint_to_action`` -- the very mapping an RL agent
would have to learn.  Prints each agent's return and its in-focus and visible fractions.
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

import cinempc_sim.gym_env  # noqa: F401 -- registers CineMPC/Film-v0


def play(env: gym.Env, policy, seed: int = 0) -> dict[str, float]:
    """One episode; returns the return and the fraction of steps in focus and in frame."""
    env.reset(seed=seed)
    total, in_focus, visible, steps, done = 0.0, 0, 0, 0, False
    while not done:
        _, reward, terminated, truncated, info = env.step(policy())
        total += reward
        in_focus += info["grade"].in_focus
        visible += info["grade"].visible
        steps += 1
        done = terminated or truncated
    return {"return": total, "in_focus": in_focus / steps, "visible": visible / steps, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="single_walker")
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()

    env = gym.make("CineMPC/Film-v0", scenario=args.scenario, duration_s=args.duration)
    film = env.unwrapped
    env.action_space.seed(0)
    print("random :", play(env, env.action_space.sample))

    from cinempc.mpc import CineMPC

    mpc = CineMPC(film.camera, film.vehicle)
    mpc.reset()

    def mpc_policy() -> np.ndarray:
        sim = film.sim
        state = sim.rig_state()
        result = mpc.solve(state, film.shot, sim.subjects(mpc.horizon_steps, mpc.dt_s), sim.obstacles(),
                           sim.time_s, sim.background_distance_m)
        return film.setpoint_to_action(result.setpoint, state)

    print("cinempc:", play(env, mpc_policy))
    env.close()


if __name__ == "__main__":
    main()
