"""TLS contexts: the server's (its certificate and key, checked before it listens) and the
one clients and workers verify servers with (a private CA, or the system's trust store).

Every problem with the files is an InvalidInput naming the file and what is wrong with it,
so `rota server` and `rota worker` say it in one line instead of OpenSSL's traceback; a
server whose certificate a client cannot verify is a ServerNotTrusted (see tls_error).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from rota.errors import InvalidInput, ServerNotTrusted, ServerUnavailable

SERVER_CIPHERS = (
    "@SECLEVEL=2:ECDH+AESGCM:ECDH+CHACHA20:ECDH+AES:DHE+AES:!aNULL:!eNULL:!aDSS:!SHA1:!AESCCM"
)
"""The TLS 1.2 cipher suites the server offers: Python's own default. Given explicitly, as
the older uvicorn releases that pyproject admits set "TLSv1" instead (CBC suites with SHA-1
only, for a TLS 1.2 client). TLS 1.3 suites are OpenSSL's defaults either way."""

CA_HINT = "give the CA that signed it with --ca FILE (or ROTA_CA, or tls.ca in rota.toml)"


def client_context(ca: Path | str | None = None) -> ssl.SSLContext:
    """Return the context that verifies a server's certificate and host name.

    With `ca` (a PEM file of one or more CA certificates) only those CAs are trusted;
    without, the system's trust store is (OpenSSL's default paths, which SSL_CERT_FILE and
    SSL_CERT_DIR move). Raises InvalidInput naming the file when it is missing, unreadable
    or holds no certificate.
    """
    if ca is None:
        return ssl.create_default_context()
    path = Path(ca)
    _check_readable(path, "CA file")
    try:
        # Given a file, create_default_context loads it instead of the system's store: a
        # private CA replaces the public ones rather than adding to them.
        context = ssl.create_default_context(cafile=str(path))
    except ssl.SSLError as exc:
        raise InvalidInput(f"CA file {path}: holds no PEM certificate ({_reason(exc)})") from None
    except OSError as exc:
        raise InvalidInput(f"CA file {path}: cannot be read ({_reason(exc)})") from None
    return context


def server_context(certfile: Path, keyfile: Path) -> ssl.SSLContext:
    """Return the context the server presents `certfile` with, after checking both files.

    Raises InvalidInput naming the file and the problem: missing or unreadable, not PEM, a
    key that is not the certificate's, a key encrypted with a passphrase (the server has
    nobody to ask for it).
    """
    _check_readable(certfile, "certificate file")
    _check_readable(keyfile, "key file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers(SERVER_CIPHERS)
    asked: list[bool] = []

    def passphrase() -> bytes:
        asked.append(True)  # the key is encrypted; say so rather than prompt on a terminal
        return b""

    try:
        context.load_cert_chain(str(certfile), str(keyfile), password=passphrase)
    except ssl.SSLError as exc:
        raise InvalidInput(_chain_problem(certfile, keyfile, exc, encrypted=bool(asked))) from None
    except OSError as exc:
        raise InvalidInput(f"{certfile} or {keyfile}: cannot be read ({_reason(exc)})") from None
    return context


def _chain_problem(certfile: Path, keyfile: Path, exc: ssl.SSLError, *, encrypted: bool) -> str:
    reason = (exc.reason or "").upper()
    if encrypted:
        return (
            f"key file {keyfile} is encrypted with a passphrase, which the server cannot be "
            f"given: write it unencrypted (openssl pkey -in {keyfile} -out plain-key.pem) and "
            "keep that file readable by the server's user only"
        )
    if "KEY_VALUES_MISMATCH" in reason:
        return f"key file {keyfile} is not the private key of the certificate in {certfile}"
    if not _holds_certificate(certfile):
        return f"certificate file {certfile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
    if (exc.library in {"SSL", "PEM"} and not exc.reason) or "NO_START_LINE" in reason:
        return f"key file {keyfile} holds no PEM private key (-----BEGIN PRIVATE KEY-----)"
    return f"{certfile} and {keyfile}: not a usable certificate and key ({_reason(exc)})"


def _holds_certificate(path: Path) -> bool:
    """Tell whether a file holds at least one PEM certificate OpenSSL can read."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(path))
    except (ssl.SSLError, OSError):
        return False
    return True


def _check_readable(path: Path, what: str) -> None:
    """Raise InvalidInput unless `path` is a file this process can read."""
    try:
        with path.open("rb") as file:
            file.read(1)
    except FileNotFoundError:
        raise InvalidInput(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise InvalidInput(f"{what} {path} is a directory, not a file") from None
    except PermissionError:
        raise InvalidInput(f"{what} {path} cannot be read: permission denied") from None
    except OSError as exc:
        raise InvalidInput(f"{what} {path} cannot be read: {_reason(exc)}") from None


def tls_failure(error: BaseException) -> ssl.SSLError | None:
    """Return the TLS failure behind `error` (its causes and contexts followed), or None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def untrusted_message(url: str, failure: ssl.SSLCertVerificationError) -> str:
    """Return why the server at `url` was not trusted, and what to do about it."""
    reason = failure.verify_message or _reason(failure)
    return f"the certificate of the server at {url} was refused: {reason}; {CA_HINT}"


def handshake_message(url: str, failure: ssl.SSLError) -> str:
    """Return why the TLS handshake with `url` failed, with a hint for a plain HTTP server."""
    reason = _reason(failure)
    hint = ""
    if "WRONG_VERSION_NUMBER" in (failure.reason or "").upper():
        hint = " (the server does not speak TLS there: give its URL as http://)"
    return f"the TLS handshake with the server at {url} failed: {reason}{hint}"


def verify_for(url: str, ca: str | Path | None) -> ssl.SSLContext | bool:
    """Return what httpx verifies `url`'s certificate with: the context of `ca`, or of the
    system's trust store for an https:// URL; True (httpx's default) for a plain one. A
    given CA file is read whatever the URL, so a wrong path is refused at once."""
    if ca is not None or url.startswith("https://"):
        return client_context(ca)
    return True


def tls_refusal(url: str, error: BaseException) -> ServerUnavailable | None:
    """Return the error of a TLS failure behind `error` (see tls_error); None when there is
    none."""
    failure = tls_failure(error)
    return None if failure is None else tls_error(url, failure)


def tls_error(url: str, failure: ssl.SSLError) -> ServerUnavailable:
    """Return ServerNotTrusted when the server's certificate was refused, else
    ServerUnavailable saying why the TLS handshake with `url` failed."""
    if isinstance(failure, ssl.SSLCertVerificationError):
        return ServerNotTrusted(untrusted_message(url, failure))
    return ServerUnavailable(handshake_message(url, failure))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.replace("_", " ").lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
