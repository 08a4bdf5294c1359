#!/usr/bin/env bash
# Installs the PyPI packages the interop tests use (aiortc, selenium, websockets for the /rtc client,
# jsonschema to validate /rtc traffic against docs/schemas/rtc) when they are missing. Silent and fast when present.
set -euo pipefail
PY=${PYTHON:-python3}
if "$PY" -c 'import aiortc, selenium, websockets.asyncio.client, jsonschema' 2>/dev/null; then exit 0; fi
echo "installing PyPI packages: aiortc selenium websockets jsonschema" >&2
"$PY" -m pip install --quiet --disable-pip-version-check "aiortc==1.16.*" "selenium==4.*" "websockets>=13,<18" "jsonschema==4.*"
