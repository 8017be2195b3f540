#!/usr/bin/env bash
# Install everything the tests need (Debian packages, a venv with the project and its
# dev tools) and run lint, type checks and the whole test suite, model tests included.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in espeak-ng sox pg_ctlcluster chromium; do command -v "$tool" >/dev/null || need+=("$tool"); done
if ((${#need[@]})); then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q
    $sudo apt-get install -y -q --no-install-recommends \
        espeak-ng sox libsox-fmt-all postgresql postgresql-client chromium
fi

# The store tests run against SQLite and against this real PostgreSQL server.
eval "$(bash tests/start-postgres.sh | tail -n 1)"
export CALLSCOPE_REQUIRE_PG=1
# The report's browser tests open it in headless Chromium (fail, not skip, without it).
export CALLSCOPE_REQUIRE_BROWSER=1
# The Ray executor's tests run on a local Ray cluster (fail, not skip, without Ray).
export CALLSCOPE_REQUIRE_RAY=1

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev,ray]"

.venv/bin/ruff check engine models api benchmarks tests
.venv/bin/mypy
# pytest exits 5 when it collects no test: that is a failure here too (set -e).
.venv/bin/python -m pytest -q -ra
