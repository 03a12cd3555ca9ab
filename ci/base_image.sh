#!/usr/bin/env bash
# Load a stand-in for the Dockerfile's base image (python:3.11.x-slim-bookworm) into the daemon at
# $DOCKER_HOST, because CI reaches no image registry. The stand-in is a Debian bookworm tree made with
# debootstrap from the machine's own Debian mirror, with Python 3.11, pip and venv laid out like the
# official image (python, python3, pip on PATH in /usr/local/bin), plus this machine's CA bundle and
# pip settings so `pip install` works in the Dockerfile's RUN steps (they run with --network host).
# It is tagged with the base's exact name:tag, so the real Dockerfile builds unchanged with --pull=never.
#
#   DOCKER_HOST=unix://... bash ci/base_image.sh
#
# The tree is cached in $CI_CACHE/base/; the import is skipped when the daemon already holds the
# same stand-in (same tree, CA bundle and pip settings). Never pushed anywhere.
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ -n "${DOCKER_HOST:-}" ] || die "DOCKER_HOST is not set (start ci/docker_daemon.sh first)"
BASE=$(dockerfile_base)
[ -n "$BASE" ] || die "no FROM line in Dockerfile"
SUITE=bookworm
PACKAGES=python3.11,python3-venv,python3-pip,ca-certificates
TREE_VERSION=1  # bump when the way the tree is made changes
tree_key=$(printf '%s %s %s' "$SUITE" "$PACKAGES" "$TREE_VERSION" | sha256sum | cut -c1-12)
TREE=$CI_CACHE/base/$SUITE-$tree_key

# The Debian mirror apt uses here (deb822 or one-line sources), else Debian's own.
debian_mirror() {
  local f files=()
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  [ "${#files[@]}" -gt 0 ] || return 0
  awk -v suite="$SUITE" '
    /^deb / && $3 == suite && $2 !~ /security/ { print $2; exit }
    /^URIs:/ { uri = $2 }
    /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite && uri !~ /security/) { print uri; exit } }
  ' "${files[@]}" 2>/dev/null | head -n 1
}

make_tree() {
  command -v debootstrap >/dev/null || {
    [ "$(id -u)" -eq 0 ] || die "debootstrap is missing and installing it needs root"
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1; } ||
      die "apt-get install debootstrap failed"
  }
  local mirror
  mirror=${DEBIAN_MIRROR:-$(debian_mirror)}
  mirror=${mirror:-http://deb.debian.org/debian}
  say "debootstrap $SUITE from $mirror (once; cached in $TREE)"
  local tmp="$TREE.tmp-$$"
  rm -rf "$tmp"
  mkdir -p "$(dirname "$TREE")"
  if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$tmp" "$mirror" > "$tmp.log" 2>&1; then
    tail -n 20 "$tmp.log" >&2
    rm -rf "$tmp"
    die "debootstrap failed (log above)"
  fi
  rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/* "$tmp.log"
  mv "$tmp" "$TREE"
}

# The CA bundle this machine's pip and Python trust (it may hold a proxy's CA).
host_ca_bundle() {
  local f
  for f in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" "${REQUESTS_CA_BUNDLE:-}" /etc/ssl/certs/ca-certificates.crt; do
    if [ -n "$f" ] && [ -f "$f" ]; then echo "$f"; return 0; fi
  done
}

# pip settings for the container: the CA bundle, the timeout, and any http(s) index this machine uses
# (file:// indexes and find-links are paths on this machine only, so they are left out).
pip_conf() {
  local py=${PYTHON:-python3} line key value
  echo "[global]"
  echo "cert = /etc/ssl/certs/ca-certificates.crt"
  echo "timeout = ${PIP_DEFAULT_TIMEOUT:-120}"
  echo "disable-pip-version-check = true"
  "$py" -m pip config list 2>/dev/null | while IFS= read -r line; do
    key=${line%%=*}; value=${line#*=}; value=${value#\'}; value=${value%\'}
    case "${key#*.}" in
      index-url|extra-index-url|trusted-host)
        value=$(tr ' ' '\n' <<< "$value" | { grep -E '^(https?://|[A-Za-z0-9.-]+$)' || true; } | tr '\n' ' ')
        if [ -n "${value// /}" ]; then echo "${key#*.} = ${value% }"; fi ;;
    esac
  done | sort -u
  if [ -n "${PIP_INDEX_URL:-}" ]; then echo "index-url = $PIP_INDEX_URL"; fi
  if [ -n "${PIP_EXTRA_INDEX_URL:-}" ]; then echo "extra-index-url = $PIP_EXTRA_INDEX_URL"; fi
}

customise_tree() {
  local ca=$1 conf=$2
  install -m 644 "$ca" "$TREE/etc/ssl/certs/ca-certificates.crt"
  install -m 644 "$conf" "$TREE/etc/pip.conf"
  # The official image's layout: its own Python in /usr/local/bin, no "externally managed" marker.
  mkdir -p "$TREE/usr/local/bin"
  ln -sfn /usr/bin/python3.11 "$TREE/usr/local/bin/python"
  ln -sfn /usr/bin/python3.11 "$TREE/usr/local/bin/python3"
  ln -sfn /usr/bin/pip3 "$TREE/usr/local/bin/pip"
  ln -sfn /usr/bin/pip3 "$TREE/usr/local/bin/pip3"
  rm -f "$TREE"/usr/lib/python3*/EXTERNALLY-MANAGED
}

[ -x "$TREE/usr/bin/python3.11" ] || make_tree
ca=$(host_ca_bundle)
[ -n "$ca" ] || die "no CA bundle found on this machine"
conf=$(mktemp)
trap 'rm -f "$conf"' EXIT
pip_conf > "$conf"
key=$( { echo "$tree_key"; sha256sum < "$ca"; cat "$conf"; } | sha256sum | cut -c1-16)

if [ "$(docker image inspect -f '{{index .Config.Labels "org.objdet.stand-in"}}' "$BASE" 2>/dev/null || true)" = "$key" ]; then
  say "stand-in $BASE already loaded ($key)"
  exit 0
fi
customise_tree "$ca" "$conf"
say "importing the stand-in as $BASE"
tar -C "$TREE" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf - . |
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change "LABEL org.objdet.stand-in=$key" \
    --change 'CMD ["python3"]' \
    - "$BASE" >/dev/null
docker run --rm --network none "$BASE" sh -c 'python --version && pip --version && python -m venv --help >/dev/null' >&2 ||
  die "the stand-in's python, pip or venv does not work"
say "stand-in $BASE loaded"
