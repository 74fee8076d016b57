"""CineMPC/Film-v0: a valid Gymnasium environment whose reward means shot quality."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from cinempc_sim.baselines import FollowController
from cinempc_sim.gym_env import ENV_ID, OBSERVATION_FIELDS, FilmEnv


def test_registered_and_passes_the_env_checker_without_warnings():
    env = gym.make(ENV_ID, duration_s=3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    env.close()


def test_image_observation_variant_passes_the_env_checker():
    env = FilmEnv("single_walker", image_observation=True, render_mode="rgb_array", duration_s=2.0)
    check_env(env)
    obs, _ = env.reset(seed=3)
    assert obs["image"].shape == (120, 160, 3) and obs["image"].dtype == np.uint8
    assert obs["image"].std() > 5  # a real picture, not a blank buffer
    assert env.render().shape == (120, 160, 3)
    env.close()


def test_episode_truncates_at_the_shot_duration_and_seeds_reproduce():
    env = FilmEnv("single_walker", duration_s=2.0)
    obs_a, _ = env.reset(seed=7)
    rewards_a = [env.step(np.full(8, 0.1, dtype=np.float32))[1] for _ in range(5)]
    obs_b, _ = env.reset(seed=7)
    rewards_b = [env.step(np.full(8, 0.1, dtype=np.float32))[1] for _ in range(5)]
    np.testing.assert_allclose(obs_a, obs_b)
    np.testing.assert_allclose(rewards_a, rewards_b)
    env.reset(seed=7)
    truncated, steps = False, 0
    while not truncated:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
        assert not terminated
    assert steps == 20 and len(OBSERVATION_FIELDS) == env.observation_space.shape[0]
    env.close()


def test_bad_actions_are_rejected_with_a_clear_error():
    env = FilmEnv("single_walker", duration_s=1.0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan] * 8, dtype=np.float32))
    with pytest.raises(ValueError, match="8 finite numbers"):
        env.step(np.zeros(3, dtype=np.float32))
    env.close()


def test_reward_prefers_a_framing_policy_over_random_actions():
    env = FilmEnv("single_walker", duration_s=8.0)
    follow = FollowController(env.camera, env.vehicle, dt_s=env.dt_s)

    def episode(policy) -> float:
        env.reset(seed=0)
        follow.reset()
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(policy())
            total += reward
            done = terminated or truncated
        return total

    def framing_policy():
        sim = env.unwrapped.sim
        state = sim.rig_state()
        result = follow.solve(state, env.shot, sim.subjects(1, env.dt_s), sim.obstacles(), 0.0)
        return env.setpoint_to_action(result.setpoint, state)

    env.action_space.seed(0)
    framed, random = episode(framing_policy), episode(env.action_space.sample)
    assert framed > random + 50.0, (framed, random)
    env.close()
