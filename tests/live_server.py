"""A real uvicorn server for an ASGI app on a free loopback port, in a thread of the test process: requests go
through sockets and HTTP parsing as in production, while the test can still look at the app's state."""

from __future__ import annotations

import threading

import uvicorn

from engine.serving.process import free_port


class LiveServer:
    """`with LiveServer(app) as url:` serves `app` at `url` until the block ends."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            self.thread.join(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_) -> None:
        self.server.should_exit = True
        self.thread.join(30)
