#!/usr/bin/env bash
# Install and start what the docker and kind tiers need (Docker engine + BuildKit, local base
# images, helm, kind, kubectl). Each step is idempotent and quick when its tool is present.
# Needs root and apt (Debian); elsewhere install the tools yourself (see README) and skip this.
set -euo pipefail
here=$(dirname "$0")
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-engines: needs root on Debian/Ubuntu; skipping (tiers without their engine will skip)" >&2
  exit 0
fi
"$here/setup-docker.sh"
"$here/setup-k8s-tools.sh"
export DEBIAN_FRONTEND=noninteractive

# apt_tier_tool COMMAND PACKAGE TESTS: install PACKAGE from Debian unless COMMAND is on PATH.
# The tiers that need these tools skip without them, so a failed install warns rather than
# stops the run.
apt_tier_tool() {
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "setup-engines: apt-get install $2" >&2
  apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$2" >/dev/null; } \
    || echo "setup-engines: $2 did not install; $3 will skip" >&2
}

# The CLI's terminal tests (tests/generator/test_cli_terminal.py) drive dsdeploy in tmux.
apt_tier_tool tmux tmux "the terminal tests"
# The browser tier (tests/browser) drives Debian's Chromium headless.
apt_tier_tool chromium chromium "the browser tests"
# The podman tier (tests/image/test_podman.py) builds and runs the default image with Podman
# (bookworm: podman 4.3 with buildah 1.28). It copies the local base image from Docker itself.
apt_tier_tool podman podman "the podman tests"
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
# The chart push test (tests/chart/test_chart_push.py) runs Debian's registry (the CNCF
# distribution) with htpasswd auth (apache2-utils); the monitoring tier (tests/monitoring) runs
# Prometheus and checks the chart's rules with promtool (both in Debian's `prometheus`). Each test
# starts its own process on a free port, but the packages' maintainer scripts would start system
# services: a policy-rc.d that answers 101 ("action forbidden") keeps them stopped, unless the
# machine already has one (Debian's container images do).
policy=/usr/sbin/policy-rc.d
planted=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && planted=1
fi
apt_tier_tool docker-registry docker-registry "the chart push test"
apt_tier_tool htpasswd apache2-utils "the chart push test"
apt_tier_tool promtool prometheus "the monitoring tests"
if [ -n "$planted" ]; then rm -f "$policy"; fi
# The apptainer tier (tests/image/test_apptainer.py) turns images into SIF files and runs them.
# Debian's apptainer 1.4.5 (sid) needs glibc 2.38, so on bookworm it does not install and the tier
# skips (installing it with `-t sid` would pull sid's libc6 and base-files onto the host).
# squashfuse lets an unprivileged apptainer mount a SIF instead of unpacking it.
apt_tier_tool apptainer apptainer "the apptainer tests"
apt_tier_tool squashfuse_ll squashfuse "apptainer's SIF mounts (it unpacks instead)"
