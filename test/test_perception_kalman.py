"""Kalman filter: consistent covariance, horizon prediction error grows as the covariance says."""

import numpy as np
import pytest

from cinempc.perception.kalman import ConstantVelocityKalman

ACCEL_SIGMA = 1.0
DT = 0.1
MEAS_SIGMA = 0.15


def _simulate(rng, steps):
    """A subject whose acceleration is the filter's own white-noise model (piecewise constant per step)."""
    x = np.zeros((steps, 3))
    v = np.array([*rng.normal(0, 1.0, 2), 0.0])
    p = np.array([*rng.uniform(-5, 5, 2), 0.0])
    for k in range(steps):
        x[k] = p
        a = np.array([*rng.normal(0, ACCEL_SIGMA, 2), 0.0])
        p = p + v * DT + 0.5 * a * DT**2
        v = v + a * DT
    return x


def test_prediction_error_grows_with_horizon_as_covariance_says():
    rng = np.random.default_rng(7)
    history, horizon = 40, 20
    errors2 = np.zeros((200, horizon + 1))
    predicted = np.zeros((200, horizon + 1))
    for trial in range(200):
        truth = _simulate(rng, history + horizon + 1)
        R = np.diag([MEAS_SIGMA**2, MEAS_SIGMA**2, 1e-4])
        kf = ConstantVelocityKalman(truth[0] + rng.normal(0, MEAS_SIGMA, 3) * [1, 1, 0], R, 0.0,
                                    accel_sigma_mps2=ACCEL_SIGMA, vertical_accel_sigma_mps2=0.01)
        for k in range(1, history + 1):
            kf.update(truth[k] + rng.normal(0, MEAS_SIGMA, 3) * [1, 1, 0], R, k * DT)
        prediction = kf.predict_horizon(horizon, DT)
        diff = prediction.positions_m[:, :2] - truth[history:history + horizon + 1, :2]
        errors2[trial] = np.sum(diff**2, axis=1)
        predicted[trial] = np.trace(prediction.covariance_m2[:, :2, :2], axis1=1, axis2=2)
    mse = errors2.mean(axis=0)
    expected = predicted.mean(axis=0)
    # the error grows with the horizon ...
    assert mse[-1] > 10 * mse[0]
    assert np.all(np.diff(expected) > 0)
    # ... by as much as the covariance predicts (Monte Carlo over 200 runs: within 35 %)
    ratio = mse / expected
    assert np.all((ratio > 0.65) & (ratio < 1.35)), ratio.round(2)


def test_outlier_is_gated_then_accepted_if_it_persists():
    R = np.eye(3) * 0.01
    kf = ConstantVelocityKalman([0, 0, 0], R, 0.0, max_consecutive_outliers=3)
    for k in range(1, 10):
        kf.update([0, 0, 0], R, k * 0.1)
    assert not kf.update([8, 0, 0], R, 1.0)
    assert np.linalg.norm(kf.position_m) < 0.1
    assert not kf.update([8, 0, 0], R, 1.1)
    assert kf.update([8, 0, 0], R, 1.2)  # third time in a row: the subject really is there
    assert kf.position_m[0] == pytest.approx(8.0)


def test_velocity_and_heading_estimated():
    R = np.eye(3) * 0.01
    kf = ConstantVelocityKalman([0, 0, 0], R, 0.0)
    for k in range(1, 30):
        kf.update([0.0, -2.0 * k * 0.1, 0.0], R, k * 0.1)
    assert kf.velocity_mps[:2] == pytest.approx([0.0, -2.0], abs=0.05)


def test_non_finite_measurement_rejected_and_bad_horizon_raises():
    kf = ConstantVelocityKalman([0, 0, 0], np.eye(3), 0.0)
    assert not kf.update([np.nan, 0, 0], np.eye(3), 0.1)
    assert np.all(np.isfinite(kf.x))
    with pytest.raises(ValueError, match="horizon"):
        kf.predict_horizon(5, 0.0)


def test_a_sudden_start_is_followed_not_gated_out():
    """stop_and_go: standing, then jogging at 3 m/s at once; the filter must follow, not reject and restart."""
    R = np.diag([0.02, 0.02, 0.02]) ** 2
    kf = ConstantVelocityKalman([0, 0, 0], R, 0.0, accel_sigma_mps2=3.0, maneuver_accel_sigma_mps2=20.0)
    for k in range(1, 20):
        kf.update([0, 0, 0], R, k * 0.1)
    errors, speeds = [], []
    for k in range(1, 11):
        t = 1.9 + k * 0.1
        assert kf.update([0, 3.0 * k * 0.1, 0], R, t)  # never an outlier
        errors.append(abs(kf.position_m[1] - 3.0 * k * 0.1))
        speeds.append(kf.velocity_mps[1])
    assert kf.maneuvers >= 1  # accepted as a change of motion (no outliers, so no re-initialisation)
    assert max(errors[2:]) < 0.05
    # the velocity follows the displacement, it does not overshoot it (opened as white-noise acceleration,
    # the velocity gain was 2/dt: 5.3 m/s estimated for the first frames of a 3 m/s jog)
    assert max(speeds) < 3.6
    assert kf.velocity_mps[1] == pytest.approx(3.0, abs=0.3)
    # a box metres away is still a wrong association, maneuver or not
    assert not kf.update([8.0, 3.3, 0.0], R, 3.0)


def test_asking_where_a_subject_is_leaves_the_filter_as_it_was():
    """Visibility asks every frame where a coasting subject is; stepping the filter for it shrank the covariance
    a lost name is later found with (many short white-noise steps add less than one long one)."""
    kf = ConstantVelocityKalman([0.0, 0.0, 0.0], np.eye(3) * 0.01, 0.0)
    for k in range(1, 11):
        kf.update([0.14 * k, 0.0, 0.0], np.eye(3) * 0.01, 0.1 * k)
    stepped = ConstantVelocityKalman([0.0, 0.0, 0.0], np.eye(3) * 0.01, 0.0)
    stepped.x, stepped.P, stepped.time_s = kf.x.copy(), kf.P.copy(), kf.time_s
    for k in range(1, 6):
        assert np.allclose(kf.position_at(1.0 + 0.1 * k), kf.position_m + 0.1 * k * kf.velocity_mps)
        stepped.predict_to(1.0 + 0.1 * k)
    assert kf.time_s == 1.0
    kf.predict_to(1.5)
    assert np.allclose(kf.position_m, stepped.position_m)
    assert np.trace(kf.position_cov_m2) > 1.05 * np.trace(stepped.position_cov_m2)  # (why a query must not step)
