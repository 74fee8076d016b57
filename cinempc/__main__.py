"""``python -m cinempc`` is the ``cinempc`` command."""

import sys

from cinempc.cli import main

sys.exit(main())
