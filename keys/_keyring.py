"""A directory of one authority's keys: one active, the retired ones still published.

Layout::

    <dir>/keyring.json      public metadata: kid, state, created, retired, publish_until
    <dir>/<kid>.pem         private key, mode 0600, PKCS#8 (encrypted with a passphrase if given)
    <dir>/.lock             the lock every change takes (``fcntl.flock``)

A retired key signs nothing more: its private part is deleted when it retires
(unless the ring keeps retired keys, as the national root does for the
hand-over trust list), and it stays in the JWKS until the last certificate it
signed has expired (``publish_until``), with its retirement time so that
verifiers refuse anything dated after it. A withdrawn key stays published with
``hcert_state: withdrawn`` so that verifiers reject what it signed with the
``key_withdrawn`` code rather than ``unknown_key``.

Several processes share a ring (app instances, the ``hcert`` CLI): every change
takes an exclusive lock on ``.lock``, re-reads ``keyring.json`` under it, and
replaces the file atomically, so no change is lost and readers never see a torn
file.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from hcert_verifier import HcertError, jwk_from_public_key
from hcert_verifier._files import write_atomic  # the device code's own, network-free helper

from ._signer import SigningKey, generate_signing_key

__all__ = ["KeyNotFound", "KeyPassphraseError", "KeyRecord", "KeyRing", "KeyRingError", "NoActiveKey"]

#: Called under the ring's lock with the records about to be saved; raising aborts the change.
Journal = Callable[["KeyRecord"], None]


class KeyRingError(HcertError):
    """The key directory is unusable (missing key file, bad metadata)."""

    code = "keyring_invalid"


class KeyPassphraseError(KeyRingError):
    """The passphrase is missing, wrong, or given for a ring whose keys are not encrypted."""

    code = "key_passphrase_invalid"


class KeyNotFound(KeyRingError):
    """No such key in the ring, or none that can still sign."""

    code = "key_not_found"


class NoActiveKey(KeyRingError):
    """The ring has no active key."""

    code = "no_active_key"


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
        """Return the public JWK with the hcert members (``hcert_state``, ``hcert_retired``)."""
        jwk: dict[str, Any] = {"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y, "kid": self.kid}
        jwk.update({"use": "sig", "alg": "ES256", "hcert_state": self.state})
        if self.retired is not None:
            # Certificates dated after this instant were not signed by this key in its life.
            jwk["hcert_retired"] = self.retired
        if issuer is not None:
            jwk["iss"] = issuer
        return jwk


_RECORD_FIELDS = {f.name for f in fields(KeyRecord)}


def _make_private_dirs(directory: Path) -> None:
    # mkdir(parents=True) gives the parents the default mode; every folder made here is 0700.
    missing = []
    for folder in (directory, *directory.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)


class KeyRing:
    """One authority's signing keys in a directory, safe to share between processes.

    ``passphrase`` encrypts the PEM files; every change first checks it against
    the active key and raises :class:`KeyPassphraseError` (writing nothing) when
    it is missing or wrong. ``keep_retired`` keeps the private part of retired
    keys (the national root needs its old key to sign the hand-over trust list);
    by default it is deleted at retirement.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        passphrase: bytes | None = None,
        keep_retired: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self._passphrase = passphrase or None
        self._keep_retired = keep_retired
        self._active: SigningKey | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._encrypted: bool | None = None
        self._records = self._load_records()

    # -- metadata -------------------------------------------------------------
    @property
    def _path(self) -> Path:
        return self.directory / "keyring.json"

    def _load_records(self) -> list[KeyRecord]:
        try:
            st = self._path.stat()
            text = self._path.read_text("utf-8")
        except FileNotFoundError:
            self._stamp = None
            return []
        except OSError as e:
            raise KeyRingError(f"cannot read {self._path}: {e.strerror}") from e
        try:
            raw = json.loads(text)
            records = [KeyRecord(**{k: v for k, v in item.items() if k in _RECORD_FIELDS}) for item in raw["keys"]]
            encrypted = raw.get("encrypted")
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise KeyRingError(f"{self._path} is not a valid key ring") from e
        self._stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        self._encrypted = encrypted if isinstance(encrypted, bool) else None
        return records

    def _save(self, records: list[KeyRecord]) -> None:
        encrypted = self._passphrase is not None
        body = json.dumps({"encrypted": encrypted, "keys": [asdict(r) for r in records]}, indent=2).encode()
        write_atomic(self._path, body)
        st = self._path.stat()
        self._stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        self._encrypted = encrypted
        self._records = records

    def _refresh(self) -> None:
        # Another process (a second app instance, the hcert CLI) may have changed the ring;
        # the file is replaced by rename, so a new inode or mtime means new content.
        try:
            st = self._path.stat()
        except FileNotFoundError:
            return
        if (st.st_ino, st.st_mtime_ns, st.st_size) != self._stamp:
            self._records = self._load_records()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the ring's exclusive lock and work on the records as they are on disk now."""
        _make_private_dirs(self.directory)
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._records = self._load_records()
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _check_passphrase(self) -> None:
        """Raise :class:`KeyPassphraseError` unless our passphrase opens the ring's keys."""
        active = next((r for r in self._records if r.state == "active"), None)
        pem_path = self.directory / f"{active.kid}.pem" if active else None
        if pem_path is None or not pem_path.exists():
            if self._encrypted is True and self._passphrase is None:
                raise KeyPassphraseError(f"the keys in {self.directory} are encrypted: a passphrase is required")
            if self._encrypted is False and self._passphrase is not None:
                raise KeyPassphraseError(f"the keys in {self.directory} are not encrypted, but a passphrase was given")
            return
        assert active is not None
        self._load_pem(active.kid)

    def _load_pem(self, kid: str) -> SigningKey:
        path = self.directory / f"{kid}.pem"
        try:
            data = path.read_bytes()
        except FileNotFoundError as e:
            raise KeyNotFound(f"the private key of {kid} is not in {self.directory}") from e
        except OSError as e:
            raise KeyRingError(f"cannot read the key file {path.name}: {e.strerror}") from e
        encrypted = b"ENCRYPTED PRIVATE KEY" in data
        if encrypted and self._passphrase is None:
            raise KeyPassphraseError(f"key {kid} is encrypted: a passphrase is required (HCERT_KEY_PASSPHRASE)")
        if not encrypted and self._passphrase is not None:
            raise KeyPassphraseError(f"key {kid} is not encrypted, but a passphrase was given")
        try:
            key = SigningKey.from_pem(data, passphrase=self._passphrase)
        except ValueError as e:
            if encrypted:
                raise KeyPassphraseError(f"the passphrase does not open key {kid}") from e
            raise KeyRingError(f"cannot load key {kid}: {e}") from e
        if key.kid != kid:
            raise KeyRingError(f"key file {path.name} does not hold key {kid}")
        return key

    @property
    def records(self) -> tuple[KeyRecord, ...]:
        """Return every key's public metadata, newest first."""
        self._refresh()
        return tuple(sorted(self._records, key=lambda r: r.created, reverse=True))

    # -- lifecycle ------------------------------------------------------------
    def ensure(self, *, now: int) -> SigningKey:
        """Return the active key, generating the first one if the ring has none.

        Raises :class:`KeyPassphraseError` if the passphrase does not open it.
        """
        self._refresh()
        if not any(r.state == "active" for r in self._records):
            with self._locked():
                if not any(r.state == "active" for r in self._records):
                    self._check_passphrase()
                    return self._rotate(now=now, max_validity=0, journal=None)
        return self.active()

    def active(self) -> SigningKey:
        """Load and return the active signing key.

        Raises :class:`NoActiveKey`, :class:`KeyPassphraseError` or :class:`KeyRingError`.
        """
        self._refresh()
        record = next((r for r in self._records if r.state == "active"), None)
        if record is None:
            raise NoActiveKey(f"no active key in {self.directory}")
        if self._active is None or self._active.kid != record.kid:
            self._active = self._load_pem(record.kid)
        return self._active

    def signing_key(self, kid: str) -> SigningKey:
        """Load a key that can still sign: the active one, or a retired one the ring keeps.

        Raises :class:`KeyNotFound` for a withdrawn key or a retired one whose
        private part was deleted.
        """
        record = next((r for r in self.records if r.kid == kid), None)
        if record is None or record.state == "withdrawn":
            raise KeyNotFound(f"no usable key {kid} in this ring")
        if record.state == "active":
            return self.active()
        return self._load_pem(kid)

    def rotate(self, *, now: int, max_validity: int, journal: Journal | None = None) -> SigningKey:
        """Make a new active key; the old one retires and stays published for ``max_validity`` seconds.

        ``journal(record)`` is called under the lock with the new key's record
        before the ring is saved (the service appends the audit entry there);
        if it raises, the new key is deleted and nothing changes. Raises
        :class:`KeyPassphraseError` (writing nothing) when the passphrase does
        not open the ring's keys.
        """
        with self._locked():
            self._check_passphrase()
            return self._rotate(now=now, max_validity=max_validity, journal=journal)

    def _rotate(
        self, *, now: int, max_validity: int, journal: Journal | None, withdrawn: KeyRecord | None = None
    ) -> SigningKey:
        key = generate_signing_key()
        pem = self.directory / f"{key.kid}.pem"
        key.write_pem(pem, passphrase=self._passphrase)
        try:
            jwk = jwk_from_public_key(key.public_key)
            record = KeyRecord(kid=key.kid, state="active", created=now, x=jwk["x"], y=jwk["y"])
            retiring = [r.kid for r in self._records if r.state == "active"]
            records = []
            for r in self._records:
                if withdrawn is not None and r.kid == withdrawn.kid:
                    records.append(withdrawn)
                elif r.state == "active":
                    records.append(replace(r, state="retired", retired=now, publish_until=now + max_validity))
                else:
                    records.append(r)
            records.append(record)
            if journal is not None:
                journal(withdrawn or record)
            self._save(records)
        except BaseException:
            pem.unlink(missing_ok=True)
            raise
        if not self._keep_retired:
            # A retired key signs nothing more; its private part has no further use.
            for kid in retiring:
                (self.directory / f"{kid}.pem").unlink(missing_ok=True)
        self._active = key
        return key

    def withdraw(self, kid: str, *, now: int, reason: str, journal: Journal | None = None) -> KeyRecord:
        """Withdraw a key (compromise); if it was active, a new active key is made in the same change.

        ``journal`` is called like in :meth:`rotate`, with the withdrawn record.
        Raises :class:`KeyNotFound` for an unknown kid and
        :class:`KeyPassphraseError` (writing nothing) when a new active key is
        needed and the passphrase does not open the ring.
        """
        with self._locked():
            record = next((r for r in self._records if r.kid == kid), None)
            if record is None:
                raise KeyNotFound(f"no key {kid} in this ring")
            if record.state == "withdrawn":
                return record
            withdrawn = replace(record, state="withdrawn", withdrawn=now, reason=reason, publish_until=None)
            if record.state == "active":
                self._check_passphrase()
                self._rotate(now=now, max_validity=0, journal=journal, withdrawn=withdrawn)
            else:
                if journal is not None:
                    journal(withdrawn)
                self._save([withdrawn if r.kid == kid else r for r in self._records])
            # The private key of a withdrawn key must never sign again.
            (self.directory / f"{kid}.pem").unlink(missing_ok=True)
            return withdrawn

    def published(self, *, now: int) -> list[KeyRecord]:
        """Return the keys a JWKS must show at ``now``: active, retired until expiry, withdrawn."""
        return [r for r in self.records if r.state != "retired" or r.publish_until is None or r.publish_until >= now]

    def jwks(self, *, now: int, issuer: str | None = None) -> dict[str, Any]:
        """Return the JWKS document of the published keys."""
        return {"keys": [r.jwk(issuer) for r in self.published(now=now)]}
