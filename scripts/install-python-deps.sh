#!/usr/bin/env bash
# Installs the PyPI packages the interop tests use (aiortc, selenium) when they are missing. Silent and
# fast when present.
set -euo pipefail
PY=${PYTHON:-python3}
if "$PY" -c 'import aiortc, selenium' 2>/dev/null; then exit 0; fi
echo "installing PyPI packages: aiortc selenium" >&2
"$PY" -m pip install --quiet --disable-pip-version-check "aiortc==1.16.*" "selenium==4.*"
