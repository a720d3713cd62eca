"""rota.tls: the server's files are checked with one-line reasons; clients trust what they
are told to, and a TLS failure becomes an error that names the server and the cause."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from rota.errors import InvalidInput, ServerNotTrusted, ServerUnavailable
from rota.tls import client_context, server_context, tls_refusal
from tests.tls_files import TlsFiles, make_tls_files


@pytest.fixture
def files(tmp_path: Path) -> TlsFiles:
    return make_tls_files(tmp_path / "pki")


def test_a_certificate_and_its_key_make_a_server_context(files: TlsFiles) -> None:
    context = server_context(files.cert, files.key)
    assert context.protocol == ssl.PROTOCOL_TLS_SERVER


@pytest.mark.parametrize(
    ("which", "expected"),
    [
        ("missing cert", r"certificate file .*nope\.pem does not exist"),
        ("missing key", r"key file .*nope\.pem does not exist"),
        ("cert is a folder", r"certificate file .* is a directory, not a file"),
        ("junk cert", r"certificate file .*junk\.pem holds no PEM certificate"),
        ("junk key", r"key file .*junk\.pem holds no PEM private key"),
        ("swapped", r"certificate file .*key\.pem holds no PEM certificate"),
        ("another key", r"key file .*other-key\.pem is not the private key of the certificate"),
    ],
)
def test_server_files_that_cannot_serve_are_refused_naming_the_file(
    files: TlsFiles, tmp_path: Path, which: str, expected: str
) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a PEM file\n")
    other_key = tmp_path / "other-key.pem"
    make_tls_files(tmp_path / "other").leaf.private_key_pem.write_to_path(str(other_key))
    cert, key = {
        "missing cert": (tmp_path / "nope.pem", files.key),
        "missing key": (files.cert, tmp_path / "nope.pem"),
        "cert is a folder": (tmp_path, files.key),
        "junk cert": (junk, files.key),
        "junk key": (files.cert, junk),
        "swapped": (files.key, files.cert),
        "another key": (files.cert, other_key),
    }[which]
    with pytest.raises(InvalidInput, match=expected):
        server_context(cert, key)


def test_an_encrypted_key_is_refused_instead_of_prompting(files: TlsFiles, tmp_path: Path) -> None:
    key = serialization.load_pem_private_key(files.leaf.private_key_pem.bytes(), None)
    encrypted = tmp_path / "encrypted-key.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(InvalidInput, match="is encrypted with a passphrase"):
        server_context(files.cert, encrypted)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_key_is_refused(files: TlsFiles) -> None:
    files.key.chmod(0)
    with pytest.raises(InvalidInput, match=r"key file .* cannot be read: permission denied"):
        server_context(files.cert, files.key)


def test_a_given_ca_is_the_only_one_trusted(files: TlsFiles) -> None:
    context = client_context(files.ca)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    subjects = [dict(item[0] for item in cert["subject"]) for cert in context.get_ca_certs()]
    assert len(subjects) == 1  # the system's store was not loaded beside it
    assert "trustme" in str(subjects[0])


def test_without_a_ca_the_system_store_verifies() -> None:
    context = client_context(None)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


@pytest.mark.parametrize(
    ("name", "expected"),
    [("nope.pem", "does not exist"), ("junk.pem", "holds no PEM certificate")],
)
def test_a_ca_file_that_cannot_be_used_is_refused(tmp_path: Path, name: str, expected: str) -> None:
    (tmp_path / "junk.pem").write_text("-----BEGIN NOTHING-----\n")
    with pytest.raises(InvalidInput, match=f"CA file .*{name}.*{expected}"):
        client_context(tmp_path / name)


def test_a_refused_certificate_deep_in_a_chain_of_errors_is_found() -> None:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cause.verify_message = "unable to get local issuer certificate"
    try:
        try:
            raise cause
        except ssl.SSLError as exc:
            raise ConnectionError("wrapped") from exc
    except ConnectionError as wrapped:
        error = tls_refusal("https://rota.example:8077", wrapped)
    assert isinstance(error, ServerNotTrusted)
    assert "https://rota.example:8077" in error.message
    assert "unable to get local issuer certificate" in error.message
    assert "--ca FILE" in error.message


def test_a_handshake_with_a_plain_port_says_so() -> None:
    failure = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    failure.reason = "WRONG_VERSION_NUMBER"
    error = tls_refusal("https://rota.example:8077", failure)
    assert type(error) is ServerUnavailable
    assert "wrong version number" in error.message and "http://" in error.message


def test_other_failures_are_not_tls_refusals() -> None:
    assert tls_refusal("https://rota.example", ConnectionRefusedError(111, "refused")) is None
