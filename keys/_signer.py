"""ES256 signing with low-s normalisation."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from hcert_verifier import P256_ORDER, kid_for

__all__ = ["SigningKey", "generate_signing_key", "sign_es256"]

# RFC 6979 deterministic nonces: no dependence on the signing machine's random
# source (a township office PC), and reproducible test vectors.
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)


def sign_es256(private_key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """Sign ``data`` and return the 64-byte JWS signature r||s with s <= n/2.

    ECDSA is malleable: (r, n - s) verifies too. hcert emits only the low-s
    twin, and its verifier refuses the other, so one certificate has one token.
    """
    r, s = decode_dss_signature(private_key.sign(data, _ECDSA_SHA256))
    if s > P256_ORDER // 2:
        s = P256_ORDER - s
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class SigningKey:
    """A P-256 private key with its hcert kid. The private key never leaves this object."""

    __slots__ = ("_private_key", "kid", "public_key")

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("hcert signing keys are P-256")
        self._private_key = private_key
        self.public_key = private_key.public_key()
        self.kid = kid_for(self.public_key)

    def sign(self, data: bytes) -> bytes:
        """Return the low-s ES256 signature of ``data``."""
        return sign_es256(self._private_key, data)

    def write_pem(self, path: str | os.PathLike[str], *, passphrase: bytes | None = None) -> None:
        """Write the private key as PKCS#8 PEM to a new file with mode 0600.

        Refuses to overwrite an existing file.
        """
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
        )
        pem = self._private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)

    @classmethod
    def from_pem(cls, data: bytes, *, passphrase: bytes | None = None) -> SigningKey:
        """Load a P-256 private key from PEM (``ValueError`` if it is not one)."""
        try:
            key = serialization.load_pem_private_key(data, password=passphrase)
        except TypeError as e:
            raise ValueError("the key file is encrypted and needs a passphrase, or is not encrypted") from e
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("not an EC private key")
        return cls(key)

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"


def generate_signing_key() -> SigningKey:
    """Generate a new P-256 signing key."""
    return SigningKey(ec.generate_private_key(ec.SECP256R1()))


def sign_compact(key: SigningKey, *, typ: str, payload: bytes) -> str:
    """Return a compact JWS (ES256, ``zip: DEF``) of ``payload`` with this ``typ``.

    The signed objects of hcert (certificates, trust lists, rules, bundles) all
    take this one shape, and the verifier opens them with one function.
    """
    from hcert_verifier import b64url_encode, deflate, json_compact

    header = json_compact({"alg": "ES256", "kid": key.kid, "typ": typ, "zip": "DEF"})
    signing_input = f"{b64url_encode(header)}.{b64url_encode(deflate(payload))}"
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode('ascii')))}"
