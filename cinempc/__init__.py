"""cinempc: autonomous drone cinematography -- a nonlinear MPC over drone pose *and* lens.

The library cores (optics, shot specification, MPC, perception, MAVLink bridge,
director) import no ROS; ``cinempc.nodes`` holds the thin rclpy adapters.
"""

__version__ = "0.1.0"
