"""Shared TLS helpers for probes: client contexts, certificate facts and error classes."""

from __future__ import annotations

import functools
import ssl

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from netwatch.fields import FieldError
from netwatch.text import clean

# OpenSSL X509_V_ERR_* codes (x509_vfy.h) that map onto our short error classes.
_VERIFY_CLASSES: dict[int, str] = {
    9: "tls_not_yet_valid",      # CERT_NOT_YET_VALID
    10: "tls_expired",           # CERT_HAS_EXPIRED
    13: "tls_not_yet_valid",     # ERROR_IN_CERT_NOT_BEFORE_FIELD
    14: "tls_expired",           # ERROR_IN_CERT_NOT_AFTER_FIELD
    2: "tls_untrusted",          # UNABLE_TO_GET_ISSUER_CERT
    18: "tls_untrusted",         # DEPTH_ZERO_SELF_SIGNED_CERT
    19: "tls_untrusted",         # SELF_SIGNED_CERT_IN_CHAIN
    20: "tls_untrusted",         # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21: "tls_untrusted",         # UNABLE_TO_VERIFY_LEAF_SIGNATURE
    24: "tls_untrusted",         # INVALID_CA
    26: "tls_untrusted",         # INVALID_PURPOSE
    27: "tls_untrusted",         # CERT_UNTRUSTED
    28: "tls_untrusted",         # CERT_REJECTED
    62: "tls_hostname",          # HOSTNAME_MISMATCH
    63: "tls_hostname",          # EMAIL_MISMATCH
    64: "tls_hostname",          # IP_ADDRESS_MISMATCH
    66: "tls_weak_key",          # EE_KEY_TOO_SMALL
    67: "tls_weak_key",          # CA_KEY_TOO_SMALL
    68: "tls_weak_key",          # CA_MD_TOO_WEAK
}

# What NIST SP 800-57 and OpenSSL security level 2 (Debian's default) accept.
MIN_RSA_BITS = 2048
MIN_EC_BITS = 224

DETAIL_MAX_CHARS = 200


def check_ca_file(path: str, field: str = "ca_file") -> None:
    """For `__post_init__`: a private CA bundle must be readable at load, not at the first handshake."""
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise FieldError(field, f"cannot read {path}: {exc.strerror}") from None


@functools.lru_cache(maxsize=64)
def client_context(verify: bool = True, ca_file: str | None = None) -> ssl.SSLContext:
    """A client context; cached because building one (loading the CA store) costs milliseconds.

    Contexts are only read after creation, so one may be shared by concurrent handshakes.
    With `ca_file` the system store is not loaded: a private CA is trusted instead, not in addition.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify:
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        if ca_file:
            ctx.load_verify_locations(cafile=ca_file)
        else:
            ctx.load_default_certs()
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        # Without verification the operator wants an answer from old kit too.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def classify_ssl_error(exc: BaseException) -> tuple[str, str]:
    """Map an exception raised during a TLS handshake to (error class, capped detail)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = getattr(exc, "verify_code", 0) or 0
        message = getattr(exc, "verify_message", "") or str(exc)
        error = _VERIFY_CLASSES.get(code)
        if error is None:
            lowered = message.lower()
            if "key too small" in lowered or "md too weak" in lowered:
                error = "tls_weak_key"
            elif "hostname" in lowered or "ip address mismatch" in lowered:
                error = "tls_hostname"
            else:
                error = "tls_untrusted"
        return error, clean_detail(f"certificate verification failed: {message}")
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None) or str(exc)
        lowered = str(reason).lower()
        if "key too small" in lowered or "md too weak" in lowered or "dh key too small" in lowered:
            return "tls_weak_key", clean_detail(f"TLS handshake failed: {reason}")
        return "tls", clean_detail(f"TLS handshake failed: {reason}")
    if isinstance(exc, (ConnectionError, EOFError)):
        return "tls", "connection closed during the TLS handshake"
    return "tls", clean_detail(f"TLS handshake failed: {type(exc).__name__}: {exc}")


def leaf_certificate(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> x509.Certificate | None:
    """The peer's leaf certificate, also when verification was switched off."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        return None


def expiry_timestamp_seconds(cert: x509.Certificate) -> float:
    return cert.not_valid_after_utc.timestamp()


def weak_key(cert: x509.Certificate) -> str | None:
    """A sentence if the certificate's public key is below today's minimum, else None."""
    try:
        key = cert.public_key()
    except (ValueError, TypeError):
        return None
    if isinstance(key, (rsa.RSAPublicKey, dsa.DSAPublicKey)) and key.key_size < MIN_RSA_BITS:
        return f"certificate key is {key.key_size}-bit {_key_name(key)}, below {MIN_RSA_BITS}"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS:
        return f"certificate key is a {key.curve.key_size}-bit curve, below {MIN_EC_BITS}"
    return None


def judge_certificate(ssl_object: ssl.SSLObject | ssl.SSLSocket | None,
                      verify: bool) -> tuple[dict[str, float], str | None, str]:
    """After a handshake: (measurements, error class or None, detail) for the leaf certificate.

    OpenSSL already refuses weak keys while verifying at security level 2; this repeats the check
    so the answer does not depend on the host's OpenSSL policy.
    """
    cert = leaf_certificate(ssl_object)
    if cert is None:
        return {}, None, ""
    measurements = {"tls_cert_expiry_timestamp_seconds": expiry_timestamp_seconds(cert)}
    if verify:
        weak = weak_key(cert)
        if weak:
            return measurements, "tls_weak_key", weak
    return measurements, None, ""


def _key_name(key: object) -> str:
    return "RSA" if isinstance(key, rsa.RSAPublicKey) else "DSA"


def clean_detail(text: str, limit: int = DETAIL_MAX_CHARS) -> str:
    """Untrusted text for a detail line: one line, unsafe characters shown as escapes, capped."""
    return clean(text, limit, show=True)
