#!/usr/bin/python3
# An IP camera for tests: gst-rtsp-server serving a live H.264 test pattern at
# rtsp://127.0.0.1:<port>/stream1, as cameras on a LAN do. Prints "ready" once it listens.
# Usage: rtsp-camera.py PORT
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(sys.argv[1])
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=160,height=120,framerate=15/1 "
    "! x264enc tune=zerolatency bframes=0 key-int-max=15 speed-preset=ultrafast "
    "! rtph264pay name=pay0 pt=96 config-interval=1 )"
)
# One pipeline for every client, as a camera's encoder is.
factory.set_shared(True)
server.get_mount_points().add_factory("/stream1", factory)
if server.attach(None) == 0:
    sys.exit(f"cannot listen on port {sys.argv[1]}")
print("ready", flush=True)
GLib.MainLoop().run()
