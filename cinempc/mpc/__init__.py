"""CineMPC: nonlinear MPC that jointly optimises drone pose, gimbal and lens.

Public API (the contract other packages code against)::

    from cinempc.mpc import CineMPC, MPCResult, load_mpc_params

See ``docs/mpc.md`` for the formulation.
"""

from cinempc.mpc.controller import STATUSES, CineMPC, MPCResult
from cinempc.mpc.params import MPCParams, load_mpc_params

__all__ = ["CineMPC", "MPCParams", "MPCResult", "STATUSES", "load_mpc_params"]
