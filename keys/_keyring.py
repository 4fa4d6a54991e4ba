"""A directory of one authority's keys: one active, the retired ones still published.

Layout::

    <dir>/keyring.json      public metadata: kid, state, created, retired, publish_until
    <dir>/<kid>.pem         private key, mode 0600, PKCS#8 (encrypted with a passphrase if given)

A retired key signs nothing more but stays in the JWKS until the last
certificate it signed has expired (``publish_until``). A withdrawn key stays
published with ``hcert_state: withdrawn`` so that verifiers reject what it
signed with the ``key_withdrawn`` code rather than ``unknown_key``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from hcert_verifier import jwk_from_public_key
from hcert_verifier._files import write_atomic  # the device code's own, network-free helper

from ._signer import SigningKey, generate_signing_key

__all__ = ["KeyRecord", "KeyRing", "KeyRingError"]


class KeyRingError(Exception):
    """The key directory is unusable (missing key file, wrong passphrase, bad metadata)."""


@dataclass(frozen=True)
class KeyRecord:
    """Public metadata of one key."""

    kid: str
    state: str  # active | retired | withdrawn
    created: int
    x: str
    y: str
    retired: int | None = None
    publish_until: int | None = None
    withdrawn: int | None = None
    reason: str | None = None

    def jwk(self, issuer: str | None) -> dict[str, Any]:
        """Return the public JWK with the hcert members."""
        jwk: dict[str, Any] = {"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y, "kid": self.kid}
        jwk.update({"use": "sig", "alg": "ES256", "hcert_state": self.state})
        if issuer is not None:
            jwk["iss"] = issuer
        return jwk


class KeyRing:
    """One authority's signing keys in a directory."""

    def __init__(self, directory: str | os.PathLike[str], *, passphrase: bytes | None = None) -> None:
        self.directory = Path(directory)
        self._passphrase = passphrase
        self._active: SigningKey | None = None
        self._mtime: float | None = None
        self._records = self._load_records()

    # -- metadata -------------------------------------------------------------
    def _load_records(self) -> list[KeyRecord]:
        path = self.directory / "keyring.json"
        try:
            self._mtime = path.stat().st_mtime
        except FileNotFoundError:
            return []
        try:
            raw = json.loads(path.read_text("utf-8"))
            return [KeyRecord(**item) for item in raw["keys"]]
        except (ValueError, KeyError, TypeError) as e:
            raise KeyRingError(f"{path} is not a valid key ring") from e

    def _save(self) -> None:
        body = json.dumps({"keys": [asdict(r) for r in self._records]}, indent=2).encode()
        write_atomic(self.directory / "keyring.json", body)
        self._mtime = (self.directory / "keyring.json").stat().st_mtime

    def _refresh(self) -> None:
        # Another process (a second app instance, the hcert CLI) may have rotated.
        try:
            mtime = (self.directory / "keyring.json").stat().st_mtime
        except FileNotFoundError:
            return
        if mtime != self._mtime:
            self._records = self._load_records()

    @property
    def records(self) -> tuple[KeyRecord, ...]:
        """Return every key's public metadata, newest first."""
        self._refresh()
        return tuple(sorted(self._records, key=lambda r: r.created, reverse=True))

    # -- lifecycle ------------------------------------------------------------
    def ensure(self, *, now: int) -> SigningKey:
        """Return the active key, generating the first one if the ring is empty."""
        if not any(r.state == "active" for r in self._records):
            return self.rotate(now=now, max_validity=0)
        return self.active()

    def active(self) -> SigningKey:
        """Load and return the active signing key."""
        self._refresh()
        record = next((r for r in self._records if r.state == "active"), None)
        if record is None:
            raise KeyRingError(f"no active key in {self.directory}")
        if self._active is None or self._active.kid != record.kid:
            path = self.directory / f"{record.kid}.pem"
            try:
                key = SigningKey.from_pem(path.read_bytes(), passphrase=self._passphrase)
            except OSError as e:
                raise KeyRingError(f"cannot read the active key file {path.name}: {e.strerror}") from e
            except ValueError as e:
                raise KeyRingError(f"cannot load the active key {record.kid}: {e}") from e
            if key.kid != record.kid:
                raise KeyRingError(f"key file {path.name} does not hold key {record.kid}")
            self._active = key
        return self._active

    def signing_key(self, kid: str) -> SigningKey:
        """Load a key that can still sign (active or retired), e.g. for status lists."""
        record = next((r for r in self.records if r.kid == kid), None)
        if record is None or record.state == "withdrawn":
            raise KeyRingError(f"no usable key {kid} in this ring")
        if record.state == "active":
            return self.active()
        try:
            return SigningKey.from_pem((self.directory / f"{kid}.pem").read_bytes(), passphrase=self._passphrase)
        except (OSError, ValueError) as e:
            raise KeyRingError(f"cannot load key {kid}: {e}") from e

    def rotate(self, *, now: int, max_validity: int) -> SigningKey:
        """Make a new active key; the old one retires and stays published for ``max_validity`` seconds."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = generate_signing_key()
        key.write_pem(self.directory / f"{key.kid}.pem", passphrase=self._passphrase)
        jwk = jwk_from_public_key(key.public_key)
        records = [
            replace(r, state="retired", retired=now, publish_until=now + max_validity) if r.state == "active" else r
            for r in self._records
        ]
        records.append(KeyRecord(kid=key.kid, state="active", created=now, x=jwk["x"], y=jwk["y"]))
        self._records = records
        self._save()
        self._active = key
        return key

    def withdraw(self, kid: str, *, now: int, reason: str) -> KeyRecord:
        """Withdraw a key (compromise); if it was active, a new active key is made first."""
        record = next((r for r in self._records if r.kid == kid), None)
        if record is None:
            raise KeyRingError(f"no key {kid} in this ring")
        if record.state == "active":
            self.rotate(now=now, max_validity=0)
        self._records = [
            replace(r, state="withdrawn", withdrawn=now, reason=reason, publish_until=None) if r.kid == kid else r
            for r in self._records
        ]
        self._save()
        # The private key of a withdrawn key has no further use.
        (self.directory / f"{kid}.pem").unlink(missing_ok=True)
        return next(r for r in self._records if r.kid == kid)

    def published(self, *, now: int) -> list[KeyRecord]:
        """Return the keys a JWKS must show at ``now``: active, retired until expiry, withdrawn."""
        return [r for r in self.records if r.state != "retired" or r.publish_until is None or r.publish_until >= now]

    def jwks(self, *, now: int, issuer: str | None = None) -> dict[str, Any]:
        """Return the JWKS document of the published keys."""
        return {"keys": [r.jwk(issuer) for r in self.published(now=now)]}
