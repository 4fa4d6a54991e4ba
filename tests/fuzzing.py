"""Shared Hypothesis settings and mutation strategies of the fuzz tests.

The default profile ``ci`` is derandomized (the same examples on every run) and
small, so that each fuzz target takes a few seconds. ``HCERT_FUZZ=long`` picks
a larger, randomized run for a developer's machine::

    HCERT_FUZZ=long .venv/bin/python -m pytest tests -k fuzz -q

The million-input run is ``bench/fuzz.py``, a plain mutation loop.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import hcert_verifier
from hcert_verifier._errors import __all__ as _ERROR_NAMES
from tests.conftest import VECTORS

_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
}
settings.register_profile("hcert-ci", max_examples=150, derandomize=True, **_COMMON)
settings.register_profile("hcert-long", max_examples=20_000, derandomize=False, **_COMMON)
PROFILE = os.environ.get("HCERT_FUZZ", "ci")
if PROFILE not in ("ci", "long"):
    raise RuntimeError(f"HCERT_FUZZ must be ci or long, not {PROFILE!r}")
#: Decorator for every fuzz test.
fuzz = settings.get_profile(f"hcert-{PROFILE}")

#: Every vector, as loaded from tests/vectors/{valid,invalid}.
CASES: list[dict[str, Any]] = [
    json.loads(p.read_text("utf-8")) for p in sorted([*VECTORS.glob("valid/*.json"), *VECTORS.glob("invalid/*.json")])
]
VALID_CASES = [c for c in CASES if c["expected"]["valid"]]
#: The only texts that may ever verify: a valid vector's token or QR text, byte for byte
#: (and the QR text of the token of the vector whose input is a bare token).
ACCEPTED = frozenset(c[k] for c in VALID_CASES for k in ("token", "qr_text") if k in c) | frozenset(
    hcert_verifier.qr_encode(c["token"]) for c in VALID_CASES if "token" in c
)
#: Every stable failure code of the verifier.
CODES = frozenset(getattr(hcert_verifier, n).code for n in _ERROR_NAMES)

TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

#: A character a damaged print or a careless caller might produce.
chars = st.one_of(
    st.sampled_from(TOKEN_ALPHABET + ".=+/ \n\t"),
    st.sampled_from("0123456789"),
    st.characters(codec="utf-8"),
    st.characters(min_codepoint=0x80, max_codepoint=0x10FFFF, codec="utf-8"),
)


@st.composite
def edited(draw: st.DrawFn, text: str, alphabet: st.SearchStrategy[str] = chars) -> str:
    """Return ``text`` with 1-6 characters replaced, cut, inserted or a slice removed."""
    out = list(text)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["replace", "cut", "insert", "slice", "truncate"]))
        i = draw(st.integers(0, max(len(out) - 1, 0)))
        if op == "replace" and out:
            out[i] = draw(alphabet)
        elif op == "cut" and out:
            del out[i]
        elif op == "insert":
            out.insert(i, draw(alphabet))
        elif op == "slice" and out:
            j = draw(st.integers(i, min(len(out), i + 64)))
            del out[i:j]
        elif op == "truncate":
            del out[i:]
    return "".join(out)


def flip_bytes(data: bytes, positions: list[tuple[int, int]]) -> bytes:
    """Return ``data`` with each (index, mask) XORed in (index modulo length)."""
    if not data:
        return data
    out = bytearray(data)
    for index, mask in positions:
        out[index % len(out)] ^= mask
    return bytes(out)


flips = st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(1, 255)), min_size=1, max_size=4)

#: Small JSON values, including the awkward ones (huge ints, deep nesting, non-ASCII).
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(10**40), max_value=10**40),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


def never_raises(target: Callable[[], Any], allowed: tuple[type[BaseException], ...]) -> Any:
    """Call ``target``; an exception of the ``allowed`` types is returned, any other propagates."""
    try:
        return target()
    except allowed as e:
        return e
