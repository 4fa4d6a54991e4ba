"""Settings from the environment (``HCERT_*``), overridable by CLI flags."""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass, field, replace
from pathlib import Path

from hcert_verifier import HcertError

__all__ = ["Settings", "SettingsError"]

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


class SettingsError(HcertError, ValueError):
    """A setting (an ``HCERT_*`` variable or a flag) has a value hcert cannot use.

    The CLI prints it as ``hcert: invalid_setting: <message>`` and exits 2.
    """

    code = "invalid_setting"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"HCERT_{name}", default)


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = _env(name, str(default)).strip()
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"HCERT_{name} must be a whole number, not {raw[:40]!r}") from None
    if value < minimum:
        raise SettingsError(f"HCERT_{name} must be at least {minimum}, not {value}")
    return value


def _float(name: str, default: float) -> float:
    raw = _env(name, str(default)).strip()
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"HCERT_{name} must be a number, not {raw[:40]!r}") from None
    if not value >= 0 or value == float("inf"):
        raise SettingsError(f"HCERT_{name} must be a number of seconds, 0 or more, not {raw[:40]!r}")
    return value


def _base_url() -> str:
    raw = _env("BASE_URL", "http://127.0.0.1:8000").strip()
    parts = urllib.parse.urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise SettingsError(f"HCERT_BASE_URL must be an http:// or https:// address with a host, not {raw[:60]!r}")
    return raw.rstrip("/")


def _bool(name: str) -> bool:
    raw = _env(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise SettingsError(f"HCERT_{name} must be one of 1, true, yes, on or 0, false, no, off, not {raw[:40]!r}")


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to start.

    ``store`` is ``sqlite`` (embedded default: a file in ``data_dir``) or
    ``redis`` (``redis_url``, for several instances). Keys live under
    ``keys_dir`` (default ``<data_dir>/keys``), which a deployment mounts as a
    volume; ``key_passphrase`` encrypts the PEM files.
    """

    data_dir: Path = field(default_factory=lambda: Path(_env("DATA_DIR", "./data")))
    store: str = field(default_factory=lambda: _env("STORE", "sqlite"))
    redis_url: str = field(default_factory=lambda: _env("REDIS_URL", "redis://127.0.0.1:6379/0"))
    base_url: str = field(default_factory=lambda: _base_url())
    keys_dir: Path | None = field(default_factory=lambda: Path(p) if (p := os.environ.get("HCERT_KEYS_DIR")) else None)
    key_passphrase: str | None = field(default_factory=lambda: os.environ.get("HCERT_KEY_PASSPHRASE") or None)
    max_body_bytes: int = field(default_factory=lambda: _int("MAX_BODY_BYTES", 2 * 1024 * 1024, 1))
    max_batch_rows: int = 500
    status_list_ttl: int = field(default_factory=lambda: _int("STATUS_TTL", 3600))
    status_list_validity: int = field(default_factory=lambda: _int("STATUS_VALIDITY", 7 * 86400, 1))
    #: Secret for the keyed hash of resident ID numbers (lookup without storing them).
    #: Generated into the data directory on first run when not given.
    subject_key: str | None = field(default_factory=lambda: os.environ.get("HCERT_SUBJECT_KEY") or None)
    #: Development material on an empty store (a development authority, a development national
    #: root with its private key in ``<data_dir>/root``, sample rules): only with ``HCERT_DEV=1``
    #: or ``hcert serve --dev``. Never in production.
    #: Seconds between two background pulls of other servers' status lists and rules
    #: (``HCERT_PULL_INTERVAL``; 0, the default, leaves it to ``hcert network pull``).
    pull_interval: float = field(default_factory=lambda: _float("PULL_INTERVAL", 0))
    dev: bool = field(default_factory=lambda: _bool("DEV"))
    #: Days a new or rotated operator credential stays valid.
    credential_days: int = field(default_factory=lambda: _int("CREDENTIAL_DAYS", 90, 1))
    #: Failed sign-ins are counted in fixed windows of this many seconds...
    signin_window: int = field(default_factory=lambda: _int("SIGNIN_WINDOW", 300, 1))
    #: ...and refused (429) once a client address has failed this often in the window...
    signin_max_per_client: int = field(default_factory=lambda: _int("SIGNIN_MAX_PER_CLIENT", 20, 1))
    #: ...or one credential has.
    signin_max_per_credential: int = field(default_factory=lambda: _int("SIGNIN_MAX_PER_CREDENTIAL", 5, 1))
    #: Who may read ``/metrics``: with a token, requests bearing ``Authorization: Bearer <token>``;
    #: without one, nobody (404). ``HCERT_METRICS_TOKEN`` (docs/OPERATIONS.md, Monitoring).
    metrics_token: str | None = field(default_factory=lambda: os.environ.get("HCERT_METRICS_TOKEN") or None)
    #: ``HCERT_REQUIRE_IDEMPOTENCY_KEY=1``: issuing requests without an ``Idempotency-Key`` are refused
    #: (400 ``idempotency_key_required``); off by default so that older clients keep working.
    require_idempotency_key: bool = field(default_factory=lambda: _bool("REQUIRE_IDEMPOTENCY_KEY"))
    #: ``HCERT_REDIS_ACCEPT_LOSS=1``: the operator runs Redis without an append-only file and accepts
    #: losing every write since its last snapshot on a restart; ``/readyz`` then ignores ``appendonly_off``.
    redis_accept_loss: bool = field(default_factory=lambda: _bool("REDIS_ACCEPT_LOSS"))
    #: ``HCERT_REDIS_WAIT_REPLICAS=N``: after each write, wait (``WAIT``) until N replicas of the master
    #: have it, at most ``HCERT_REDIS_WAIT_MS`` milliseconds; fewer is 503 ``outcome_unknown``
    #: (docs/SCALE.md section 2). 0 (the default): do not wait.
    redis_wait_replicas: int = field(default_factory=lambda: _int("REDIS_WAIT_REPLICAS", 0))
    redis_wait_ms: int = field(default_factory=lambda: _int("REDIS_WAIT_MS", 100, 1))

    @property
    def key_root(self) -> Path:
        """Return the folder holding one key ring per authority."""
        return self.keys_dir or self.data_dir / "keys"

    def with_overrides(self, **changes: object) -> Settings:
        """Return a copy with the non-None ``changes`` applied."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]
