"""hcert signing keys: P-256 generation, PEM storage, rotation and JWKS export.

Private keys live only in PEM files with mode 0600 (optionally encrypted with a
passphrase). They are never printed, logged or returned by an API; a
:class:`SigningKey` has no method that gives the private key out, and its
``repr`` shows only the kid.
"""

from ._keyring import KeyNotFound, KeyPassphraseError, KeyRecord, KeyRing, KeyRingError, NoActiveKey
from ._signer import SigningKey, generate_signing_key, sign_compact, sign_es256

__all__ = [
    "KeyNotFound",
    "KeyPassphraseError",
    "KeyRecord",
    "KeyRing",
    "KeyRingError",
    "NoActiveKey",
    "SigningKey",
    "generate_signing_key",
    "sign_compact",
    "sign_es256",
]
