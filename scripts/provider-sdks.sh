#!/usr/bin/env bash
# Installs the independent libraries the tests check the service against,
# into target/provider-venv: PyPI's livekit-api (LiveKit's server SDK, which
# signs the provider tests' webhooks, tests/api/providers.rs) and
# standardwebhooks (the Standard Webhooks reference verifier that the test
# receiver checks every outbound webhook with, tests/api/webhooks.rs). Run
# by .ci/run; run it once by hand to run those tests locally (without it
# they say so, and fail under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/provider-venv
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import livekit.api, standardwebhooks' 2>/dev/null; then
  exit 0
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check 'livekit-api==1.2.*' 'standardwebhooks==1.1.*'
"$venv/bin/python" -c 'import livekit.api, standardwebhooks; print("livekit-api and standardwebhooks installed")'
