"""Child processes that go down with their parent, even when it is killed with SIGKILL.

`rota dev` starts its server and workers in sessions of their own (so a Ctrl-C reaches only
the supervisor). A supervisor killed with SIGKILL cannot stop them, so each child is also
told by the system when its parent is gone:

- on Linux, prctl(PR_SET_PDEATHSIG, SIGTERM) in the child between fork and exec: the kernel
  sends the child SIGTERM the moment the parent thread that started it exits (so children
  must be started from the supervisor's main thread, as `rota dev` does);
- elsewhere, a pipe whose only write end the parent holds: the child inherits the read end
  (named in ROTA_PARENT_PIPE_FD) and `watch_parent()`, called by the `rota` command when it
  starts, reads it on a daemon thread; end of file means the parent is gone, and the child
  sends itself SIGTERM.

Either way the child stops as it does on a SIGTERM: a worker drains, a server shuts down.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

PARENT_FD_ENV = "ROTA_PARENT_PIPE_FD"
PR_SET_PDEATHSIG = 1
"""From <linux/prctl.h>."""

_watched_fd: int | None = None
"""The parent's pipe watch_parent() watches in this process, if any."""


class ParentLink:
    """The parent's side: starts children tied to it, one way or the other.

    `use_prctl` None picks prctl on Linux and the pipe elsewhere.
    """

    def __init__(self, *, use_prctl: bool | None = None) -> None:
        self._prctl = _load_prctl() if use_prctl is not False else None
        if use_prctl and self._prctl is None:
            raise OSError("prctl is not available on this system")
        self._read_fd: int | None = None
        self._write_fd: int | None = None
        if self._prctl is None:
            self._read_fd, self._write_fd = os.pipe()  # neither end is inherited by default

    def popen(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, **options: Any
    ) -> subprocess.Popen[bytes]:
        """Start argv (as subprocess.Popen would, with `options`) tied to this process."""
        child_env = dict(os.environ if env is None else env)
        if self._prctl is not None:
            child_env.pop(PARENT_FD_ENV, None)
            preexec = _die_with(self._prctl, os.getpid())
            return subprocess.Popen(argv, env=child_env, preexec_fn=preexec, **options)
        if self._read_fd is None:
            raise OSError("the link to this process is closed")
        child_env[PARENT_FD_ENV] = str(self._read_fd)
        return subprocess.Popen(argv, env=child_env, pass_fds=(self._read_fd,), **options)

    def close(self) -> None:
        """Close both ends of the pipe: every child still tied to this parent stops."""
        for fd in (self._read_fd, self._write_fd):
            if fd is not None:
                os.close(fd)
        self._read_fd = self._write_fd = None


def watch_parent(environ: MutableMapping[str, str] | None = None) -> threading.Thread | None:
    """In a child started through a ParentLink's pipe: SIGTERM this process once the parent
    is gone. Return the watching thread, or None when this process has no such parent."""
    env: MutableMapping[str, str] = os.environ if environ is None else environ
    text = env.pop(PARENT_FD_ENV, None)  # not handed down to this process's children
    if text is None:
        return None
    try:
        fd = int(text)
        os.fstat(fd)
    except (ValueError, OSError):
        return None  # a stale value, not a pipe from a parent
    global _watched_fd
    _watched_fd = fd
    thread = threading.Thread(target=_wait_for_eof, args=(fd,), name="rota-parent", daemon=True)
    thread.start()
    return thread


def keep_parent_link(env: MutableMapping[str, str]) -> None:
    """Before this process replaces itself (exec): hand the pipe watch_parent() watches to
    the new program, named in `env`, so that it goes down with the parent too. Nothing
    when this process watches no pipe (prctl's request outlives an exec by itself)."""
    if _watched_fd is None:
        return
    os.set_inheritable(_watched_fd, True)
    env[PARENT_FD_ENV] = str(_watched_fd)


def _wait_for_eof(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    prctl: Callable[..., int] = libc.prctl
    return prctl


def _die_with(prctl: Callable[..., int], parent_pid: int) -> Callable[[], None]:
    """Return the preexec function: ask for SIGTERM at the parent's death; and if the parent
    died before the request took effect, act on it now."""

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec
