"""Example applications: the OpenAPI example, the README's examples/*.json, tests and benchmarks."""

from __future__ import annotations

from typing import Any

__all__ = ["EXAMPLE_DRIVER", "EXAMPLE_WORKER"]

#: A migrant worker of Rong County (510321) going to Guangdong; eligible on 2020-03-10.
EXAMPLE_WORKER: dict[str, Any] = {
    "kind": "return-to-work",
    "name": "张伟明",
    "resident_id": "510321199003071234",
    "origin_region": "510321",
    "resident_since": "2020-01-20",
    "symptoms": [],
    "quarantine": "never",
    "health_code": "green",
    "destination_province": "44",
}

#: A freight driver tested in Wuhan 6 hours before 2020-03-10 09:00 (UTC+8).
EXAMPLE_DRIVER: dict[str, Any] = {
    "kind": "freight-test",
    "name": "李强",
    "resident_id": "420102198506115677",
    "role": "driver",
    "vehicle_plate": "鄂A12345",
    "test_kind": "nucleic_acid",
    "test_result": "negative",
    "sampled_at": "2020-03-10T03:00:00+08:00",
    "testing_institution": "武汉市第一医院检验科",
    "route_origin": "420102",
    "route_destination": "440305",
    "no_key_area_passage": True,
}
