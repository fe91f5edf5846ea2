"""Test PKI made on the fly: a CA and leaf certificates for every TLS failure a probe must name."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Leaf:
    cert_file: Path
    key_file: Path
    not_after: dt.datetime


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    valid: Leaf          # for localhost and 127.0.0.1, signed by the CA
    expired: Leaf
    not_yet_valid: Leaf
    wrong_host: Leaf     # for other.example only
    self_signed: Leaf
    weak_key: Leaf       # 1024-bit RSA, signed by the CA
    ending_soon: Leaf    # valid, but ends in 3 days


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: object) -> None:
    path.write_bytes(key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _leaf(directory: Path, stem: str, issuer_key: object, issuer_name: x509.Name, *,
          names: tuple[str, ...] = ("localhost", "127.0.0.1"), not_before: dt.datetime, not_after: dt.datetime,
          key: object | None = None, self_signed: bool = False) -> Leaf:
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = _name(names[0])
    sans: list[x509.GeneralName] = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if self_signed else issuer_name)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    cert = builder.sign(key if self_signed else issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    leaf = Leaf(directory / f"{stem}.crt", directory / f"{stem}.key", not_after)
    _write_cert(leaf.cert_file, cert)
    _write_key(leaf.key_file, key)
    return leaf


def make_pki(directory: Path) -> Pki:
    """Write a CA and its leaves into `directory` (a pytest tmp dir); ~50 ms with EC keys."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("netwatch test CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - 30 * DAY)
        .not_valid_after(now + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.crt"
    _write_cert(ca_file, ca)

    def leaf(stem: str, **kwargs: object) -> Leaf:
        kwargs.setdefault("not_before", now - DAY)
        kwargs.setdefault("not_after", now + 90 * DAY)
        return _leaf(directory, stem, ca_key, ca_name, **kwargs)  # type: ignore[arg-type]

    return Pki(
        ca_file=ca_file,
        valid=leaf("valid"),
        expired=leaf("expired", not_before=now - 60 * DAY, not_after=now - 2 * DAY),
        not_yet_valid=leaf("not_yet_valid", not_before=now + 2 * DAY, not_after=now + 60 * DAY),
        wrong_host=leaf("wrong_host", names=("other.example",)),
        self_signed=leaf("self_signed", self_signed=True),
        weak_key=leaf("weak_key", key=rsa.generate_private_key(public_exponent=65537, key_size=1024)),
        ending_soon=leaf("ending_soon", not_after=now + 3 * DAY),
    )
