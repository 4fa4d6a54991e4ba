"""hcert issuer library: eligibility checks, signing, QR text and rendering."""

from ._application import (
    SYMPTOMS,
    Application,
    ApplicationError,
    FieldError,
    FreightTestApplication,
    ReturnToWorkApplication,
    parse_application,
)
from ._eligibility import IssuePolicy, check_eligibility, region_name, region_prefix
from ._examples import EXAMPLE_DRIVER, EXAMPLE_WORKER
from ._issue import IssuedCertificate, Issuer, new_jti
from ._render import qr_matrix, qr_version, render_png, render_svg
from ._status import STATUS_LIST_SIZE, StatusBits, sign_status_list

__all__ = [
    "EXAMPLE_DRIVER",
    "EXAMPLE_WORKER",
    "STATUS_LIST_SIZE",
    "SYMPTOMS",
    "Application",
    "ApplicationError",
    "FieldError",
    "FreightTestApplication",
    "IssuePolicy",
    "IssuedCertificate",
    "Issuer",
    "ReturnToWorkApplication",
    "StatusBits",
    "check_eligibility",
    "new_jti",
    "parse_application",
    "qr_matrix",
    "qr_version",
    "region_name",
    "region_prefix",
    "render_png",
    "render_svg",
    "sign_status_list",
]
