#!/usr/bin/env bash
# Installs the video providers' own server SDKs that the provider tests sign
# their webhooks with (tests/api/providers.rs): PyPI's livekit-api, into
# target/provider-venv. Run by .ci/run; run it once by hand to run those
# tests locally (without it they say so, and fail under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/provider-venv
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import livekit.api' 2>/dev/null; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check 'livekit-api==1.2.*'
"$venv/bin/python" -c 'import livekit.api; print("livekit-api installed")'
