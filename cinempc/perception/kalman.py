"""Constant-velocity Kalman filter of a subject's feet point, and its prediction over the MPC horizon.

State ``[x, y, z, vx, vy, vz]`` (ENU, m and m/s) driven by white-noise
acceleration (the discrete Wiener-process-acceleration model of Bar-Shalom, Li &
Kirubarajan, *Estimation with Applications to Tracking and Navigation*, 6.3.2).
A walking or running person changes velocity smoothly within a second or two, so
CV with a realistic acceleration sigma predicts the 2-4 s MPC horizon with a
covariance that honestly grows as ``t^3``; a turn-rate model adds little for
people, who turn on the spot rather than along arcs.

Measurements are feet points with the 3x3 covariance of the estimator.  A
measurement outside the chi-square gate is an outlier (a wrong association, a
box on the wrong person); several in a row mean the subject really is there, so
the filter re-initialises on it instead of diverging politely.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ConstantVelocityKalman", "HorizonPrediction"]


@dataclass(frozen=True)
class HorizonPrediction:
    """Predicted feet points, velocities and position covariances at t = k dt, k = 0..K."""

    positions_m: np.ndarray  # (K+1, 3)
    velocities_mps: np.ndarray  # (K+1, 3)
    covariance_m2: np.ndarray  # (K+1, 3, 3)
    dt_s: float


class ConstantVelocityKalman:
    """One subject's motion state with covariance."""

    def __init__(self, position_m, position_cov_m2, time_s: float, accel_sigma_mps2: float = 1.5,
                 vertical_accel_sigma_mps2: float = 0.3, initial_speed_sigma_mps: float = 3.0,
                 gate_chi2: float = 16.27, max_consecutive_outliers: int = 3,
                 maneuver_accel_sigma_mps2: float = 0.0) -> None:
        self.accel_sigma = np.array([accel_sigma_mps2, accel_sigma_mps2, vertical_accel_sigma_mps2])
        self.maneuver_accel_sigma = np.array([maneuver_accel_sigma_mps2, maneuver_accel_sigma_mps2, 0.0])
        self.maneuvers = 0
        self.initial_speed_sigma = float(initial_speed_sigma_mps)
        self.gate_chi2 = float(gate_chi2)
        self.max_consecutive_outliers = int(max_consecutive_outliers)
        self.outliers_in_a_row = 0
        self.updates = 0
        self._initialise(position_m, position_cov_m2, time_s)

    def _initialise(self, position_m, position_cov_m2, time_s: float) -> None:
        self.x = np.zeros(6)
        self.x[:3] = np.asarray(position_m, dtype=float)
        self.P = np.zeros((6, 6))
        self.P[:3, :3] = np.asarray(position_cov_m2, dtype=float)
        speed_var = self.initial_speed_sigma**2
        self.P[3:, 3:] = np.diag([speed_var, speed_var, 0.1 * speed_var])
        self.time_s = float(time_s)
        self.last_update_s = float(time_s)
        self.outliers_in_a_row = 0

    # ---------------------------------------------------------------- model
    def _transition(self, dt: float, accel_sigma: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """F and Q of the discrete white-noise-acceleration model for a step dt."""
        F = np.eye(6)
        F[:3, 3:] = dt * np.eye(3)
        q = (self.accel_sigma if accel_sigma is None else accel_sigma)**2
        Q = np.zeros((6, 6))
        Q[:3, :3] = np.diag(q * dt**4 / 4)
        Q[:3, 3:] = Q[3:, :3] = np.diag(q * dt**3 / 2)
        Q[3:, 3:] = np.diag(q * dt**2)
        return F, Q

    @staticmethod
    def _propagate(x: np.ndarray, P: np.ndarray, F: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return F @ x, F @ P @ F.T + Q

    # ------------------------------------------------------------ interface
    @property
    def position_m(self) -> np.ndarray:
        return self.x[:3].copy()

    @property
    def velocity_mps(self) -> np.ndarray:
        return self.x[3:].copy()

    @property
    def position_cov_m2(self) -> np.ndarray:
        return self.P[:3, :3].copy()

    def position_at(self, time_s: float) -> np.ndarray:
        """Where the subject is predicted at ``time_s``, leaving the filter as it is.

        A query, unlike :meth:`predict_to`: the white-noise-acceleration covariance of many
        short steps is smaller than that of one long one, so asking where someone is each
        frame must not move the filter's clock (it changed the gate a lost name is found in).
        """
        return self.x[:3] + max(float(time_s) - self.time_s, 0.0) * self.x[3:]

    def predict_to(self, time_s: float) -> None:
        """Advance the state to ``time_s`` (a time in the past is ignored: frames may arrive out of order)."""
        dt = float(time_s) - self.time_s
        if dt <= 0:
            return
        F, Q = self._transition(dt)
        self.x, self.P = self._propagate(self.x, self.P, F, Q)
        self.time_s = float(time_s)

    def mahalanobis2(self, position_m, position_cov_m2) -> float:
        """Squared Mahalanobis distance of a feet-point measurement from the current prediction."""
        innovation = np.asarray(position_m, dtype=float) - self.x[:3]
        S = self.P[:3, :3] + np.asarray(position_cov_m2, dtype=float)
        return float(innovation @ np.linalg.solve(S, innovation))

    def update(self, position_m, position_cov_m2, time_s: float) -> bool:
        """Fuse a feet point measured at ``time_s``; returns False when it was gated out as an outlier."""
        self.predict_to(time_s)
        z = np.asarray(position_m, dtype=float)
        R = np.asarray(position_cov_m2, dtype=float)
        if not (np.all(np.isfinite(z)) and np.all(np.isfinite(R))):
            return False
        if self.mahalanobis2(z, R) > self.gate_chi2 and not self._maneuver(z, R, time_s):
            self.outliers_in_a_row += 1
            if self.outliers_in_a_row >= self.max_consecutive_outliers:
                self._initialise(z, R, time_s)
                self.updates += 1
                return True
            return False
        H = np.zeros((3, 6))
        H[:, :3] = np.eye(3)
        S = H @ self.P @ H.T + R
        K = np.linalg.solve(S, H @ self.P).T
        self.x = self.x + K @ (z - H @ self.x)
        # Joseph form: stays symmetric positive definite with badly scaled R.
        A = np.eye(6) - K @ H
        self.P = A @ self.P @ A.T + K @ R @ K.T
        self.outliers_in_a_row = 0
        self.updates += 1
        self.last_update_s = float(time_s)
        return True

    def accepts(self, position_m, position_cov_m2, time_s: float) -> bool:
        """Would :meth:`update` fuse this measurement (inside the gate, or a maneuver)?  Changes nothing."""
        self.predict_to(time_s)
        z, R = np.asarray(position_m, dtype=float), np.asarray(position_cov_m2, dtype=float)
        return self.mahalanobis2(z, R) <= self.gate_chi2 or self._maneuver_covariance(z, R, time_s) is not None

    def _maneuver(self, z: np.ndarray, R: np.ndarray, time_s: float) -> bool:
        """True (and P opened up) when a sudden change of motion explains a gated measurement.

        A person who starts jogging from a standstill, stops or turns on the spot leaves the
        constant-velocity gate in one frame.  If the measurement is inside the
        gate of the same prediction with ``maneuver_accel_sigma_mps2`` of extra acceleration
        noise since the last update, it is a maneuver, not a wrong box: P takes that noise.
        """
        P = self._maneuver_covariance(z, R, time_s)
        if P is None:
            return False
        self.P = P
        self.maneuvers += 1
        return True

    def _maneuver_covariance(self, z: np.ndarray, R: np.ndarray, time_s: float) -> np.ndarray | None:
        """The covariance opened by the maneuver noise when that explains ``z`` (inside its gate), else None.

        The maneuver is a step in velocity at the last update (up to ``maneuver_accel_sigma_mps2`` x the
        time since), carried to now: the velocity then follows the displacement over that time (opened as
        white-noise acceleration, the velocity gain would be 2/dt).
        """
        if not np.any(self.maneuver_accel_sigma > 0):
            return None
        dt = max(float(time_s) - self.last_update_s, 1e-3)
        jump = np.diag((self.maneuver_accel_sigma * dt) ** 2)
        P = self.P.copy()
        P[:3, :3] += dt**2 * jump
        P[:3, 3:] += dt * jump
        P[3:, :3] += dt * jump
        P[3:, 3:] += jump
        innovation = z - self.x[:3]
        if float(innovation @ np.linalg.solve(P[:3, :3] + R, innovation)) > self.gate_chi2:
            return None
        return P

    def predict_horizon(self, horizon_steps: int, dt_s: float, from_time_s: float | None = None) -> HorizonPrediction:
        """Positions, velocities and position covariances at ``from_time_s + k dt_s`` for k = 0..horizon_steps.

        Does not change the filter: the horizon is a what-if, the next frame is the truth.
        """
        if horizon_steps < 0 or not dt_s > 0:
            raise ValueError(f"horizon needs steps >= 0 and dt_s > 0, got {horizon_steps}, {dt_s}")
        x, P = self.x.copy(), self.P.copy()
        lead = 0.0 if from_time_s is None else max(0.0, float(from_time_s) - self.time_s)
        if lead > 0:
            x, P = self._propagate(x, P, *self._transition(lead))
        F, Q = self._transition(dt_s)
        positions = np.empty((horizon_steps + 1, 3))
        velocities = np.empty((horizon_steps + 1, 3))
        covariances = np.empty((horizon_steps + 1, 3, 3))
        for k in range(horizon_steps + 1):
            if k:
                x, P = self._propagate(x, P, F, Q)
            positions[k], velocities[k], covariances[k] = x[:3], x[3:], P[:3, :3]
        return HorizonPrediction(positions, velocities, covariances, float(dt_s))
