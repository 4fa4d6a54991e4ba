"""Settings from the environment (``HCERT_*``), overridable by CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["Settings"]


def _env(name: str, default: str) -> str:
    return os.environ.get(f"HCERT_{name}", default)


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
    base_url: str = field(default_factory=lambda: _env("BASE_URL", "http://127.0.0.1:8000"))
    keys_dir: Path | None = field(default_factory=lambda: Path(p) if (p := os.environ.get("HCERT_KEYS_DIR")) else None)
    key_passphrase: str | None = field(default_factory=lambda: os.environ.get("HCERT_KEY_PASSPHRASE") or None)
    max_body_bytes: int = field(default_factory=lambda: int(_env("MAX_BODY_BYTES", str(2 * 1024 * 1024))))
    max_batch_rows: int = 500
    status_list_ttl: int = field(default_factory=lambda: int(_env("STATUS_TTL", "3600")))
    status_list_validity: int = field(default_factory=lambda: int(_env("STATUS_VALIDITY", str(7 * 86400))))
    #: Secret for the keyed hash of resident ID numbers (lookup without storing them).
    #: Generated into the data directory on first run when not given.
    subject_key: str | None = field(default_factory=lambda: os.environ.get("HCERT_SUBJECT_KEY") or None)
    #: Development material on an empty store (a development authority, a development national
    #: root with its private key in ``<data_dir>/root``, sample rules): only with ``HCERT_DEV=1``
    #: or ``hcert serve --dev``. Never in production.
    #: Seconds between two background pulls of other servers' status lists and rules
    #: (``HCERT_PULL_INTERVAL``; 0, the default, leaves it to ``hcert network pull``).
    pull_interval: float = field(default_factory=lambda: float(_env("PULL_INTERVAL", "0")))
    dev: bool = field(default_factory=lambda: _env("DEV", "").lower() in ("1", "true", "yes", "on"))
    #: Days a new or rotated operator credential stays valid.
    credential_days: int = field(default_factory=lambda: int(_env("CREDENTIAL_DAYS", "90")))
    #: Failed sign-ins are counted in fixed windows of this many seconds...
    signin_window: int = field(default_factory=lambda: int(_env("SIGNIN_WINDOW", "300")))
    #: ...and refused (429) once a client address has failed this often in the window...
    signin_max_per_client: int = field(default_factory=lambda: int(_env("SIGNIN_MAX_PER_CLIENT", "20")))
    #: ...or one credential has.
    signin_max_per_credential: int = field(default_factory=lambda: int(_env("SIGNIN_MAX_PER_CREDENTIAL", "5")))
    #: Who may read ``/metrics``: with a token, requests bearing ``Authorization: Bearer <token>``;
    #: without one, nobody (404). ``HCERT_METRICS_TOKEN`` (docs/OPERATIONS.md, Monitoring).
    metrics_token: str | None = field(default_factory=lambda: os.environ.get("HCERT_METRICS_TOKEN") or None)
    #: ``HCERT_REQUIRE_IDEMPOTENCY_KEY=1``: issuing requests without an ``Idempotency-Key`` are refused
    #: (400 ``idempotency_key_required``); off by default so that older clients keep working.
    require_idempotency_key: bool = field(
        default_factory=lambda: _env("REQUIRE_IDEMPOTENCY_KEY", "").lower() in ("1", "true", "yes", "on")
    )
    #: ``HCERT_REDIS_ACCEPT_LOSS=1``: the operator runs Redis without an append-only file and accepts
    #: losing every write since its last snapshot on a restart; ``/readyz`` then ignores ``appendonly_off``.
    redis_accept_loss: bool = field(
        default_factory=lambda: _env("REDIS_ACCEPT_LOSS", "").lower() in ("1", "true", "yes", "on")
    )
    #: ``HCERT_REDIS_WAIT_REPLICAS=N``: after each write, wait (``WAIT``) until N replicas of the master
    #: have it, at most ``HCERT_REDIS_WAIT_MS`` milliseconds; fewer is 503 ``outcome_unknown``
    #: (docs/SCALE.md section 2). 0 (the default): do not wait.
    redis_wait_replicas: int = field(default_factory=lambda: int(_env("REDIS_WAIT_REPLICAS", "0")))
    redis_wait_ms: int = field(default_factory=lambda: int(_env("REDIS_WAIT_MS", "100")))

    @property
    def key_root(self) -> Path:
        """Return the folder holding one key ring per authority."""
        return self.keys_dir or self.data_dir / "keys"

    def with_overrides(self, **changes: object) -> Settings:
        """Return a copy with the non-None ``changes`` applied."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]
