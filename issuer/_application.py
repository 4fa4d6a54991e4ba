"""Applications for a certificate, parsed from API JSON or a CSV row.

Parsing checks shape (types, formats); :mod:`issuer._eligibility` checks the
rules. Both report :class:`FieldError` s that name the field, so a township
official sees every problem of a row at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hcert_verifier import HcertError

__all__ = [
    "SYMPTOMS",
    "Application",
    "ApplicationError",
    "FieldError",
    "FreightTestApplication",
    "ReturnToWorkApplication",
    "parse_application",
]

#: Symptoms a holder declares not to have (the State Council's list of suspicious symptoms).
SYMPTOMS = (
    "fever",
    "cough",
    "fatigue",
    "shortness_of_breath",
    "sore_throat",
    "diarrhoea",
    "loss_of_taste_or_smell",
    "muscle_pain",
)
_MAX_TEXT = 64


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: stable code, field name, words."""

    field: str
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """Return the JSON form used by the API and the CLI."""
        return {"field": self.field, "code": self.code, "message": self.message}


class ApplicationError(HcertError):
    """An application was refused; ``errors`` names every field at fault."""

    code = "ineligible"

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class ReturnToWorkApplication:
    """A migrant worker's application for a return-to-work health certificate."""

    name: str
    resident_id: str
    origin_region: str
    resident_since: dt.date
    symptoms: tuple[str, ...]
    quarantine: str  # never | released | under
    quarantine_released_on: dt.date | None
    health_code: str  # green | yellow | red
    destination_province: str | None = None
    employer: str | None = None
    vehicle_plate: str | None = None
    valid_days: int | None = None

    kind = "w"


@dataclass(frozen=True)
class FreightTestApplication:
    """A freight driver's or passenger's test certificate application."""

    name: str
    resident_id: str
    role: str  # driver | passenger
    vehicle_plate: str
    test_kind: str  # nucleic_acid | antigen
    test_result: str  # negative | positive
    sampled_at: dt.datetime
    testing_institution: str
    route_origin: str
    route_destination: str
    no_key_area_passage: bool

    kind = "f"


Application = ReturnToWorkApplication | FreightTestApplication

KIND_NAMES = {"return-to-work": "w", "freight-test": "f"}


class _Reader:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.errors: list[FieldError] = []

    def _err(self, name: str, code: str, message: str) -> None:
        self.errors.append(FieldError(name, code, message))

    def text(self, name: str, *, required: bool = True, upper: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                self._err(name, "required", "is required")
            return None
        if not isinstance(value, str):
            self._err(name, "type", "must be text")
            return None
        value = value.strip()
        if not value or len(value) > _MAX_TEXT or not value.isprintable():
            self._err(name, "format", f"must be printable text of 1 to {_MAX_TEXT} characters")
            return None
        return value.upper() if upper else value

    def choice(self, name: str, choices: tuple[str, ...], *, required: bool = True) -> str | None:
        value = self.text(name, required=required)
        if value is not None and value not in choices:
            self._err(name, "choice", f"must be one of: {', '.join(choices)}")
            return None
        return value

    def date(self, name: str, *, required: bool = True) -> dt.date | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self._err(name, "format", "must be a date YYYY-MM-DD")
            return None

    def datetime(self, name: str) -> dt.datetime | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            self._err(name, "format", "must be an ISO-8601 time with timezone")
            return None
        if parsed.tzinfo is None:
            self._err(name, "format", "must include a timezone, e.g. +08:00")
            return None
        return parsed

    def symptoms(self, name: str) -> tuple[str, ...]:
        value = self.data.get(name, [])
        if value in (None, ""):
            return ()
        if isinstance(value, str):  # CSV: "fever;cough"
            value = [v.strip() for v in value.replace(",", ";").split(";") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self._err(name, "type", "must be a list of symptom names")
            return ()
        unknown = [v for v in value if v not in SYMPTOMS]
        if unknown:
            self._err(name, "choice", f"unknown symptom {unknown[0]!r}; known: {', '.join(SYMPTOMS)}")
        return tuple(value)

    def boolean(self, name: str) -> bool | None:
        value = self.data.get(name)
        if isinstance(value, str):
            value = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(
                value.strip().lower(), value
            )
        if not isinstance(value, bool):
            self._err(name, "type" if value is not None else "required", "must be true or false")
            return None
        return value

    def integer(self, name: str, lo: int, hi: int) -> int | None:
        value = self.data.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if type(value) is not int or not lo <= value <= hi:
            self._err(name, "range", f"must be a whole number from {lo} to {hi}")
            return None
        return value


def parse_application(data: Mapping[str, Any]) -> Application:
    """Parse an application; ``data["kind"]`` is ``return-to-work`` or ``freight-test``.

    Raises :class:`ApplicationError` listing every malformed field.
    """
    if not isinstance(data, Mapping):
        raise ApplicationError([FieldError("", "type", "an application is a JSON object")])
    r = _Reader(data)
    kind = r.choice("kind", tuple(KIND_NAMES))
    name = r.text("name")
    resident_id = r.text("resident_id", upper=True)
    if resident_id is not None and not (
        len(resident_id) == 18 and resident_id[:17].isdigit() and resident_id[17] in "0123456789X"
    ):
        r.errors.append(FieldError("resident_id", "format", "must be an 18-character resident ID number (GB 11643)"))
    if kind == "return-to-work":
        fields: dict[str, Any] = {
            "name": name,
            "resident_id": resident_id,
            "origin_region": r.text("origin_region"),
            "resident_since": r.date("resident_since"),
            "symptoms": r.symptoms("symptoms"),
            "quarantine": r.choice("quarantine", ("never", "released", "under")),
            "quarantine_released_on": r.date("quarantine_released_on", required=False),
            "health_code": r.choice("health_code", ("green", "yellow", "red")),
            "destination_province": r.text("destination_province", required=False),
            "employer": r.text("employer", required=False),
            "vehicle_plate": r.text("vehicle_plate", required=False, upper=True),
            "valid_days": r.integer("valid_days", 1, 30),
        }
        cls: type[ReturnToWorkApplication] | type[FreightTestApplication] = ReturnToWorkApplication
    elif kind == "freight-test":
        fields = {
            "name": name,
            "resident_id": resident_id,
            "role": r.choice("role", ("driver", "passenger")),
            "vehicle_plate": r.text("vehicle_plate", upper=True),
            "test_kind": r.choice("test_kind", ("nucleic_acid", "antigen")),
            "test_result": r.choice("test_result", ("negative", "positive")),
            "sampled_at": r.datetime("sampled_at"),
            "testing_institution": r.text("testing_institution"),
            "route_origin": r.text("route_origin"),
            "route_destination": r.text("route_destination"),
            "no_key_area_passage": r.boolean("no_key_area_passage"),
        }
        cls = FreightTestApplication
    else:
        raise ApplicationError(r.errors)
    # Empty values of another kind's columns are fine (a mixed CSV manifest).
    unknown = {k for k, v in data.items() if k not in fields and k != "kind" and v not in (None, "")}
    for field_name in sorted(unknown):
        r.errors.append(FieldError(field_name, "unknown_field", "is not a field of this kind of application"))
    if r.errors:
        # Report the rules that single values break too, so that one pass shows
        # the official every problem of the row.
        raise ApplicationError(r.errors + value_rules(fields))
    return cls(**fields)


def value_rules(values: Mapping[str, Any]) -> list[FieldError]:
    """Return the eligibility rules broken by single field values (missing values are skipped)."""
    errors = []
    if values.get("symptoms"):
        errors.append(FieldError("symptoms", "symptomatic", f"declared {', '.join(values['symptoms'])}"))
    if values.get("quarantine") == "under":
        errors.append(FieldError("quarantine", "under_quarantine", "is under quarantine observation"))
    if values.get("health_code") == "red":
        errors.append(FieldError("health_code", "red", "a red health code is not eligible"))
    if values.get("test_result") == "positive":
        errors.append(FieldError("test_result", "positive", "only a negative result is certified"))
    if values.get("no_key_area_passage") is False:
        errors.append(
            FieldError("no_key_area_passage", "key_area", "passage through key epidemic areas is not eligible")
        )
    return errors
