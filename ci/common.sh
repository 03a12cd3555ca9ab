# Shared settings for the ci/*.sh scripts (sourced, not run).
# Everything slow to make (virtualenv, Debian tree, Docker's image store) is cached outside the clone,
# beside .ci/run's virtualenvs, so repeated CI runs stay fast.
CI_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CI_CACHE=${OBJDET_CI_CACHE:-${CI_VENV_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/objdet-ci}}
# The image name the smoke test builds; the base image name is read from the Dockerfile.
CI_IMAGE=${OBJDET_CI_IMAGE:-objdet-node:ci}
# A short, fixed run folder: containerd's socket paths must stay under 108 characters.
CI_DOCKER_RUN=${OBJDET_DOCKER_RUN:-/tmp/objdet-dockerd}
CI_DOCKER_SOCK=$CI_DOCKER_RUN/docker.sock
CI_DOCKER_DATA=${OBJDET_DOCKER_DATA:-$CI_CACHE/docker-data}

say() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

# The base image named by the Dockerfile's (only) FROM line.
dockerfile_base() { awk 'toupper($1) == "FROM" { print $2; exit }' "$CI_REPO/Dockerfile"; }
