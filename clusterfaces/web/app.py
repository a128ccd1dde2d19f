"""The review web app: the Starlette application, and a uvicorn server on 127.0.0.1 that stops when told."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from clusterfaces import ClusterfacesError, Library
from clusterfaces.web.routes import ROUTES
from clusterfaces.web.security import Guard
from clusterfaces.web.thumbs import ThumbnailCache, cache_folder

HOST = "127.0.0.1"  # never another interface: the app can rename and merge people


def create_app(library: Library, token: str, port: int, cache: Path | None = None) -> Guard:
    """The app for one library, guarded for requests to 127.0.0.1:port carrying the token."""
    app = Starlette(routes=ROUTES)
    app.state.library = library
    app.state.thumbnails = ThumbnailCache(cache or cache_folder(library.database))
    return Guard(app, token, port)


def bind(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1 (port 0: a free one); a one-line error when the port is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
    except OSError as error:
        sock.close()
        raise ClusterfacesError(f"cannot listen on {HOST}:{port} ({error.strerror}): give another --port, "
                                "or 0 for a free one") from None
    sock.listen(128)
    return sock


class ReviewServer:
    """One library served at http://127.0.0.1:PORT/?token=...; `start` runs it in a thread (tests),
    `run` in the calling thread until Ctrl-C (the command)."""

    def __init__(self, library: Library, port: int = 0, token: str | None = None, cache: Path | None = None) -> None:
        self.token = token or secrets.token_urlsafe(24)
        self.socket = bind(port)
        self.port = self.socket.getsockname()[1]
        self.app = create_app(library, self.token, self.port, cache)
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """The link to open: it carries the token (the page swaps it for a cookie)."""
        return f"{self.base}/?token={self.token}"

    def run(self) -> None:
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self.socket.close()

    def start(self) -> ReviewServer:
        self._thread = threading.Thread(target=self.run, name="clusterfaces-review", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ClusterfacesError("the review server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> ReviewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
