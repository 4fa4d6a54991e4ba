"""What a device remembers between bundles, so that trust material never goes backwards.

A device keeps, in ``state.json`` in its data folder, the highest version it has
accepted of every signed object (the bundle, the trust list, each province's
rules, each status list by URI), with a digest of that version's content, and
the key withdrawals bundles announced. A new bundle is refused when any object
in it is older than what was accepted (``*_rollback``), has the same version
with other content (``version_reused``), or leaves out an announced withdrawal
that no newer root-signed trust list has superseded (``withdrawal_dropped``).
So whoever holds only the online bundle-signer key can delay news (until the
bundle in hand expires) but never undo a revocation or a withdrawal.

The file is replaced atomically, and every read-check-write holds a file lock
(``state.lock``), so two syncs at once never lose an update.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import (
    BundleError,
    BundleExpired,
    BundleIssuedInFuture,
    BundleRollback,
    FreshnessRollback,
    RulesRollback,
    StatusListRollback,
    TrustListExpired,
    TrustListRollback,
    VersionReused,
    WithdrawalDropped,
)
from ._files import locked, write_atomic
from .bundle import INDEX_FORMAT, Bundle, Versioned, is_address

__all__ = ["STATE_FORMAT", "DeviceState", "admit", "check_fresh"]

STATE_FORMAT = "hcert-device-state/1"
_MAX_STATE = 16 * 1024 * 1024


def check_fresh(bundle: Bundle, *, now: int, leeway: int) -> None:
    """Refuse a bundle issued after ``now`` (beyond ``leeway``) or already expired at ``now``.

    Raises :class:`BundleIssuedInFuture`, :class:`BundleExpired` or, when
    the root-signed trust list inside has expired, :class:`TrustListExpired`.
    """
    if bundle.issued_at > now + leeway:
        raise BundleIssuedInFuture(f"the bundle is issued at {bundle.issued_at}, after the device time {now}")
    if now >= bundle.expires:
        raise BundleExpired(f"the bundle expired at {bundle.expires}")
    if now >= bundle.trust_list_expires:
        raise TrustListExpired(
            f"the trust list (version {bundle.trust_list_version}) expired at {bundle.trust_list_expires}"
        )


def _compare(what: str, new: Versioned, old: Mapping[str, Any] | None, rollback: type[BundleError]) -> None:
    if old is None:
        return
    if new.version < old["version"]:
        raise rollback(f"{what} version {new.version} is older than version {old['version']} the device accepted")
    if new.version == old["version"] and new.digest != old["digest"]:
        raise VersionReused(f"{what} version {new.version} differs from the one the device accepted")


@dataclass
class DeviceState:
    """The highest accepted version of each signed object, and the sticky withdrawals.

    ``withdrawn`` maps a kid to the trust list version in force when a bundle
    announced its withdrawal; a trust list of a higher version supersedes it.
    """

    bundle: dict[str, Any] | None = None
    #: The accepted index of parts (``hcert-index/1``): its own version counter, like ``bundle``.
    index: dict[str, Any] | None = None
    trust_list: dict[str, Any] | None = None
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    status_lists: dict[str, dict[str, Any]] = field(default_factory=dict)
    withdrawn: dict[str, int] = field(default_factory=dict)
    #: Each province's freshness statement (docs/FORMAT.md section 7.5).
    fresh: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- file ---------------------------------------------------------------------
    @staticmethod
    def path(data_dir: Path) -> Path:
        """Return the state file of a data folder."""
        return data_dir / "state.json"

    @classmethod
    def read(cls, data_dir: Path) -> DeviceState:
        """Read the state of a data folder (empty when there is none); raise :class:`BundleError` if damaged."""
        path = cls.path(data_dir)
        try:
            with open(path, "rb") as f:
                raw = json.loads(f.read(_MAX_STATE))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as e:
            raise BundleError(f"the device state {path} is unreadable; restore it or start a new data folder") from e
        try:
            if raw.get("format") != STATE_FORMAT:
                raise ValueError(raw.get("format"))
            return cls(
                bundle=raw.get("bundle"),
                index=raw.get("index"),
                trust_list=raw.get("trust_list"),
                rules=dict(raw.get("rules") or {}),
                status_lists=dict(raw.get("status_lists") or {}),
                withdrawn={str(k): int(v) for k, v in (raw.get("withdrawn") or {}).items()},
                fresh=dict(raw.get("fresh") or {}),
            )
        except (AttributeError, TypeError, ValueError) as e:
            raise BundleError(f"the device state {path} is not an {STATE_FORMAT} file") from e

    def write(self, data_dir: Path) -> None:
        """Replace the state file atomically."""
        body = {
            "format": STATE_FORMAT,
            "bundle": self.bundle,
            "index": self.index,
            "trust_list": self.trust_list,
            "rules": self.rules,
            "status_lists": self.status_lists,
            "withdrawn": self.withdrawn,
            "fresh": self.fresh,
        }
        write_atomic(self.path(data_dir), json.dumps(body, indent=1, sort_keys=True).encode())

    @classmethod
    @contextmanager
    def locked(cls, data_dir: Path) -> Iterator[DeviceState]:
        """Hold the data folder's state lock; yield the state as read under it."""
        data_dir.mkdir(parents=True, exist_ok=True)
        with locked(data_dir / "state.lock"):
            yield cls.read(data_dir)

    # -- rules ---------------------------------------------------------------------
    def check(self, bundle: Bundle) -> None:
        """Refuse a bundle that would take the device backwards; raise the specific :class:`BundleError`.

        An identical bundle (same version, same content) passes.
        """
        what, held = ("index", self.index) if bundle.format == INDEX_FORMAT else ("bundle", self.bundle)
        _compare(what, Versioned(bundle.version, bundle.digest), held, BundleRollback)
        if held is not None and bundle.issued_at < held.get("issued_at", 0):
            raise BundleRollback(f"the {what} is issued before the {what} the device accepted")
        _compare(
            "trust list",
            Versioned(bundle.trust_list_version, bundle.trust_list_digest),
            self.trust_list,
            TrustListRollback,
        )
        for province, versioned in bundle.rule_versions.items():
            _compare(f"rules of province {province}", versioned, self.rules.get(province), RulesRollback)
        for uri, versioned in bundle.status_versions.items():
            _compare(f"status list {uri}", versioned, self.status_lists.get(uri), StatusListRollback)
        for province, versioned in bundle.fresh_versions.items():
            _compare(
                f"freshness statement of province {province}", versioned, self.fresh.get(province), FreshnessRollback
            )
        for kid, trust_version in sorted(self.withdrawn.items()):
            if trust_version < bundle.trust_list_version:
                continue  # a newer root-signed trust list has the last word on this key
            key = bundle.key(kid)
            if key is not None and key.state != "withdrawn":
                raise WithdrawalDropped(f"key {kid} was withdrawn by an earlier bundle; this one trusts it again")

    def record(self, bundle: Bundle) -> None:
        """Remember a bundle as accepted (call :meth:`check` first)."""
        accepted = {"version": bundle.version, "issued_at": bundle.issued_at, "digest": bundle.digest}
        if bundle.format == INDEX_FORMAT:
            self.index = accepted
        else:
            self.bundle = accepted
        self.trust_list = {"version": bundle.trust_list_version, "digest": bundle.trust_list_digest}
        for province, versioned in bundle.rule_versions.items():
            self.rules[province] = {"version": versioned.version, "digest": versioned.digest}
        for uri, versioned in bundle.status_versions.items():
            self.status_lists[uri] = {"version": versioned.version, "digest": versioned.digest}
        for province, versioned in bundle.fresh_versions.items():
            self.fresh[province] = {"version": versioned.version, "digest": versioned.digest}
        withdrawn = {k: v for k, v in self.withdrawn.items() if v >= bundle.trust_list_version}
        for kid in bundle.withdrawn:
            withdrawn[kid] = max(withdrawn.get(kid, 0), bundle.trust_list_version)
        self.withdrawn = withdrawn


def admit(
    data_dir: Path, bundle: Bundle, *, now: int, leeway: int, store: bytes | None = None, parts: Path | None = None
) -> None:
    """Check a bundle against the device state and, if it passes, record it (and write ``store``).

    Under the state lock: freshness (:func:`check_fresh`), versions
    (:meth:`DeviceState.check`), then the bundle file (``bundle.json``, or
    ``index.json`` for an index, the other one removed) and the state are
    replaced. With ``parts`` (the folder of an index's parts), the files there that the
    admitted index does not name are deleted under the same lock, so that a sync running
    beside this one never loses the parts of the index in force. Raises the specific
    :class:`BundleError` or :class:`BundleExpired`.
    """
    check_fresh(bundle, now=now, leeway=leeway)
    with DeviceState.locked(data_dir) as state:
        state.check(bundle)
        if store is not None:
            # One of the two is in force: the file last accepted (an index's parts are stored before).
            name, other = (
                ("index.json", "bundle.json") if bundle.format == INDEX_FORMAT else ("bundle.json", "index.json")
            )
            write_atomic(data_dir / name, store)
            (data_dir / other).unlink(missing_ok=True)
        state.record(bundle)
        state.write(data_dir)
        if parts is not None and bundle.format == INDEX_FORMAT and parts.is_dir():
            for old in parts.iterdir():
                # Only parts (named by their hash): never a file another sync is still writing.
                if is_address(old.name) and old.name not in bundle.parts:
                    old.unlink(missing_ok=True)
