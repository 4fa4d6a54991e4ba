"""Eligibility rules checked before anything is signed.

Each rule reports a :class:`FieldError` naming its field. The rules follow the
State Council's March 2020 notice: 14+ consecutive days' residence, no
suspicious symptoms, not (or no longer) under quarantine observation; for
freight, a negative test sampled within the configured window.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from stdnum import numdb
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from hcert_verifier import CST, MIN_RESIDENCY_DAYS, PLATE

from ._application import Application, FieldError, FreightTestApplication, ReturnToWorkApplication, value_rules

__all__ = ["IssuePolicy", "check_eligibility", "region_name", "region_prefix"]


@dataclass(frozen=True)
class IssuePolicy:
    """Tunable limits of an issuing office."""

    return_to_work_valid_days: int = 14
    max_valid_days: int = 30
    #: A freight test must have been sampled at most this long before issue.
    freight_test_window_hours: int = 48
    #: A freight certificate is valid this long from sampling.
    freight_valid_hours: int = 72


@functools.lru_cache(maxsize=8192)
def region_name(code: str) -> str | None:
    """Return ``province county`` for a current GB/T 2260 code, or ``None`` if it is not one.

    Uses python-stdnum's maintained table; codes marked as abolished
    (``[-2010]...``) are not current.
    """
    if len(code) != 6 or not code.isdigit():
        return None
    info: dict[str, str] = {}
    for _part, props in numdb.get("cn/loc").info(code):
        info.update(props)
    county = info.get("county")
    if not county or "province" not in info:
        return None
    # A code reused over time lists its names oldest first: "[1983-1989]A,[1990-]B".
    county = county.split(",")[-1]
    if county.startswith("["):
        span, county = county[1:].split("]", 1)
        if not span.endswith("-"):  # an end year: abolished
            return None
    return f"{info['province']} {county}"


def region_prefix(authority: str) -> str:
    """Return the region-code prefix an authority covers: 510300 -> 5103, 510000 -> 51.

    Township authorities (9 or 12 digits) cover their county's 6-digit prefix.
    """
    code = authority[:6]
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


@functools.lru_cache(maxsize=16384)
def _birth_place_known(address: str, year: int) -> bool:
    # python-stdnum's check that the address code existed in the birth year; the
    # table walk is slow, and a township issues for a handful of address codes.
    try:
        ric.get_birth_place(f"{address}{year:04d}01010000")
    except (ValidationError, KeyError):
        # python-stdnum raises KeyError('county') for a code that names a
        # province or prefecture but no county (e.g. 420010).
        return False
    return True


def _check_resident_id(value: str, errors: list[FieldError]) -> None:
    """GB 11643: 17 digits and a check character, a real birth date, an address code of that time."""
    if len(value) != 18 or not value[:17].isdigit():
        errors.append(FieldError("resident_id", "format", "must be an 18-character resident ID number (GB 11643)"))
    elif value[-1] != ric.calc_check_digit(value):
        errors.append(FieldError("resident_id", "checksum", "check digit is wrong (GB 11643)"))
    else:
        try:
            born = ric.get_birth_date(value)
        except ValidationError:
            errors.append(FieldError("resident_id", "birth_date", "has no valid birth date"))
            return
        if not _birth_place_known(value[:6], born.year):
            errors.append(FieldError("resident_id", "address_code", "address code did not exist in the birth year"))


def _check_region(field: str, value: str, errors: list[FieldError]) -> bool:
    if region_name(value) is None:
        errors.append(FieldError(field, "region", "must be a current GB/T 2260 county-level code"))
        return False
    return True


def check_eligibility(
    application: Application,
    *,
    authority: str,
    now: dt.datetime,
    policy: IssuePolicy = IssuePolicy(),
) -> list[FieldError]:
    """Return every rule the application breaks (empty: eligible) at time ``now``."""
    errors: list[FieldError] = value_rules(vars(application))
    today = now.astimezone(CST).date()
    _check_resident_id(application.resident_id, errors)
    if isinstance(application, ReturnToWorkApplication):
        if _check_region(
            "origin_region", application.origin_region, errors
        ) and not application.origin_region.startswith(region_prefix(authority)):
            errors.append(FieldError("origin_region", "scope", f"is outside the area of authority {authority}"))
        if application.resident_since > today - dt.timedelta(days=MIN_RESIDENCY_DAYS):
            errors.append(
                FieldError(
                    "resident_since",
                    "residency",
                    f"must be at least {MIN_RESIDENCY_DAYS} consecutive days before {today.isoformat()}",
                )
            )
        if application.quarantine == "released":
            released = application.quarantine_released_on
            if released is None:
                errors.append(FieldError("quarantine_released_on", "required", "is required when released"))
            elif released > today:
                errors.append(FieldError("quarantine_released_on", "future", "must be on or before the issue date"))
        elif application.quarantine_released_on is not None:
            errors.append(FieldError("quarantine_released_on", "unexpected", "must be empty when never quarantined"))
        if application.destination_province is not None and not (
            len(application.destination_province) == 2 and region_name(application.destination_province + "0000")
        ):
            errors.append(FieldError("destination_province", "region", "must be a 2-digit province code"))
        if application.vehicle_plate is not None and not PLATE.fullmatch(application.vehicle_plate):
            errors.append(FieldError("vehicle_plate", "plate", "is not a mainland vehicle plate"))
        if application.valid_days is not None and application.valid_days > policy.max_valid_days:
            errors.append(FieldError("valid_days", "range", f"must be at most {policy.max_valid_days}"))
    elif isinstance(application, FreightTestApplication):
        if not PLATE.fullmatch(application.vehicle_plate):
            errors.append(FieldError("vehicle_plate", "plate", "is not a mainland vehicle plate"))
        age = now - application.sampled_at
        if age < dt.timedelta(0):
            errors.append(FieldError("sampled_at", "future", "is after the issue time"))
        elif age > dt.timedelta(hours=policy.freight_test_window_hours):
            errors.append(
                FieldError("sampled_at", "too_old", f"must be within {policy.freight_test_window_hours} hours of issue")
            )
        _check_region("route_origin", application.route_origin, errors)
        _check_region("route_destination", application.route_destination, errors)
    return errors
