#!/usr/bin/env bash
# Make this machine able to run dsdeploy's docker tier: a Docker engine that answers, BuildKit
# (docker buildx), and a Python base image per supported version.
#
# Idempotent and quick when everything is present; harmless where Docker already works (it only
# adds what is missing). Written for Debian hosts without systemd (CI machines, containers); on
# other hosts it reports what is missing instead of guessing a package manager.
#
# Environment:
#   PYTHON                 interpreter with the generator installed (default: .venv/bin/python)
#   DSDEPLOY_BASE_VERSIONS Python versions to prepare bases for (default: "3.11 3.12 3.13")
#   DOCKERD_LOG            where a dockerd started here logs (default: /var/log/dockerd.log)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" # the generator package imports from here even without an installed venv
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[[ -x "$PYTHON" ]] || PYTHON="$(command -v python3)"
BASE_VERSIONS="${DSDEPLOY_BASE_VERSIONS:-3.11 3.12 3.13}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
DEBIAN_SOURCES=/etc/apt/sources.list.d/debian.sources
# Shared with scripts/setup-k8s-tools.sh: both write these two files with identical content, so
# whichever runs first wins and the other finds nothing to change.
SID_SOURCES=/etc/apt/sources.list.d/sid.sources
SID_PIN=/etc/apt/preferences.d/sid-low
START=$SECONDS

log() { printf '[setup-docker +%3ds] %s\n' "$((SECONDS - START))" "$*"; }
die() { printf '[setup-docker] error: %s\n' "$*" >&2; exit 1; }
engine_answers() { docker info >/dev/null 2>&1; }

# apt-get update once per run, and only when something has to be installed.
APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null || die "not a Debian host: install $* by hand"
    if [[ $APT_UPDATED == 0 ]]; then
        log "apt-get update"
        apt-get update -qq
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The first stanza's URIs/Signed-By of the machine's own Debian sources: the mirror this site
# trusts, so no host name is written down here.
first_stanza_field() {
    awk -v key="$1:" '$1 == key { print $2; exit } /^$/ && seen { exit } NF { seen = 1 }' "$DEBIAN_SOURCES"
}
debian_mirror() { first_stanza_field URIs; }

# Write a file when it is absent; one that exists (written by setup-k8s-tools.sh or a person)
# is respected rather than fought over.
write_if_absent() {
    local path=$1 content=$2
    if [[ ! -f $path ]]; then
        printf '%s\n' "$content" >"$path"
        APT_UPDATED=0 # a new source needs a fresh index
        log "wrote $path"
    fi
}

# --- 1. Docker engine -----------------------------------------------------------------------
if engine_answers; then
    log "Docker engine answers: $(docker info --format '{{.ServerVersion}}')"
else
    if ! command -v dockerd >/dev/null; then
        apt_install docker.io
    fi
    log "starting dockerd in the background (log: $DOCKERD_LOG)"
    # No systemd here: detach dockerd from this script so it outlives it (CI runs tests after).
    setsid dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
        engine_answers && break
        sleep 1
    done
    engine_answers || die "dockerd did not answer within 60 s; see $DOCKERD_LOG"
    log "Docker engine answers: $(docker info --format '{{.ServerVersion}}')"
fi

# --- 2. BuildKit client (docker buildx) ----------------------------------------------------
if docker buildx version >/dev/null 2>&1; then
    log "buildx present: $(docker buildx version | head -n1)"
else
    [[ -f $DEBIAN_SOURCES ]] || die "no $DEBIAN_SOURCES: install docker-buildx by hand"
    mirror="$(debian_mirror)"
    keyring="$(first_stanza_field Signed-By)"
    [[ -n $mirror ]] || die "no URIs line in $DEBIAN_SOURCES"
    # bookworm's buildx is too old for the engine's BuildKit features we use; sid's package needs
    # only libc. The low pin keeps every other package on bookworm.
    write_if_absent "$SID_SOURCES" "Types: deb
URIs: $mirror
Suites: sid
Components: main
Signed-By: ${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}"
    write_if_absent "$SID_PIN" "Package: *
Pin: release n=sid
Pin-Priority: 100"
    apt_install -t sid docker-buildx
    docker buildx version >/dev/null 2>&1 || die "docker buildx still not usable after install"
    log "buildx installed: $(docker buildx version | head -n1)"
fi

command -v haproxy >/dev/null || apt_install haproxy # the rolling-update test's load balancer

# --- 3. Base images ---------------------------------------------------------------------------
# The official python:3.X-slim is used when present or pullable; otherwise a local base is
# built from Debian packages (generator.image.base_image), which needs mmdebstrap.
missing="$("$PYTHON" - $BASE_VERSIONS <<'EOF'
import sys
from generator.image.build import choose_base_image
print(" ".join(v for v in sys.argv[1:] if choose_base_image(v) is None))
EOF
)"
if [[ -z $missing ]]; then
    log "base images ready for Python $BASE_VERSIONS"
else
    command -v mmdebstrap >/dev/null || command -v debootstrap >/dev/null || apt_install mmdebstrap
    mirror="$(debian_mirror)"
    # One build per version at once: mostly waiting on the mirror.
    pids=()
    for version in $missing; do
        log "building dsdeploy-base:$version from Debian packages (about a minute)"
        # A subshell, so that `wait` reports the build's status (pipefail), not sed's.
        (
        "$PYTHON" - "$version" "$mirror" <<'EOF' 2>&1 | sed -u "s/^/  [$version] /"
import sys
from generator.image.base_image import build_local_base, recipe_for
from generator.errors import GeneratorError

version, mirror = sys.argv[1], sys.argv[2] or None
try:
    recipe_for(version)
except GeneratorError as exc:  # no way to make this version here: its tests skip saying so
    print(f"not building dsdeploy-base:{version}: {exc}", flush=True)
    sys.exit(0)
ref = build_local_base(version, mirror=mirror, progress=lambda line: print(line, flush=True))
print(f"built {ref}", flush=True)
EOF
        ) &
        pids+=("$!")
    done
    failed=0
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    [[ $failed == 0 ]] || die "a base image build failed (its output is above)"
fi
log "done"
