"""`rota dev`: one command for a laptop: a server on an SQLite file and local workers.

The server and each worker are child processes in sessions of their own, so a Ctrl-C in
the terminal reaches only this supervisor, which then stops them in order: workers drain
first (their results still reach the server), then the server stops. Each child is also tied
to the supervisor (rota.cli.orphans), so that it stops even when the supervisor is killed
with SIGKILL and cannot stop it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from rota.cli.common import ALLOWED_HOSTS_HELP, EXIT_FAILURE, error_line, state
from rota.cli.orphans import ParentLink
from rota.cli.output import stderr
from rota.client_urls import DEFAULT_URL, TOKEN_VARIABLE
from rota.clock import SYSTEM_CLOCK
from rota.errors import InvalidInput, RotaError, ServerNotTrusted

if TYPE_CHECKING:
    from rota.settings import WorkerSettings

# The settings (pydantic), the store, the client (httpx) and anyio are imported by the
# command when it runs, so that `rota --help` and the other commands do not load them.

TICK_S = 0.2
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
RESTART_BASE_S = 1.0
RESTART_MAX_S = 30.0
HEALTHY_RUN_S = 60.0
"""A worker that ran this long before dying restarts without backoff."""


DEV_TOKEN_NAME = "rota dev (revoked when it stops)"

DEV_FLAGS = {
    "port": "--port",
    "host": "--host",
    "db": "--db",
    "imports": "--import",
    "concurrency": "--concurrency",
    "drain_grace_s": "--drain-grace",
    "allow_http": "--allow-http",
    "allowed_hosts": "--allowed-hosts",
}
"""The flag that sets each key, named in errors."""


def dev(
    ctx: typer.Context,
    workers: Annotated[int, typer.Option("--workers", "-w", min=0, help="Worker processes.")] = 2,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port to listen on (default: 8077).")
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default: 127.0.0.1, this machine only).")
    ] = None,
    db: Annotated[str | None, typer.Option(help="The SQLite file (default: rota.db).")] = None,
    imports: Annotated[
        list[str] | None,
        typer.Option("--import", "-i", metavar="MODULE", help="Task module for the workers."),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", "-c", min=1, help="Jobs each worker runs at once (default: 4)."
        ),
    ] = None,
    drain_grace: Annotated[
        float | None,
        typer.Option(min=0, help="Seconds workers get to finish jobs when stopping (default: 30)."),
    ] = None,
    allow_shell: Annotated[
        bool,
        typer.Option("--allow-shell", help="Let the workers run rota.shell and rota.crash."),
    ] = False,
    allow_http: Annotated[
        str | None,
        typer.Option(
            "--allow-http",
            metavar="HOSTS",
            help="Hosts the workers' rota.http may call (comma list, *.domain patterns; "
            "default: none).",
        ),
    ] = None,
    demo: Annotated[
        bool, typer.Option(help="Submit a trickle of demo jobs, to watch the dashboard live.")
    ] = False,
    allowed_hosts: Annotated[
        str | None,
        typer.Option(
            metavar="HOSTS",
            help=ALLOWED_HOSTS_HELP,
        ),
    ] = None,
) -> None:
    """Run a server on an SQLite file and local workers; Ctrl-C drains and stops them.

    Flags over ROTA_* variables over rota.toml over defaults, as for `rota server` and
    `rota worker`.
    """
    import anyio

    from rota.settings import is_loopback, load_settings

    settings = load_settings(
        {
            "port": port,
            "host": host,
            "db": db,
            "imports": imports or None,
            "concurrency": concurrency,
            "drain_grace_s": drain_grace,
            "ca": state(ctx).ca,
            "allow_shell": True if allow_shell else None,
            "allow_http": allow_http,
            "allowed_hosts": allowed_hosts,
        },
        config_path=state(ctx).config,
        flags=DEV_FLAGS,
    )
    port, host, db = settings.server.port, settings.server.host, settings.store.db
    drain_grace = settings.worker.drain_grace_s
    if port == 0:
        raise InvalidInput("rota dev needs a fixed port: server.port is 0")
    check_port_free(host, port)
    connect_host = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host
    # With [tls] files in rota.toml or ROTA_CERTFILE and ROTA_KEYFILE, the server it starts
    # serves HTTPS: everything here then talks to it so, verified with tls.ca.
    scheme = "https" if settings.tls.enabled else "http"
    url = f"{scheme}://{_bracket(connect_host)}:{port}"
    command = [sys.executable, "-m", "rota.cli.main"]
    config = state(ctx).config
    if config is not None:  # the children read the settings no flag here hands them from it too
        command += ["--config", str(config.resolve())]
    server_argv = [*command, "server", "--db", db, "--host", host, "--port", str(port)]
    own_token = secret = None
    if is_loopback(host):
        server_argv.append("--anonymous")
        stderr().print(
            f"[yellow]no tokens: anyone on this machine who can reach {connect_host}:{port} "
            f"may do everything (bind to another address and tokens are required)[/]"
        )
    else:
        # The children and the demo use a token of this run's own, revoked when it ends.
        secret, own_token = anyio.run(_own_token, db)
        os.environ[TOKEN_VARIABLE] = secret
    link = ParentLink()
    if allowed_hosts is not None:
        server_argv += ["--allowed-hosts", ",".join(settings.server.allowed_hosts)]
    server = Child(link=link, label="server", argv=server_argv)
    worker_argv = [*command, "worker", *worker_arguments(settings.worker, url)]
    if settings.tls.ca is not None:
        worker_argv += ["--ca", str(settings.tls.ca.resolve())]
    children = [
        Child(link=link, label=f"worker dev-{n}", argv=[*worker_argv, "--name", f"dev-{n}"])
        for n in range(1, workers + 1)
    ]
    supervisor = Supervisor(
        url=url,
        server=server,
        workers=children,
        drain_timeout_s=drain_grace + 5,
        demo=demo,
        ca=settings.tls.ca,
        token=secret,
    )
    if host != connect_host:
        stderr().print(f"[yellow]listening on all interfaces ({host})[/]")
    try:
        code = supervisor.run(db=db)
    finally:
        link.close()
        if own_token is not None:
            anyio.run(_revoke, db, own_token)
    raise typer.Exit(code)


async def _own_token(db: str) -> tuple[str, str]:
    """Make this run's admin token (and the store's first admin token, shown once, if it
    never had one); return its secret and id."""
    from rota.auth.bootstrap import first_admin_notice, first_admin_token
    from rota.auth.tokens import Role, mint
    from rota.store.factory import opened_store

    async with opened_store(db) as store:
        first = await first_admin_token(store)
        if first is not None:
            stderr().print(first_admin_notice(first), markup=False)
        secret, record = mint(
            name=DEV_TOKEN_NAME, role=Role.ADMIN, binding=None, now=await store.now()
        )
        await store.create_token(record)
        return secret, record.id


async def _revoke(db: str, token_id: str) -> None:
    from rota.store.factory import opened_store

    async with opened_store(db) as store:
        await store.revoke_token(token_id)


def worker_arguments(worker: WorkerSettings, url: str) -> list[str]:
    """Return the `rota worker` arguments of each worker `rota dev` starts (its name aside):
    what the dev command was told about workers, passed on as flags."""
    # Workers here are restarted when they exit, so one whose task code will not stop leaves.
    arguments = ["--server", url, "--concurrency", str(worker.concurrency), "--exit-when-stuck"]
    for module in worker.imports:
        arguments += ["--import", module]
    arguments += ["--drain-grace", str(worker.drain_grace_s)]
    if worker.allow_shell:
        arguments.append("--allow-shell")
    if worker.allow_http:
        arguments += ["--allow-http", ",".join(worker.allow_http)]
    return arguments


def check_port_free(host: str, port: int) -> None:
    """Raise InvalidInput if the server could not listen on host:port.

    Checked before anything starts: otherwise the workers and the demo would find whatever
    server already answers there (another `rota dev`) and work for it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InvalidInput(
                f"cannot listen on {host}:{port} ({exc.strerror}): another server may run "
                "there; stop it or give --port"
            ) from None


@dataclass(kw_only=True)
class Child:
    """One supervised process and its restart bookkeeping."""

    label: str
    argv: list[str]
    link: ParentLink | None = None
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None

    def start(self) -> None:
        """Start the process in a session of its own (so Ctrl-C does not reach it), tied to
        this process so that it stops when this one is gone. Call from the main thread: on
        Linux a child is tied to the thread that started it."""
        if self.link is None:
            self.process = subprocess.Popen(self.argv, start_new_session=True)
        else:
            self.process = self.link.popen(self.argv, start_new_session=True)
        self.started_at = SYSTEM_CLOCK.monotonic()
        self.restart_at = None

    def exit_code(self) -> int | None:
        """Return the exit code if the process has ended, else None."""
        return None if self.process is None else self.process.poll()

    def signal(self, signum: int) -> None:
        """Send a signal if the process still runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def wait(self, timeout_s: float) -> bool:
        """Wait for the process to end; tell whether it did."""
        if self.process is None:
            return True
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True


@dataclass(kw_only=True)
class Supervisor:
    """Starts the server, then the workers; restarts workers that die; stops in order."""

    url: str
    server: Child
    workers: list[Child]
    drain_timeout_s: float
    demo: bool = False
    ca: Path | None = None
    """The CA file an https:// server is verified with (None: ROTA_CA, else the system's)."""
    token: str | None = None
    """This run's own token, which a server not on loopback requires (None: it wants none)."""
    stop: threading.Event = field(default_factory=threading.Event)
    signals: int = 0

    def run(self, *, db: str) -> int:
        """Run until a signal or the server's death; return the exit code."""
        previous = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            return self._run(db)
        finally:
            self._shutdown()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals += 1
        if self.signals == 1:
            stderr().print("\n[bold]stopping:[/] draining the workers (Ctrl-C again to kill)")
        else:
            for child in (*self.workers, self.server):
                child.signal(signal.SIGKILL)
        self.stop.set()

    def _run(self, db: str) -> int:
        self.server.start()
        if not self._wait_ready():
            return EXIT_FAILURE
        self._banner(db)
        for worker in self.workers:
            worker.start()
        if self.demo:
            from rota.cli.demo import start_demo

            start_demo(self.url, self.stop, ca=self.ca)
            stderr().print("[dim]demo: submitting a few jobs every second[/]")
        while not self.stop.wait(TICK_S):
            code = self.server.exit_code()
            if code is not None:
                typer.echo(error_line(f"the server {_ended(code)}"), err=True)
                return EXIT_FAILURE
            for worker in self.workers:
                self._supervise(worker)
        return 0

    def _wait_ready(self) -> bool:
        from rota.sync import Client

        deadline = SYSTEM_CLOCK.monotonic() + READY_TIMEOUT_S
        with Client(self.url, timeout_s=1.0, ca=self.ca) as client:
            while not self.stop.is_set():
                code = self.server.exit_code()
                if code is not None:
                    message = f"the server {_ended(code)} before it was ready"
                    typer.echo(error_line(message), err=True)
                    return False
                try:
                    client.health()
                    return True
                except ServerNotTrusted as exc:  # waiting will not change the certificate
                    typer.echo(error_line(exc.message), err=True)
                    return False
                except RotaError:
                    pass
                if SYSTEM_CLOCK.monotonic() > deadline:
                    typer.echo(error_line(f"the server at {self.url} did not start"), err=True)
                    return False
                self.stop.wait(TICK_S)
        return False

    def _banner(self, db: str) -> None:
        console = stderr()
        url = escape(self.url)
        server_flag = "" if self.url == DEFAULT_URL else f"-s {url} "
        # A server that wants tokens refuses the command without one: it names this run's.
        token_flag = "" if self.token is None else f"--token {escape(self.token)} "
        console.print(
            f"[bold]Rota dev[/]  ·  db: {escape(db)}  ·  {len(self.workers)} worker(s)\n"
            f"Dashboard and API: [bold cyan]{url}[/]  ·  docs: {url}/docs"
        )
        # On one line however narrow the terminal, so that it can be copied as it is.
        console.print(
            f"Try:  rota {server_flag}{token_flag}submit rota.sha256 Hello --wait", soft_wrap=True
        )
        if self.token is not None:
            console.print("[dim](the token is this run's own: it is revoked when it stops)[/]")
        console.print("[dim]Ctrl-C drains the workers and stops the server.[/]")

    def _supervise(self, worker: Child) -> None:
        now = SYSTEM_CLOCK.monotonic()
        if worker.restart_at is not None:
            if now >= worker.restart_at:
                stderr().print(f"restarting {worker.label}")
                worker.start()
            return
        code = worker.exit_code()
        if code is None:
            return
        ran_s = now - worker.started_at
        worker.failures = 0 if ran_s >= HEALTHY_RUN_S else worker.failures + 1
        delay_s = min(RESTART_MAX_S, RESTART_BASE_S * 2 ** max(0, worker.failures - 1))
        worker.restart_at = now + delay_s
        stderr().print(f"[yellow]{worker.label} {_ended(code)}; restarting in {delay_s:g}s[/]")

    def _shutdown(self) -> None:
        running = [w for w in self.workers if w.exit_code() is None and w.process is not None]
        for worker in running:
            worker.signal(signal.SIGTERM)
        deadline = SYSTEM_CLOCK.monotonic() + self.drain_timeout_s
        for worker in running:
            if not worker.wait(max(0.0, deadline - SYSTEM_CLOCK.monotonic())):
                stderr().print(f"[yellow]{worker.label} did not stop in time; killing it[/]")
                worker.signal(signal.SIGKILL)
                worker.wait(STOP_TIMEOUT_S)
        self.server.signal(signal.SIGTERM)
        if not self.server.wait(STOP_TIMEOUT_S):
            stderr().print("[yellow]the server did not stop in time; killing it[/]")
            self.server.signal(signal.SIGKILL)
            self.server.wait(STOP_TIMEOUT_S)
        stderr().print("stopped")


def _ended(code: int) -> str:
    """Return how a process ended: "exited with code 1" or "was killed by SIGKILL"."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host
