"""Every error Rota raises. Each docstring is the error's default message."""

from __future__ import annotations


class RotaError(Exception):
    """Rota failed."""

    status_code = 500

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        super().__init__(self.message)


class InvalidInput(RotaError, ValueError):
    """The input is not valid."""

    status_code = 422


class InvalidValue(InvalidInput):
    """The value cannot be carried by a job (see rota.values for what can)."""

    status_code = 422


class MalformedBody(InvalidInput):
    """The request body is not well-formed JSON."""

    status_code = 400


class InvalidCalendar(InvalidInput):
    """The calendar file is not valid iCalendar (RFC 5545); the message names the line."""

    status_code = 422


class JobNotFound(RotaError, LookupError):
    """No job has that id."""

    status_code = 404


class WorkerNotFound(RotaError, LookupError):
    """No worker of that name is connected."""

    status_code = 404


class ScheduleNotFound(RotaError, LookupError):
    """No schedule has that id or name."""

    status_code = 404


class ScheduleExists(RotaError, ValueError):
    """A schedule of that name exists already."""

    status_code = 409


class ScheduleChanged(RotaError):
    """The schedule changed meanwhile; read it again and retry."""

    status_code = 409


class IdempotencyConflict(RotaError):
    """The idempotency key is held by a job submitted with a different task, arguments or
    options."""

    status_code = 409


class InvalidTransition(RotaError, ValueError):
    """The job is not in a state that allows this."""

    status_code = 409


class JobStopping(InvalidTransition):
    """The job's last attempt is still stopping on its worker; try again once it stopped."""


class StaleLease(RotaError):
    """The lease token is no longer valid: the job was reaped, cancelled or claimed again."""

    status_code = 409


class UnknownTask(RotaError, LookupError):
    """No worker has registered a task of that name."""

    status_code = 422


class TaskNotAllowed(RotaError, PermissionError):
    """This worker does not allow that task."""

    status_code = 403


class ProtocolError(RotaError):
    """The peer sent a message that does not follow the worker protocol."""

    status_code = 400


class JobFailed(RotaError):
    """The job failed."""

    def __init__(self, message: str | None = None, *, traceback: str | None = None) -> None:
        super().__init__(message)
        self.traceback = traceback


class JobCancelled(RotaError):
    """The job was cancelled."""


class JobExpired(RotaError):
    """The job's deadline passed before it could start."""


class TaskInterrupted(BaseException):
    """The task was asked to stop: its job was cancelled or timed out, or its worker drains.

    A worker raises it inside a sync task's thread. Like KeyboardInterrupt it is not an
    Exception, so `except Exception:` in a task does not swallow it; clean up in `finally:`.
    """

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip().splitlines()[0])


class TimeoutExpired(RotaError, TimeoutError):
    """The wait ended before the job finished."""


class StoreClosed(RotaError):
    """The store is not open."""

    status_code = 503


class ServerUnavailable(RotaError, ConnectionError):
    """The Rota server cannot be reached."""

    status_code = 503


class ServerNotTrusted(ServerUnavailable):
    """The server's TLS certificate could not be verified: a client or worker will not talk
    to it until it is given the CA that signed it, or the certificate is fixed."""


class WorkerNameTaken(RotaError):
    """Another live worker (or device) connected under this worker's name, and the server
    closed this one's connection: two processes must not share a name, or each would take
    the other's place for ever."""

    MESSAGE = "replaced by a newer connection"
    """What the server says to the connection it closes for the newer one."""


class Unauthenticated(RotaError):
    """No valid token: send `Authorization: Bearer <token>` (see `rota tokens create`)."""

    status_code = 401


class Forbidden(RotaError, PermissionError):
    """The token's role does not allow this."""

    status_code = 403


class TokenNotFound(RotaError, LookupError):
    """No token has that id."""

    status_code = 404
