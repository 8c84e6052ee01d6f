# shellcheck shell=bash
# PostgreSQL for the test suite. Source after scripts/_bootstrap.sh; used by scripts/test.
#
# modqueue_pg_setup
#   Finds a server: MODQUEUE_TEST_PG_ADMIN_URL when it is set and answers; otherwise a local
#   Debian cluster (installs the `postgresql` package when the server is missing, starts a
#   cluster that is down, creates one when there is none; a running one is preferred and
#   MODQUEUE_TEST_PG_CLUSTER=<ver>/<name>, e.g. 15/main, picks one). Makes sure the login role
#   `modqueue_admin` (SUPERUSER, password) exists, creates the throwaway database
#   modqueue_test_<random> and exports:
#     MODQUEUE_TEST_PG_ADMIN_URL  postgresql+psycopg://modqueue_admin:<pw>@127.0.0.1:<port>/postgres
#     MODQUEUE_TEST_PG_URL        the same, on /modqueue_test_<random>
#     MODQUEUE_TEST_PG_DB         modqueue_test_<random>; pytest fixtures name their per-test
#                                 databases "${MODQUEUE_TEST_PG_DB}_<something>"
# modqueue_pg_cleanup
#   Drops modqueue_test_<random> and every modqueue_test_<random>_* database, then stops the
#   local cluster if a scripts/test run started it and no other run or client still uses it.
#   Never fails.
#
# Concurrent runs (several engineers, one machine) share the cluster:
#   /tmp/modqueue-pg.mutex   exclusive while a run inspects/starts or decides to stop it;
#   /tmp/modqueue-pg-<ver>-<name>.users   held shared by every run using that cluster;
#   /tmp/modqueue-pg-<ver>-<name>.started   pg_postmaster_start_time() of an instance a
#                            scripts/test run started; the last run out stops that instance.

MODQUEUE_PG_ROLE="modqueue_admin"
_PG_LOCK_DIR="/tmp"
_PG_MODE=""       # "", external or local
_PG_DB=""         # the throwaway database, once created
_PG_PSQL_ADMIN="" # libpq URL (no password for local; PGPASSWORD carries it) of the admin db
_PG_PASSWORD=""   # local mode: the role's password
_PG_VER=""
_PG_NAME=""
_PG_PORT=""
_PG_STATE=""
_PG_MUTEX_FD=""
_PG_USERS_FD=""

# --- helpers ----------------------------------------------------------------------------
_pg_as_postgres() {
    if [[ "$(id -un)" == postgres ]]; then
        (cd / && "$@")
    elif [[ ${EUID:-$(id -u)} -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    elif command -v sudo >/dev/null 2>&1; then
        (cd / && sudo -n -u postgres -- "$@")
    else
        modqueue_die "need root, passwordless sudo or the postgres user to run: $*"
    fi
}

# psql on the local cluster as the postgres superuser, over the unix socket.
_pg_local_superuser_psql() {
    _pg_as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$_PG_PORT" -d postgres "$@"
}

# psql as the admin role on a libpq URL.
_pg_admin_psql() {
    if [[ -n "$_PG_PASSWORD" ]]; then
        PGPASSWORD="$_PG_PASSWORD" PGCONNECT_TIMEOUT=10 \
            psql -X -q -v ON_ERROR_STOP=1 -d "$_PG_PSQL_ADMIN" "$@"
    else
        PGCONNECT_TIMEOUT=10 psql -X -q -v ON_ERROR_STOP=1 -d "$_PG_PSQL_ADMIN" "$@"
    fi
}

# postgresql+psycopg://... (SQLAlchemy) -> postgresql://... (libpq)
_pg_libpq_url() {
    local url="$1"
    if [[ "$url" =~ ^(postgresql|postgres)\+[A-Za-z0-9_]+://(.*)$ ]]; then
        url="postgresql://${BASH_REMATCH[2]}"
    fi
    printf '%s' "$url"
}

# Replace the database of a URL, keeping its query string.
_pg_url_with_db() {
    local url="$1" db="$2"
    [[ "$url" =~ ^([A-Za-z0-9+.-]+://[^/?]*)(/[^?]*)?(\?.*)?$ ]] ||
        modqueue_die "cannot parse the database URL in MODQUEUE_TEST_PG_ADMIN_URL"
    printf '%s/%s%s' "${BASH_REMATCH[1]}" "$db" "${BASH_REMATCH[3]:-}"
}

# Run a command without the lock fds, for anything that may outlive this script
# (a server started by it, a stray daemon from the test suite).
modqueue_pg_without_locks() {
    (
        if [[ -n "$_PG_MUTEX_FD" ]]; then exec {_PG_MUTEX_FD}<&-; fi
        if [[ -n "$_PG_USERS_FD" ]]; then exec {_PG_USERS_FD}<&-; fi
        "$@"
    )
}

_pg_random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

_pg_open_lock() { # <file> <variable>: open <file> on a new fd, store its number in <variable>
    local file="$1" lock_fd
    (umask 0 && : >>"$file") 2>/dev/null || true
    # Read-only is enough for flock and works on a file another user created.
    exec {lock_fd}<"$file"
    printf -v "$2" '%s' "$lock_fd"
}

_pg_install_apt() {
    command -v apt-get >/dev/null 2>&1 ||
        modqueue_die "PostgreSQL is not installed and apt-get is not available; set MODQUEUE_TEST_PG_ADMIN_URL"
    modqueue_log "installing $* with apt-get"
    modqueue_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    modqueue_as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >&2
}

_pg_server_installed() {
    command -v pg_lsclusters >/dev/null 2>&1 &&
        command -v pg_ctlcluster >/dev/null 2>&1 &&
        command -v pg_createcluster >/dev/null 2>&1 &&
        command -v psql >/dev/null 2>&1 &&
        compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

_pg_start_time() { _pg_local_superuser_psql -Atc 'SELECT pg_postmaster_start_time()'; }
_pg_marker() { printf '%s/modqueue-pg-%s-%s.started' "$_PG_LOCK_DIR" "$_PG_VER" "$_PG_NAME"; }

# Sets _PG_VER _PG_NAME _PG_PORT and _PG_STATE (online, down or none), preferring
# a running cluster to a stopped one; only clusters whose binaries exist.
_pg_pick_cluster() {
    local ver name port status best_on="" best_down="" only="${MODQUEUE_TEST_PG_CLUSTER:-}"
    while read -r ver name port status _; do
        [[ -x "/usr/lib/postgresql/$ver/bin/postgres" ]] || continue
        [[ -z "$only" || "$only" == "$ver/$name" ]] || continue
        # Within a state the newest version wins, but a cluster named "main" beats others.
        case "$status" in
            online*) [[ "$best_on" == *" main "* && "$name" != main ]] || best_on="$ver $name $port" ;;
            down*) [[ "$best_down" == *" main "* && "$name" != main ]] || best_down="$ver $name $port" ;;
        esac
    done < <(pg_lsclusters -h 2>/dev/null || true)
    if [[ -n "$best_on" ]]; then
        read -r _PG_VER _PG_NAME _PG_PORT <<<"$best_on"
        _PG_STATE=online
    elif [[ -n "$best_down" ]]; then
        read -r _PG_VER _PG_NAME _PG_PORT <<<"$best_down"
        _PG_STATE=down
    else
        _PG_STATE=none
    fi
}

_pg_wait_ready() {
    local i
    for i in $(seq 1 60); do
        pg_isready -q -h 127.0.0.1 -p "$_PG_PORT" -t 2 && return 0
        ((i == 1)) && modqueue_log "waiting for PostgreSQL on 127.0.0.1:$_PG_PORT"
        sleep 1
    done
    modqueue_die "PostgreSQL $_PG_VER/$_PG_NAME does not answer on 127.0.0.1:$_PG_PORT (TCP); check listen_addresses and /var/log/postgresql/postgresql-$_PG_VER-$_PG_NAME.log"
}

# A stable per-user password: concurrent runs must not reset each other's role password.
_pg_password() {
    local dir="${XDG_STATE_HOME:-${HOME:-/root}/.local/state}/modqueue"
    if ! mkdir -p "$dir" 2>/dev/null || [[ ! -w "$dir" ]]; then
        dir="$MODQUEUE_ROOT/.cache"
        mkdir -p "$dir"
    fi
    local file="$dir/pg-admin-password"
    if [[ ! -s "$file" ]]; then
        (umask 077 && set -o noclobber && _pg_random_hex 16 >"$file") 2>/dev/null || true
    fi
    local pw
    pw="$(cat "$file")"
    [[ "$pw" =~ ^[0-9a-f]{32}$ ]] || modqueue_die "unexpected content in $file; delete it"
    printf '%s' "$pw"
}

_pg_setup_local() {
    # The mutex serialises install/start/stop decisions between concurrent runs.
    _pg_open_lock "$_PG_LOCK_DIR/modqueue-pg.mutex" _PG_MUTEX_FD
    flock -w 900 "$_PG_MUTEX_FD" || modqueue_die "timed out waiting for $_PG_LOCK_DIR/modqueue-pg.mutex"
    _PG_MODE=local

    if ! _pg_server_installed; then
        _pg_install_apt postgresql postgresql-client
        _pg_server_installed || modqueue_die "apt-get installed postgresql but its server binaries are still missing"
    fi

    _pg_pick_cluster
    if [[ "$_PG_STATE" == none ]]; then
        local ver name=main
        ver="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' -printf '%h\n' |
            sed 's|^/usr/lib/postgresql/||; s|/bin$||' | sort -V | tail -n 1)"
        if [[ -n "${MODQUEUE_TEST_PG_CLUSTER:-}" ]]; then
            [[ "$MODQUEUE_TEST_PG_CLUSTER" =~ ^([0-9.]+)/([A-Za-z0-9_-]+)$ ]] ||
                modqueue_die "MODQUEUE_TEST_PG_CLUSTER must look like 15/main, not '$MODQUEUE_TEST_PG_CLUSTER'"
            ver="${BASH_REMATCH[1]}" name="${BASH_REMATCH[2]}"
        fi
        modqueue_log "no usable PostgreSQL cluster: creating $ver/$name with pg_createcluster"
        modqueue_as_root pg_createcluster "$ver" "$name" >&2
        _pg_pick_cluster
        [[ "$_PG_STATE" != none ]] || modqueue_die "pg_createcluster $ver $name did not leave a usable cluster"
    fi
    # Every run using this cluster holds its users lock shared, taken under the mutex.
    _pg_open_lock "$_PG_LOCK_DIR/modqueue-pg-$_PG_VER-$_PG_NAME.users" _PG_USERS_FD
    flock -s -w 60 "$_PG_USERS_FD" || modqueue_die "timed out waiting for the users lock of $_PG_VER/$_PG_NAME"
    local marker
    marker="$(_pg_marker)"
    if [[ "$_PG_STATE" == down ]]; then
        modqueue_log "starting PostgreSQL cluster $_PG_VER/$_PG_NAME (port $_PG_PORT); it is stopped again at the end"
        # The postmaster must not inherit our lock fds (it would hold them forever).
        modqueue_pg_without_locks modqueue_as_root pg_ctlcluster "$_PG_VER" "$_PG_NAME" start >&2
        _pg_wait_ready
        # Remember that a scripts/test run started this very instance.
        (umask 0 && _pg_start_time >"$marker.tmp.$$" && mv -f "$marker.tmp.$$" "$marker")
    else
        _pg_wait_ready
        if [[ -f "$marker" && "$(cat "$marker" 2>/dev/null)" != "$(_pg_start_time)" ]]; then
            rm -f "$marker" 2>/dev/null || true # stale: someone restarted it since
        fi
    fi

    _PG_PASSWORD="$(_pg_password)"
    # Idempotent, and safe when two runs race to create the role.
    _pg_local_superuser_psql >/dev/null <<SQL
DO \$\$BEGIN
    CREATE ROLE $MODQUEUE_PG_ROLE;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END\$\$;
ALTER ROLE $MODQUEUE_PG_ROLE WITH LOGIN SUPERUSER PASSWORD '$_PG_PASSWORD';
SQL
    _PG_PSQL_ADMIN="postgresql://$MODQUEUE_PG_ROLE@127.0.0.1:$_PG_PORT/postgres"
    if ! _pg_admin_psql -Atc 'SELECT 1' >/dev/null; then
        modqueue_die "cannot log in as $MODQUEUE_PG_ROLE over TCP 127.0.0.1:$_PG_PORT with a password; pg_hba.conf of $_PG_VER/$_PG_NAME must allow 'host all all 127.0.0.1/32 scram-sha-256' (or md5)"
    fi
    flock -u "$_PG_MUTEX_FD"

    export MODQUEUE_TEST_PG_ADMIN_URL="postgresql+psycopg://$MODQUEUE_PG_ROLE:$_PG_PASSWORD@127.0.0.1:$_PG_PORT/postgres"
}

modqueue_pg_setup() {
    if [[ -n "${MODQUEUE_TEST_PG_ADMIN_URL:-}" ]]; then
        command -v psql >/dev/null 2>&1 || _pg_install_apt postgresql-client
        _PG_PSQL_ADMIN="$(_pg_libpq_url "$MODQUEUE_TEST_PG_ADMIN_URL")"
        if pg_isready -q -t 10 -d "$_PG_PSQL_ADMIN" && _pg_admin_psql -Atc 'SELECT 1' >/dev/null; then
            _PG_MODE=external
            modqueue_log "using the server in MODQUEUE_TEST_PG_ADMIN_URL"
        else
            modqueue_log "WARNING: MODQUEUE_TEST_PG_ADMIN_URL is set but does not answer; using a local cluster instead"
            _PG_PSQL_ADMIN=""
        fi
    fi
    if [[ -z "$_PG_MODE" ]]; then
        _pg_setup_local
    fi

    local db
    db="modqueue_test_$(_pg_random_hex 5)"
    _pg_admin_psql -c "CREATE DATABASE \"$db\" OWNER \"$MODQUEUE_PG_ROLE\"" >/dev/null 2>&1 ||
        _pg_admin_psql -c "CREATE DATABASE \"$db\"" >/dev/null # external admin may have another name
    _PG_DB="$db"
    export MODQUEUE_TEST_PG_DB="$db"
    export MODQUEUE_TEST_PG_URL
    MODQUEUE_TEST_PG_URL="$(_pg_url_with_db "$MODQUEUE_TEST_PG_ADMIN_URL" "$db")"

    local version
    version="$(_pg_admin_psql -Atc 'SELECT version()')"
    if [[ "$_PG_MODE" == local ]]; then
        echo "PostgreSQL: cluster $_PG_VER/$_PG_NAME on 127.0.0.1:$_PG_PORT, test database $db"
    else
        echo "PostgreSQL: MODQUEUE_TEST_PG_ADMIN_URL, test database $db"
    fi
    echo "PostgreSQL version: $version"
}

_pg_drop_databases() {
    [[ -n "$_PG_DB" ]] || return 0
    # \gexec runs each generated statement on its own (DROP DATABASE cannot run in a
    # transaction). Templates must lose their flag before they can be dropped.
    _pg_admin_psql -v db="$_PG_DB" >/dev/null <<'SQL'
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
 WHERE pid <> pg_backend_pid()
   AND (datname = :'db' OR left(datname, length(:'db') + 1) = :'db' || '_');
SELECT format('ALTER DATABASE %I IS_TEMPLATE false', datname),
       format('DROP DATABASE IF EXISTS %I', datname)
       || CASE WHEN current_setting('server_version_num')::int >= 130000
               THEN ' WITH (FORCE)' ELSE '' END
  FROM pg_database
 WHERE datname = :'db' OR left(datname, length(:'db') + 1) = :'db' || '_'
 ORDER BY length(datname) DESC
\gexec
SQL
    local left
    left="$(_pg_admin_psql -v db="$_PG_DB" -At <<'SQL'
SELECT string_agg(datname, ' ') FROM pg_database
 WHERE datname = :'db' OR left(datname, length(:'db') + 1) = :'db' || '_';
SQL
)"
    if [[ -n "$left" ]]; then
        modqueue_log "WARNING: could not drop test databases: $left"
        return 1
    fi
    _PG_DB=""
}

_pg_stop_if_ours() {
    [[ "$_PG_MODE" == local && -n "$_PG_USERS_FD" ]] || return 0
    flock -w 300 "$_PG_MUTEX_FD" || {
        modqueue_log "WARNING: timed out on $_PG_LOCK_DIR/modqueue-pg.mutex; leaving PostgreSQL running"
        return 1
    }
    flock -u "$_PG_USERS_FD"
    local marker
    marker="$(_pg_marker)"
    if [[ -f "$marker" ]]; then
        if ! flock -xn "$_PG_USERS_FD"; then
            modqueue_log "PostgreSQL $_PG_VER/$_PG_NAME left running: another scripts/test run is using it (the last one stops it)"
        elif [[ "$(cat "$marker" 2>/dev/null)" != "$(_pg_start_time 2>/dev/null)" ]]; then
            rm -f "$marker" 2>/dev/null || true # restarted by someone else since: not ours
        else
            local clients
            clients="$(_pg_local_superuser_psql -Atc \
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()" 2>/dev/null || echo '?')"
            if [[ "$clients" == 0 ]]; then
                modqueue_log "stopping PostgreSQL cluster $_PG_VER/$_PG_NAME (started by scripts/test)"
                modqueue_as_root pg_ctlcluster "$_PG_VER" "$_PG_NAME" stop >&2 && rm -f "$marker"
            else
                modqueue_log "PostgreSQL $_PG_VER/$_PG_NAME left running: $clients other client connection(s)"
            fi
        fi
    fi
    flock -u "$_PG_USERS_FD"
    flock -u "$_PG_MUTEX_FD"
}

modqueue_pg_cleanup() {
    local ok=0
    _pg_drop_databases || ok=1
    _pg_stop_if_ours || ok=1
    return "$ok"
}
