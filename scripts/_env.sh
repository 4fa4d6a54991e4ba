# Sourced by scripts/serve and scripts/test: make .venv with hcert installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
stamp="$VENV/.hcert-installed"
want="$(cat "$ROOT/pyproject.toml" "$ROOT/setup.py" "$ROOT/verifier/pyproject.toml" | sha256sum | cut -c1-16)-${1:-run}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
have="$(cat "$stamp" 2>/dev/null || true)"
# A test install includes everything a run needs.
if [ "$have" != "$want" ] && [ "$have" != "${want%-run}-test" ]; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  if [ "${1:-run}" = test ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT/verifier[image]" -e "$ROOT[test]"
  else
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT/verifier[image]" -e "$ROOT"
  fi
  echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
