"""``SimServer``: the simulated fleet over real HTTP on 127.0.0.1.

Why a background thread with its own event loop: tests, ``edgeshade demo``
and library users drive the fleet from ordinary (threaded, blocking) code, so
the server must run beside them in the same process; ``start()`` returns once
the socket listens. The CLI runs it in the foreground with :meth:`wait` or
:meth:`serve_forever`. Benchmarks run it in its own process (it then gets a
core of its own) and read ``GET /_sim/stats``.

The listening socket is bound in :meth:`start` itself, so a port in use
fails there, and a second socket is bound *without* ``listen()`` for the
``refused`` fault: connections to it get ECONNREFUSED for as long as the
server runs, and no other process can take that port meanwhile. Two more
ports exist only when the fault spec uses them: ``blackhole`` (a listening
socket whose accept queue the server fills itself and never drains, so a
client's connect gets no answer at all, as behind a firewall that drops
packets) and ``tls`` (the same app over TLS with a self-signed certificate
generated at start-up, :attr:`SimServer.tls_cert`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import resource
import shutil
import socket
import tempfile
import threading
from types import TracebackType
from typing import Any

from aiohttp import web

from edgeshade.sim.app import SimApp
from edgeshade.sim.model import SimFleet
from edgeshade.sim.tls import server_context, write_self_signed

#: Listen backlog: hundreds of clients connect at once at the start of a run.
BACKLOG = 4096
#: How long stop() lets in-flight requests finish (hanging ones are cancelled).
SHUTDOWN_SECONDS = 0.25


def _raise_nofile_limit(wanted: int = 65536) -> None:
    """Thousands of concurrent client connections need more than the usual 1024 fds."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        pass


class SimServer:
    """Serve ``fleet`` on ``host:port`` (0: any free port) from a background thread::

        with SimServer(SimFleet(sites=100, faults="hang=2")) as server:
            clouds, secure = server.write_config(tmpdir)
            ...  # point openstacksdk or edgeshade at clouds.yaml
            server.stats()["by_site"]
    """

    def __init__(self, fleet: SimFleet, host: str = "127.0.0.1", port: int = 0) -> None:
        self.fleet = fleet
        self.host = host
        self._port = port
        self.app = SimApp(fleet)
        self._sock: socket.socket | None = None
        self._refused_sock: socket.socket | None = None
        self._blackhole_sock: socket.socket | None = None
        self._blackhole_fill: list[socket.socket] = []
        self._tls_sock: socket.socket | None = None
        self._tls_dir: str | None = None
        self.tls_cert: str | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._error: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def refused_url(self) -> str:
        """A URL where nothing listens (connections are refused) while the server runs."""
        assert self._refused_sock is not None, "start() the server first"
        return f"http://{self.host}:{self._refused_sock.getsockname()[1]}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._ready.is_set()

    def start(self) -> SimServer:
        """Bind, start the loop thread and return once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError("SimServer already started")
        _raise_nofile_limit()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._port))
        except OSError:
            sock.close()
            raise
        refused = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        refused.bind((self.host, 0))  # bound, never listening: ECONNREFUSED
        self._sock, self._refused_sock = sock, refused
        self._port = sock.getsockname()[1]
        extra: dict[str, str] = {}
        if self.fleet.uses("blackhole"):
            extra["blackhole_url"] = self._open_blackhole()
        if self.fleet.uses("tls"):
            extra["tls_url"] = self._open_tls()
        self.fleet.bind(self.url, self.refused_url, **extra)
        self._stopped.clear()
        self._thread = threading.Thread(target=self._run, name="edgeshade-sim", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._close_sockets()
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"simulated fleet failed to start: {self._error}") from self._error
        return self

    def _open_blackhole(self) -> str:
        """A port where connects hang: listening, accept queue full, never accepted."""
        hole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        hole.bind((self.host, 0))
        hole.listen(0)
        port = hole.getsockname()[1]
        for _ in range(4):  # a backlog of 0 still queues one or two: fill them
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            try:
                filler.connect((self.host, port))
            except BlockingIOError:
                pass
            self._blackhole_fill.append(filler)
        self._blackhole_sock = hole
        return f"http://{self.host}:{port}"

    def _open_tls(self) -> str:
        """A TLS port serving the same app, with a fresh self-signed certificate."""
        self._tls_dir = tempfile.mkdtemp(prefix="edgeshade-sim-tls-")
        self.tls_cert, _key = write_self_signed(self._tls_dir)
        tls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tls.bind((self.host, 0))
        self._tls_sock = tls
        return f"https://{self.host}:{tls.getsockname()[1]}"

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # a start-up failure is reported by start()
            if not self._ready.is_set():
                self._error = exc
                self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._stopped.set()

    async def _serve(self) -> None:
        self._stop_requested = asyncio.Event()
        server = web.Server(self.app, handler_cancellation=True, access_log=None)
        runner = web.ServerRunner(server, shutdown_timeout=SHUTDOWN_SECONDS)
        await runner.setup()
        try:
            assert self._sock is not None
            await web.SockSite(runner, self._sock, backlog=BACKLOG).start()
            if self._tls_sock is not None and self._tls_dir is not None:
                context = server_context(self.tls_cert or "",
                                         f"{self._tls_dir}/sim-key.pem")
                await web.SockSite(runner, self._tls_sock, backlog=BACKLOG,
                                   ssl_context=context).start()
            self._ready.set()
            await self._stop_requested.wait()
        finally:
            await runner.cleanup()

    def stop(self) -> None:
        """Stop serving (in-flight requests get a moment, hanging ones are cut)."""
        thread, loop, event = self._thread, self._loop, self._stop_requested
        if thread is None:
            return
        if loop is not None and event is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # loop already closed
                pass
        thread.join()
        self._thread = None
        self._ready.clear()
        self._close_sockets()
        self._stopped.set()

    def _close_sockets(self) -> None:
        for sock in (self._sock, self._refused_sock, self._blackhole_sock, self._tls_sock,
                     *self._blackhole_fill):
            if sock is not None:
                sock.close()
        self._sock = self._refused_sock = self._blackhole_sock = self._tls_sock = None
        self._blackhole_fill = []
        if self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
            self._tls_dir = None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops (Ctrl-C raises KeyboardInterrupt here); True if stopped."""
        if timeout is not None:
            return self._stopped.wait(timeout)
        while not self._stopped.wait(0.5):  # short waits keep Ctrl-C responsive
            pass
        return True

    def serve_forever(self) -> None:
        """Start if needed and serve in the foreground until Ctrl-C or :meth:`stop`."""
        if self._thread is None:
            self.start()
        try:
            self.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- in-process access -------------------------------------------------------

    def call_in_loop(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the server's loop thread (safe access to counters and
        site contents while requests are served); runs inline when stopped."""
        loop = self._loop
        if not self.running or loop is None:
            return fn(*args)
        future: cf.Future[Any] = cf.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=30)

    def stats(self) -> dict[str, Any]:
        """Request counters (``total``, ``by_site``, ``by_kind``, ``by_status``...)."""
        return self.call_in_loop(self.app.snapshot)

    def reset_stats(self) -> None:
        """Zero the counters and the ``flaky`` budgets."""
        self.call_in_loop(self.app.reset)

    def write_config(self, directory: str) -> tuple[str, str]:
        """Write clouds.yaml and secure.yaml for this server; returns their paths."""
        if self._thread is None:
            raise RuntimeError("start() the server before writing its config (ports unknown)")
        return self.fleet.write_config(directory)

    def __repr__(self) -> str:
        return f"SimServer({self.fleet!r}, url={self.url!r})"
