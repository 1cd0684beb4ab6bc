"""Real-time animation from a camera (``animcli live``): newest-frame capture, a causal pipeline, and outputs
to a virtual camera, a window, a file or stdout.

* :mod:`~animcli.workflows.live.sources` — cameras, streams and files standing in for them, read by their own thread;
* :mod:`~animcli.workflows.live.sinks` — virtual camera, preview window, recordings;
* :mod:`~animcli.workflows.live.session` — the loop: newest frame → model → output, statistics.
"""

from animcli.workflows.live.session import LiveOptions, LiveSession, LiveStats, live_animator, live_threads
from animcli.workflows.live.sinks import Sink, open_sink
from animcli.workflows.live.sources import FrameSource, open_camera

__all__ = [
    "FrameSource",
    "LiveOptions",
    "LiveSession",
    "LiveStats",
    "Sink",
    "live_animator",
    "live_threads",
    "open_camera",
    "open_sink",
]
