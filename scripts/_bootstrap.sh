# shellcheck shell=bash
# Shared helpers for scripts/test and scripts/demo. Source it, do not run it.
#
#   MODQUEUE_ROOT                 absolute path of the repository (the caller cd's there)
#   modqueue_log MSG...           "modqueue: MSG" on stderr
#   modqueue_die MSG...           log "ERROR: MSG" and exit 1
#   modqueue_header MSG...        a short "==> [HH:MM:SS] MSG" step header (UTC) on stdout
#   modqueue_bootstrap_venv [dev] make sure .venv exists and holds `pip install -e .` (or
#                                 `-e '.[dev]'`), reinstalling only when pyproject.toml
#                                 changed since the last install (hash stamp in .venv).

MODQUEUE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"

modqueue_log() { printf 'modqueue: %s\n' "$*" >&2; }
modqueue_die() {
    modqueue_log "ERROR: $*"
    exit 1
}
modqueue_header() { printf '\n==> [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# Run a command as root: directly when we are root, else through `sudo -n` when available.
modqueue_as_root() {
    if [[ ${EUID:-$(id -u)} -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        modqueue_die "need root (or passwordless sudo) to run: $*"
    fi
}

# Install python3-venv when `python3 -m venv` cannot bootstrap pip (Debian without it).
_modqueue_ensure_venv_module() {
    if python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 ||
        modqueue_die "python3 lacks the venv/ensurepip modules; install them (python3-venv)"
    modqueue_log "python3 lacks venv/ensurepip: installing python3-venv with apt-get"
    modqueue_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    modqueue_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
}

modqueue_bootstrap_venv() {
    local want="${1:-}" # "" or "dev"
    local venv="$MODQUEUE_ROOT/.venv"
    local pyproject="$MODQUEUE_ROOT/pyproject.toml"
    local stamp="$venv/.modqueue-install-stamp"

    command -v python3 >/dev/null 2>&1 || modqueue_die "python3 not found on PATH"
    [[ -f "$pyproject" ]] || modqueue_die "no pyproject.toml in $MODQUEUE_ROOT"

    # Two runs at once (test + demo, two terminals) must not pip install over each other.
    local lock_fd
    mkdir -p "$MODQUEUE_ROOT/.cache"
    exec {lock_fd}>>"$MODQUEUE_ROOT/.cache/venv.lock"
    flock "$lock_fd"

    # A venv whose interpreter is gone or broken (python upgraded, moved repo) is rebuilt.
    if [[ -d "$venv" ]] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
        modqueue_log ".venv is broken (its python does not run): recreating it"
        rm -rf "$venv"
    fi
    if [[ ! -x "$venv/bin/python" ]]; then
        _modqueue_ensure_venv_module
        modqueue_log "creating .venv with $(python3 --version 2>&1)"
        python3 -m venv "$venv"
        rm -f "$stamp"
    fi

    local hash extras_done=""
    hash="$(sha256sum "$pyproject" | cut -d' ' -f1)"
    if [[ -f "$stamp" ]]; then
        local stamp_hash stamp_extras
        read -r stamp_hash stamp_extras <"$stamp" || true
        # A dev install also satisfies a plain one.
        if [[ "$stamp_hash" == "$hash" ]] &&
            [[ -z "$want" || "${stamp_extras:-}" == "$want" ]]; then
            extras_done=1
        fi
    fi

    if [[ -z "$extras_done" ]]; then
        local target="."
        [[ -n "$want" ]] && target=".[$want]"
        modqueue_log "installing: pip install -e '$target' (pyproject.toml changed or first run)"
        # --no-compile: no byte-compiling of every installed file up front (a minute of
        # CPU on a fresh venv); Python compiles, and caches, what it imports.
        local -a pip_opts=(--disable-pip-version-check --no-input --no-compile)
        if [[ -n "${CI:-}" || ! -t 1 ]]; then
            pip_opts+=(--progress-bar off)
        fi
        rm -f "$stamp"
        (cd "$MODQUEUE_ROOT" && "$venv/bin/python" -m pip install "${pip_opts[@]}" -q -e "$target")
        printf '%s %s\n' "$hash" "$want" >"$stamp"
    fi

    flock -u "$lock_fd"
    exec {lock_fd}>&-
}
