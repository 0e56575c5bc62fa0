"""`edgeshade status --watch` in a pseudo-terminal: refreshes in place, Ctrl-C exits cleanly."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sys
import time

import pytest

pytestmark = pytest.mark.timeout(120)

HIDE, SHOW = b"\x1b[?25l", b"\x1b[?25h"


def read_until(fd: int, buf: bytearray, done, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done(bytes(buf)):
            return True
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                return done(bytes(buf))
            if not chunk:
                return done(bytes(buf))
            buf.extend(chunk)
    return done(bytes(buf))


def test_watch_refreshes_then_sigint_restores_the_terminal(healthy_sim, tmp_path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: edgeshade on the terminal side of the pty
        os.environ.update(COLUMNS="120", LINES="30", TERM="xterm-256color",
                          EDGESHADE_STATE_DIR=str(tmp_path / "state"))
        os.environ.pop("NO_COLOR", None)
        os.execv(sys.executable, [sys.executable, "-m", "edgeshade", "--os-config-file",
                                  healthy_sim.clouds, "--timeout", "5", "status",
                                  "--watch", "0.5"])
    buf = bytearray()
    try:
        # Two refreshes: the header shows "run 2 finished".
        ok = read_until(fd, buf, lambda b: b"run 2 finished" in b, 60)
        assert ok, bytes(buf[-2000:]).decode(errors="replace")
        assert HIDE in buf  # a live view: cursor hidden while it redraws in place
        assert re.search(rb"40 sites: \d+ ok", bytes(buf))
        os.kill(pid, signal.SIGINT)
        read_until(fd, buf, lambda b: b"watch stopped" in b, 30)
    finally:
        _pid, status = os.waitpid(pid, 0)
        os.close(fd)
    out = bytes(buf)
    assert os.waitstatus_to_exitcode(status) == 130
    assert b"Traceback" not in out and b"KeyboardInterrupt" not in out
    assert out.rfind(SHOW) > out.rfind(HIDE)  # the cursor is back
    assert b"watch stopped" in out
    # Redrawn in place: rich moves the cursor up over the previous frame instead of scrolling.
    assert b"\x1b[1A" in out or b"\x1b[2K" in out
