"""One error tree: every error hcert raises on purpose is an HcertError with a stable code.

The CLI prints any of them as `hcert: CODE: reason` (docs/API.md), the same codes the API
and the pages show; nothing the project raises on purpose falls through to a generic
handler because its class stands outside the tree.
"""

from __future__ import annotations

import pytest

from app.audit import AuditError
from app.service import ServiceError
from app.settings import SettingsError
from app.store import Conflict, NotFound, OutcomeUnknown, StoreError, StoreUnavailable
from hcert_verifier import BundleError, HcertError, VerificationError
from issuer import ApplicationError
from keys import KeyNotFound, KeyPassphraseError, KeyRingError, NoActiveKey

CLASSES = [
    AuditError,
    SettingsError,
    StoreError,
    NotFound,
    Conflict,
    StoreUnavailable,
    OutcomeUnknown,
    KeyRingError,
    KeyNotFound,
    KeyPassphraseError,
    NoActiveKey,
    ApplicationError,
    BundleError,
    VerificationError,
]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_error_is_in_the_tree_with_its_own_code(cls):
    assert issubclass(cls, HcertError)
    assert cls.code != HcertError.code and cls.code.islower() and " " not in cls.code


def test_codes_are_distinct():
    codes = [cls.code for cls in CLASSES if cls not in (VerificationError,)]
    assert len(codes) == len(set(codes)), codes


def test_a_service_error_keeps_its_code_and_reason():
    e = ServiceError("authority_not_found", "no authority 999999", 404)
    assert isinstance(e, HcertError) and e.code == "authority_not_found" and e.reason == e.message
    assert e.diagnostics() == "authority_not_found: no authority 999999"


def test_a_setting_error_is_still_a_value_error():
    assert issubclass(SettingsError, ValueError)


def test_the_cli_prints_a_store_error_by_its_code(tmp_path, monkeypatch, capsys):
    from app import cli

    def refuse(*args, **kwargs):
        raise Conflict("authority 510321 exists already")

    monkeypatch.setattr(cli, "build_parser", lambda: _parser(refuse))
    assert cli.main(["x"]) == 1
    assert capsys.readouterr().err == "hcert: conflict: authority 510321 exists already\n"


def _parser(func):
    import argparse

    parser = argparse.ArgumentParser(prog="hcert")
    parser.add_argument("x")
    parser.set_defaults(func=func)
    return parser
