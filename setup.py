"""Build hook of the ``hcert`` wheel: its version and runtime dependencies.

The one version source is ``hcert_verifier.__version__`` (verifier/hcert_verifier/__init__.py).
``hcert`` requires the verifier at exactly that version, so only the wheel built from
the same tree satisfies it: ``scripts/install-wheels`` installs it from that wheel, never
from an index (where the name could belong to someone else).
"""

import ast
from pathlib import Path

from setuptools import setup


def _version() -> str:
    init = Path(__file__).resolve().parent / "verifier" / "hcert_verifier" / "__init__.py"
    for node in ast.parse(init.read_text("utf-8")).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__version__"]:
            return str(ast.literal_eval(node.value))
    raise RuntimeError(f"no __version__ in {init}")


VERSION = _version()

setup(
    version=VERSION,
    install_requires=[
        f"hcert-verifier[image]=={VERSION}",
        "cryptography>=43",  # ECDSA deterministic_signing (RFC 6979)
        "fastapi>=0.110",
        "uvicorn[standard]>=0.29",
        "redis>=5",
        "zxing-cpp>=2.3",  # create_barcode / to_image (QR rendering)
        "python-stdnum>=1.20",
        # The township console: people's passwords (argon2id) and server-rendered pages.
        "argon2-cffi>=23.1",
        "jinja2>=3.1",
    ],
)
