"""A private CA and a server certificate made with trustme, written as the PEM files that
`rota server --tls-cert/--tls-key` and `--ca` read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True, kw_only=True, slots=True)
class TlsFiles:
    """The files of one test PKI, and the trustme objects they came from."""

    ca: Path
    """The CA's certificate: what clients and workers are given with --ca."""
    cert: Path
    """The server's certificate (for the names it was made for)."""
    key: Path
    """The server certificate's private key, unencrypted."""
    authority: trustme.CA
    leaf: trustme.LeafCert

    @property
    def pair(self) -> tuple[Path, Path]:
        """Return (certificate, key), as the live test server takes them."""
        return self.cert, self.key


def make_tls_files(folder: Path, *names: str) -> TlsFiles:
    """Make a CA and a certificate it signed for `names` (default 127.0.0.1 and localhost)
    and write them under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA()
    leaf = authority.issue_cert(*(names or ("127.0.0.1", "localhost")))
    files = TlsFiles(
        ca=folder / "ca.pem",
        cert=folder / "cert.pem",
        key=folder / "key.pem",
        authority=authority,
        leaf=leaf,
    )
    authority.cert_pem.write_to_path(str(files.ca))
    leaf.cert_chain_pems[0].write_to_path(str(files.cert))
    leaf.private_key_pem.write_to_path(str(files.key))
    files.key.chmod(0o600)
    return files
