#!/usr/bin/env bash
# CI entry for the container and deployment: static checks always, then the container smoke test
# when a Docker daemon can be started here (it prints "SKIPPED: <reason>" when it cannot).
#   PYTHON=/path/to/venv/bin/python bash ci/container_checks.sh
# PYTHON (default python3) is the interpreter whose virtualenv holds the pinned lint tools;
# OBJDET_SKIP_CONTAINER_SMOKE=1 skips the smoke test. Exit 1 when any check failed.
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
echo "== container checks: lint"
bash ci/lint_container.sh || status=1
echo "== container checks: smoke test"
if [ "${OBJDET_SKIP_CONTAINER_SMOKE:-0}" = 1 ]; then
  echo "SKIPPED: container smoke test: OBJDET_SKIP_CONTAINER_SMOKE=1"
else
  bash ci/container_smoke.sh || status=1
fi
if [ "$status" -eq 0 ]; then echo "== container checks: passed"; else echo "== container checks: FAILED"; fi
exit "$status"
