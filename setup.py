"""cinempc: one setup.py for both ``pip install -e .`` and ``colcon build`` (ament_python).

The ament conventions (resource marker, package.xml, launch/config under
share/cinempc) are plain ``data_files``, so pip installs them too; the config
loader finds them under ``sys.prefix/share/cinempc/config``.
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "cinempc"

# The flight stack.  supervision: its numpy ByteTrack is the tracker where ultralytics is not installed
# (cinempc/perception/tracker_choice.py); the drone venv installs it without its plotting dependencies.
FLIGHT = [
    "numpy", "scipy", "casadi", "pydantic", "pyyaml", "rapidfuzz", "opencv-python-headless", "pymap3d", "pymavlink",
    "pyserial", "fastapi", "uvicorn", "httpx", "websockets", "onnxruntime", "rosbags", "supervision",
]
EXTRAS = {
    # the PyBullet simulator (cinempc_sim), its Gymnasium env, videos and plots
    "sim": ["pybullet", "gymnasium", "imageio", "imageio-ffmpeg", "matplotlib"],
    # the ultralytics (PyTorch) detector and tracker, dataset and training
    "train": ["ultralytics", "torch", "torchvision"],
    # `cinempc bench shots --ray ADDRESS`: the shot x scene benchmark on a Ray cluster
    "ray": ["ray"],
    "test": ["pytest", "hypothesis", "playwright", "mavsdk", "mcap", "mcap-ros2-support", "ruff"],
}
EXTRAS["sweep"] = EXTRAS["ray"]  # the former name of [ray]
EXTRAS["all"] = sorted({name for names in EXTRAS.values() for name in names})

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Autonomous drone cinematography: CasADi NMPC over drone pose and lens, YOLO tracking, ROS 2, MAVLink",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["cinempc", "cinempc.*"]) + ["cinempc_sim"]
    + [f"cinempc_sim.{p}" for p in find_packages(where="sim")],
    package_dir={"cinempc_sim": "sim"},
    package_data={
        "cinempc": ["director/static/*", "perception/weights/*"],
        "cinempc_sim": ["scenarios/*.yaml", "assets/*"],
    },
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    # Versions are pinned in requirements.txt (the one place); these are the names only.
    # The base install is the flight stack (cores, nodes, MAVLink, director app, ONNX Runtime detector,
    # numpy ByteTrack): what a companion computer needs (`make install-drone`, requirements/drone.txt).
    install_requires=FLIGHT,
    extras_require=EXTRAS,
    zip_safe=True,
    maintainer="cinempc developers",
    maintainer_email="cinempc@example.org",
    entry_points={
        "console_scripts": [
            "cinempc = cinempc.cli:main",
            # ROS 2 nodes (`ros2 run cinempc <name>`; the graph in cinempc/graph.py names these)
            "sim_node = cinempc.nodes.sim_node:main",
            "perception_node = cinempc.nodes.perception_node:main",
            "mpc_node = cinempc.nodes.mpc_node:main",
            "director_node = cinempc.nodes.director_node:main",
            "mavlink_bridge_node = cinempc.nodes.mavlink_bridge_node:main",
            "bag_recorder = cinempc.nodes.recorder:main",
        ],
    },
)
