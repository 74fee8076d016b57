"""The director's tablet web app: live view, shot commands and queue, lens panel, HOLD.

``live.LiveHub`` is where a control loop and the app meet; ``app.create_app`` and
``app.DirectorServer`` serve it; ``security`` holds the pairing token and limits;
``queue`` is the shot timeline.  See ``docs/director.md``.
"""

from cinempc.director.live import CommandRejected, Direction, LiveHub, SubjectBox
from cinempc.director.queue import ShotQueue, describe_shot
from cinempc.director.security import DirectorSettings, PairingToken, load_director_settings

__all__ = [
    "CommandRejected", "Direction", "DirectorSettings", "LiveHub", "PairingToken", "ShotQueue", "SubjectBox",
    "describe_shot", "load_director_settings",
]
