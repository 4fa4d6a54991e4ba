"""hcert-verifier: verify hcert health certificates offline.

Install on a checkpoint device; it needs only ``cryptography``::

    from hcert_verifier import JwksTrust, Verifier

    verifier = Verifier(JwksTrust.from_file("jwks.json"))
    result = verifier.verify(qr_text)
    if result.valid:
        print(result.certificate.name, result.certificate.masked_id_display)
    else:
        print(result.code, result.reason)
"""

from ._claims import (
    CST,
    KIND_FREIGHT_TEST,
    KIND_RETURN_TO_WORK,
    KINDS,
    MIN_RESIDENCY_DAYS,
    PLATE,
    Certificate,
    StatusReference,
    date_from_int,
    date_to_int,
    mask_resident_id,
    unmask_display,
)
from ._codec import (
    MAX_PAYLOAD,
    MAX_QR_TEXT,
    MAX_TOKEN,
    QR_PREFIX,
    b64url_decode,
    b64url_encode,
    deflate,
    inflate,
    json_compact,
    json_object,
    qr_decode,
    qr_encode,
)
from ._errors import *  # noqa: F403 - the error tree is part of the public API
from ._errors import __all__ as _error_names
from ._jwk import KID_LENGTH, jwk_from_public_key, jwk_thumbprint, kid_for, public_key_from_jwk
from ._jws import ALGORITHM, P256_ORDER
from ._verify import CLOCK_LEEWAY, TYP, Result, Verifier, decode_token, verify_compact_jws
from .bundle import (
    BUNDLE_FORMAT,
    BUNDLE_TYP,
    MAX_BUNDLE_VALIDITY,
    MAX_TRUST_LIST_VALIDITY,
    RULES_TYP,
    TRUST_LIST_TYP,
    Bundle,
    load_roots,
)
from .rules import RuleOutcome, RuleSet
from .status import STATUS_REVOKED, STATUS_SUSPENDED, STATUS_VALID, StatusList, StatusLists, status_list_uri
from .trust import JwksTrust, TrustedKey, TrustSource

__version__ = "2.0.0"

__all__ = [
    "ALGORITHM",
    "BUNDLE_FORMAT",
    "BUNDLE_TYP",
    "MAX_BUNDLE_VALIDITY",
    "MAX_TRUST_LIST_VALIDITY",
    "RULES_TYP",
    "TRUST_LIST_TYP",
    "CLOCK_LEEWAY",
    "CST",
    "KID_LENGTH",
    "KINDS",
    "KIND_FREIGHT_TEST",
    "KIND_RETURN_TO_WORK",
    "MAX_PAYLOAD",
    "MAX_QR_TEXT",
    "MAX_TOKEN",
    "MIN_RESIDENCY_DAYS",
    "P256_ORDER",
    "PLATE",
    "QR_PREFIX",
    "STATUS_REVOKED",
    "STATUS_SUSPENDED",
    "STATUS_VALID",
    "TYP",
    "Bundle",
    "Certificate",
    "JwksTrust",
    "Result",
    "RuleOutcome",
    "RuleSet",
    "StatusList",
    "StatusLists",
    "StatusReference",
    "TrustSource",
    "TrustedKey",
    "Verifier",
    "b64url_decode",
    "b64url_encode",
    "date_from_int",
    "date_to_int",
    "decode_token",
    "deflate",
    "inflate",
    "json_compact",
    "json_object",
    "jwk_from_public_key",
    "jwk_thumbprint",
    "kid_for",
    "load_roots",
    "mask_resident_id",
    "public_key_from_jwk",
    "qr_decode",
    "qr_encode",
    "status_list_uri",
    "unmask_display",
    "verify_compact_jws",
    *_error_names,
]
