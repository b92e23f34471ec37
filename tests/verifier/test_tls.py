"""TLS and mutual TLS on a real verifier: a throwaway CA made here with ``cryptography``, a
server certificate for 127.0.0.1/localhost, client certificates from that CA and from another.
The right certificates work; a client without a certificate (under mTLS), with one from another
CA, or trusting another CA is refused."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pausewatch.v1 import verifier_pb2, verifier_pb2_grpc
from tests.verifier.harness import World
from verifier.config import TlsConfig
from verifier.server import build_server


@dataclass(frozen=True)
class Issued:
    cert: bytes  # PEM
    key: bytes  # PEM


@dataclass(frozen=True)
class Authority:
    name: str
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def create(cls, name: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(name, key, cert)

    def issue(self, common_name: str, *, server: bool) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        return Issued(
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )


@dataclass(frozen=True)
class Pki:
    ca: Authority
    other_ca: Authority
    server: Issued
    client: Issued
    stranger: Issued  # a client certificate from the other CA


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca, other = Authority.create("pausewatch test CA"), Authority.create("someone else's CA")
    return Pki(
        ca,
        other,
        ca.issue("verifier", server=True),
        ca.issue("attestor-1", server=False),
        other.issue("attestor-x", server=False),
    )


def _write(tmp: Path, pki: Pki, *, mutual: bool) -> TlsConfig:
    (tmp / "server.crt").write_bytes(pki.server.cert)
    (tmp / "server.key").write_bytes(pki.server.key)
    (tmp / "server.key").chmod(0o600)  # a TLS private key readable by others is refused
    (tmp / "ca.crt").write_bytes(pki.ca.pem)
    return TlsConfig(tmp / "server.crt", tmp / "server.key", tmp / "ca.crt" if mutual else None)


async def _call(port: int, host: str, trust: bytes, client: Issued | None) -> grpc.StatusCode:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=trust,
        private_key=client.key if client else None,
        certificate_chain=client.cert if client else None,
    )
    async with grpc.aio.secure_channel(f"{host}:{port}", credentials) as channel:
        stub = verifier_pb2_grpc.VerifierStub(channel)
        try:
            await stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=20)
        except grpc.aio.AioRpcError as e:
            return e.code()
    return grpc.StatusCode.OK


def _serve_and_call(
    tmp: Path, tls: TlsConfig, calls: list[tuple[str, bytes, Issued | None]]
) -> list[grpc.StatusCode]:
    world = World(tmp)

    async def main() -> list[grpc.StatusCode]:
        config = dataclasses.replace(world.config(), tls=tls)
        server = build_server(config, clock=world.clock, keys=world.keys)
        await server.start()
        try:
            return [await _call(server.port, host, trust, client) for host, trust, client in calls]
        finally:
            await server.stop(grace=1.0)

    return asyncio.run(main())


def test_tls_serves_clients_that_trust_its_ca_and_refuses_others(tmp_path: Path, pki: Pki) -> None:
    codes = _serve_and_call(
        tmp_path,
        _write(tmp_path, pki, mutual=False),
        [
            ("127.0.0.1", pki.ca.pem, None),
            ("localhost", pki.ca.pem, None),
            ("127.0.0.1", pki.other_ca.pem, None),  # the client does not trust the server's CA
        ],
    )
    assert codes == [grpc.StatusCode.OK, grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE]


def test_mutual_tls_needs_a_client_certificate_from_the_configured_ca(tmp_path: Path, pki: Pki) -> None:
    codes = _serve_and_call(
        tmp_path,
        _write(tmp_path, pki, mutual=True),
        [
            ("127.0.0.1", pki.ca.pem, pki.client),
            ("127.0.0.1", pki.ca.pem, None),  # no client certificate
            ("127.0.0.1", pki.ca.pem, pki.stranger),  # a client certificate from another CA
            ("127.0.0.1", pki.other_ca.pem, pki.client),  # trusts another CA
        ],
    )
    assert codes[0] == grpc.StatusCode.OK
    assert codes[1:] == [grpc.StatusCode.UNAVAILABLE] * 3
