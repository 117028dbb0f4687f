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
# The CLI's terminal tests (tests/generator/test_cli_terminal.py) drive dsdeploy in tmux; they
# skip without it, so a failed install warns rather than stops the run.
if ! command -v tmux >/dev/null 2>&1; then
  echo "setup-engines: apt-get install tmux" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends tmux >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends tmux >/dev/null; } \
    || echo "setup-engines: tmux did not install; the terminal tests will skip" >&2
fi
