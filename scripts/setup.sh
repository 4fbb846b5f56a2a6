#!/usr/bin/env bash
# `make setup`: the shared, idempotent set-up behind `make demo` and `make test`.
#
#   1. system packages (Debian/Ubuntu, only those missing; `apt-get update` only when something
#      must be installed): PostgreSQL (when no local server exists and DATABASE_URL names this
#      machine), PostGIS for that PostgreSQL major version, GDAL, Chromium (+ driver), and
#      Node.js/npm when package.json exists and npm does not;
#   2. a running local PostgreSQL cluster that accepts the DATABASE_URL role;
#   3. the virtual environment .venv with `pip install -e .[dev]`, re-run only when pyproject.toml
#      changed since the last install;
#   4. the browser libraries the app serves itself (`npm ci` from package-lock.json, re-run only
#      when it changed);
#   5. the database (created when missing) with the postgis extension, migrations, fixtures
#      (scripts/setup_db.py).
#
# Usage: scripts/setup.sh [all|venv]   ("venv" stops after step 3; lint/format use it)
# Environment:
#   DATABASE_URL                  target database (default postgis://postgres@127.0.0.1:5432/geo_ops);
#                                 a non-local host skips installing/starting a local server
#   GEO_OPS_SETUP_DRY_RUN=1       only report which packages would be installed / clusters started
#   GEO_OPS_SKIP_SYSTEM_PACKAGES=1  never call apt-get (you manage PostgreSQL/PostGIS/GDAL yourself)
#   GEO_OPS_BROWSER_PACKAGES      browser packages (default: chromium chromium-driver; "" skips)
#   PYTHON                        interpreter for the venv (default: first python3 >= 3.11 found)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

MODE=${1:-all}
[[ $MODE == all || $MODE == venv ]] || die "usage: $0 [all|venv]"
DRY_RUN=${GEO_OPS_SETUP_DRY_RUN:-0}
STARTED=$SECONDS
APT_UPDATED=0
PLANNED=0 # packages installed (or, in a dry run, to be installed) by this run

parse_database_url "$(database_url)"

# One set-up at a time in this checkout: `make demo` and `make test` started together would
# otherwise run pip in the same venv at once.
mkdir -p var
exec 9>var/.setup.lock
if ! flock -n 9; then
    info "another set-up is running in this checkout; waiting for it"
    flock 9
fi

# --- helpers ----------------------------------------------------------------------------------
# Both close fd 9 (the set-up lock): a daemon started from here (pg_ctlcluster, or a package's
# post-install script without systemd) would inherit it and hold the lock for ever.
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@" 9>&-
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@" 9>&-
    else
        die "this step needs root (or sudo): $*"
    fi
}

as_postgres() { # runs a command as the postgres OS user (peer authentication on the socket)
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@" 9>&-)
    else
        (cd / && sudo -u postgres "$@" 9>&-)
    fi
}

have_apt() { command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; }

# Installed means dpkg's status is "ii". Only real package names work here, not virtual ones:
# a virtual name would never look installed and would be reinstalled on every run.
pkg_installed() { [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) == ii* ]]; }

# apt_want REASON PACKAGE...: queues the packages that are not installed; apt_flush installs the
# queue in one apt-get call. Nothing runs (not even `apt-get update`) when all are present.
APT_QUEUE=()
APT_REASONS=()
apt_want() {
    local why=$1 p
    shift
    local missing=()
    for p in "$@"; do
        pkg_installed "$p" || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    APT_QUEUE+=("${missing[@]}")
    APT_REASONS+=("${missing[*]} ($why)")
}

apt_flush() {
    ((${#APT_QUEUE[@]})) || return 0
    local queue=("${APT_QUEUE[@]}") reasons
    reasons=$(printf '%s, ' "${APT_REASONS[@]}")
    reasons=${reasons%, }
    APT_QUEUE=() APT_REASONS=()
    PLANNED=$((PLANNED + ${#queue[@]}))
    if [[ $DRY_RUN == 1 ]]; then
        if apt-get install -s -q "${queue[@]}" >/dev/null 2>&1; then
            info "would install: $reasons"
        else
            info "would install: $reasons -- NOT all installable from the configured apt sources"
        fi
        return 0
    fi
    step "Installing system packages: $reasons"
    if ((APT_UPDATED == 0)); then
        as_root apt-get update -q
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${queue[@]}"
}

apt_install() { # apt_install REASON PACKAGE...: install the missing ones now
    apt_want "$@"
    apt_flush
}

# The cluster (Debian's postgresql-common) that listens on DB_PORT: prints "VERSION NAME STATUS".
local_cluster() {
    command -v pg_lsclusters >/dev/null 2>&1 || return 0
    pg_lsclusters -h 2>/dev/null | awk -v port="$DB_PORT" '$3 == port { print $1, $2, $4; exit }'
}

# The PostgreSQL major version `apt-get install postgresql` would bring (for the dry run).
default_pg_major() {
    apt-cache show --no-all-versions postgresql 2>/dev/null |
        sed -n 's/^Depends:.*postgresql-\([0-9][0-9]*\).*/\1/p' | head -n 1
}

browser_packages() {
    if [[ -n ${GEO_OPS_BROWSER_PACKAGES+set} ]]; then
        printf '%s' "$GEO_OPS_BROWSER_PACKAGES"
        return
    fi
    local id=""
    [[ -r /etc/os-release ]] && id=$(. /etc/os-release && printf '%s' "${ID:-}")
    # Ubuntu's chromium .deb is a wrapper around the snap (it fails where snapd cannot run, e.g.
    # in containers: set GEO_OPS_BROWSER_PACKAGES="" there).
    if [[ $id == ubuntu ]]; then
        printf '%s' "chromium-browser chromium-chromedriver"
    else
        printf '%s' "chromium chromium-driver"
    fi
}

# --- 1. system packages -----------------------------------------------------------------------
system_packages() {
    if [[ ${GEO_OPS_SKIP_SYSTEM_PACKAGES:-0} == 1 ]]; then
        step "System packages: skipped (GEO_OPS_SKIP_SYSTEM_PACKAGES=1)"
        return
    fi
    if ! have_apt; then
        warn "not a Debian/Ubuntu system (no apt-get): install PostgreSQL with PostGIS 3, GDAL and" \
            "Chromium yourself, then re-run with GEO_OPS_SKIP_SYSTEM_PACKAGES=1"
        return
    fi
    step "System packages"
    local cluster ver=""
    if database_is_local; then
        cluster=$(local_cluster)
        if [[ -z $cluster ]] && ! port_open "$DB_HOST" "$DB_PORT"; then
            apt_install "PostgreSQL server" postgresql
            cluster=$(local_cluster)
        fi
        if [[ -n $cluster ]]; then
            ver=${cluster%% *}
        elif [[ $DRY_RUN == 1 ]]; then
            ver=$(default_pg_major)
        elif command -v psql >/dev/null 2>&1; then
            # A server outside postgresql-common answers on the port: ask it its version.
            ver=$(psql -w -X -At "$(libpq_conninfo postgres)" -c 'show server_version_num' \
                2>/dev/null | cut -c1-2 || true)
        fi
        if [[ -n $ver ]]; then
            apt_want "PostGIS for PostgreSQL $ver" "postgresql-$ver-postgis-3"
        else
            warn "cannot tell which PostgreSQL serves $DB_HOST:$DB_PORT; make sure PostGIS 3 is" \
                "installed for it"
        fi
    else
        info "DATABASE_URL names $DB_HOST: no local server is installed; PostGIS must be" \
            "available on that server"
    fi
    # GeoDjango loads libgdal (and GEOS, PROJ) through ctypes; gdal-bin brings the library plus
    # ogrinfo/ogr2ogr for administrators. No -dev package: nothing is compiled against GDAL.
    apt_want "GDAL for GeoDjango" gdal-bin
    # The browser libraries the app serves itself (no CDN) come from npm (package.json); a
    # Node.js from elsewhere (NodeSource, nvm) is used as it is.
    if [[ -f package.json ]] && ! command -v npm >/dev/null 2>&1; then
        apt_want "browser libraries from package.json" nodejs npm
    fi
    local browser
    read -r -a browser <<<"$(browser_packages)"
    ((${#browser[@]} == 0)) || apt_want "headless browser for page tests" "${browser[@]}"
    apt_flush
    ((PLANNED > 0)) || info "all present"
}

# libpq connection string for the URL's server and the given database.
libpq_conninfo() {
    local host=$DB_HOST
    if [[ $host == %2[Ff]* ]]; then
        host=$(printf '%b' "${host//%/\\x}")
    fi
    printf 'host=%s port=%s user=%s dbname=%s connect_timeout=5' "${host:-127.0.0.1}" "$DB_PORT" \
        "$DB_USER" "$1"
}

# --- 2. local PostgreSQL server ---------------------------------------------------------------
cluster_ctl() { # cluster_ctl start|restart VERSION NAME
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
        as_root systemctl "$1" "postgresql@$2-$3"
    else
        # No systemd (containers, CI): pg_ctlcluster would redirect to systemctl otherwise.
        as_root pg_ctlcluster --skip-systemctl-redirect "$2" "$3" "$1"
    fi
}

wait_for_port() { # wait_for_port VERSION NAME: until the server accepts connections (30 s)
    local i
    for i in $(seq 1 30); do
        port_open "$DB_HOST" "$DB_PORT" && return 0
        sleep 1
    done
    die "PostgreSQL $1/$2 did not start; see /var/log/postgresql/postgresql-$1-$2.log"
}

local_server() {
    database_is_local || return 0
    step "PostgreSQL on $DB_HOST:$DB_PORT"
    local cluster ver name status
    cluster=$(local_cluster)
    if [[ -z $cluster ]]; then
        if port_open "$DB_HOST" "$DB_PORT"; then
            info "a server outside postgresql-common answers; using it as it is"
            return
        fi
        if command -v pg_lsclusters >/dev/null 2>&1 && [[ -n $(pg_lsclusters -h 2>/dev/null) ]]; then
            die "no PostgreSQL cluster listens on port $DB_PORT; clusters here:"$'\n'"$(pg_lsclusters)"$'\n'"Set DATABASE_URL to one of them."
        fi
        if [[ $DRY_RUN == 1 ]]; then
            info "would use the cluster the postgresql package creates, and start it"
            return
        fi
        # postgresql installed without a cluster (e.g. create_main_cluster = false).
        ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null |
            sort -n | tail -n 1)
        [[ -n $ver ]] || die "PostgreSQL is not installed and no server answers on port $DB_PORT"
        step "Creating PostgreSQL cluster $ver/main on port $DB_PORT"
        as_root pg_createcluster -p "$DB_PORT" "$ver" main
        cluster=$(local_cluster)
    fi
    read -r ver name status <<<"$cluster"
    if [[ $status != online* ]]; then
        if [[ $DRY_RUN == 1 ]]; then
            info "would start cluster $ver/$name"
            return
        fi
        step "Starting PostgreSQL cluster $ver/$name"
        cluster_ctl start "$ver" "$name"
    fi
    wait_for_port "$ver" "$name"
    info "cluster $ver/$name is running"
    [[ $DRY_RUN == 1 ]] || { local_access "$ver" && local_tuning "$ver" "$name"; }
}

# Settings of the local server this set-up manages, for the bulk import of a million reports
# (bench/bulk_import.py); GEO_OPS_PG_TUNE=0 leaves the server alone.
# - max_wal_size 8 GB (GEO_OPS_PG_MAX_WAL_SIZE_MB): the import writes several GB of WAL (rows and
#   rebuilt indexes), and the default 1 GB forces checkpoints in the middle of the load
#   (35,251 rows/s with 1 GB, 39,066 with 8 GB). A reload is enough.
# - shared_buffers a quarter of the memory, at most 4 GB (GEO_OPS_PG_SHARED_BUFFERS_MB), and
#   wal_buffers 64 MB: with Debian's 128 MB and 4 MB the import's staging tables, the new rows and
#   the index builds do not fit, and every evicted dirty page waits for a WAL flush (measured
#   23.6-24.7 s for the million rows against 25.9-26.7 s). These need a restart, done once, here.
local_tuning() {
    local ver=$1 name=$2
    [[ ${GEO_OPS_PG_TUNE:-1} == 1 ]] || return 0
    local conn want_wal_mb=${GEO_OPS_PG_MAX_WAL_SIZE_MB:-8192} mem_mb want_sb_mb have
    conn=$(libpq_conninfo postgres)
    mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo 2>/dev/null || echo 4096)
    want_sb_mb=${GEO_OPS_PG_SHARED_BUFFERS_MB:-$((mem_mb / 4 < 4096 ? mem_mb / 4 : 4096))}
    have=$(psql -w -X -q -At "$conn" -c "select string_agg(setting, ' ' order by name) from
        pg_settings where name in ('max_wal_size', 'shared_buffers', 'wal_buffers')") || return 0
    local have_wal_mb have_sb have_wb
    read -r have_wal_mb have_sb have_wb <<<"$have" # MB; 8 kB pages; 8 kB pages
    if ((have_wal_mb < want_wal_mb)); then
        step "PostgreSQL max_wal_size ${have_wal_mb} MB -> ${want_wal_mb} MB (bulk imports; GEO_OPS_PG_TUNE=0 skips)"
        psql -w -X -q -At "$conn" -c "ALTER SYSTEM SET max_wal_size = '${want_wal_mb}MB'" \
            -c 'select pg_reload_conf()' >/dev/null
    fi
    if ((have_sb * 8 / 1024 < want_sb_mb || have_wb * 8 / 1024 < 64)); then
        step "PostgreSQL shared_buffers $((have_sb * 8 / 1024)) MB -> ${want_sb_mb} MB, wal_buffers 64 MB (bulk imports; restarts $ver/$name once; GEO_OPS_PG_TUNE=0 skips)"
        psql -w -X -q -At "$conn" -c "ALTER SYSTEM SET shared_buffers = '${want_sb_mb}MB'" \
            -c "ALTER SYSTEM SET wal_buffers = '64MB'" >/dev/null
        cluster_ctl restart "$ver" "$name"
        wait_for_port "$ver" "$name"
    fi
}

# The URL's role must be able to log in over the URL's route. A fresh Debian cluster has only
# the postgres role, reachable by peer authentication on the socket, and asks for a password
# over TCP; the passwordless default URL needs a loopback trust rule for its role.
local_access() {
    command -v psql >/dev/null 2>&1 || return 0
    local out
    for _ in 1 2 3; do
        if out=$(psql -w -X -q -At "$(libpq_conninfo postgres)" -c 'select 1' 2>&1); then
            return 0
        fi
        if [[ $out == *"role \"$DB_USER\" does not exist"* ]]; then
            step "Creating PostgreSQL role $DB_USER (superuser: test databases run CREATE EXTENSION postgis)"
            as_postgres psql -X -q -p "$DB_PORT" -c "CREATE ROLE \"$DB_USER\" LOGIN SUPERUSER"
        elif [[ $out == *password* || $out == *authentication* ]] && ((DB_HAS_PASSWORD == 0)); then
            local hba
            hba=$(as_postgres psql -X -At -p "$DB_PORT" -c 'show hba_file')
            grep -q "^host all $DB_USER 127.0.0.1/32 trust" "$hba" &&
                die "cannot log in as $DB_USER even with the trust rule in $hba: $out"
            step "Allowing passwordless loopback logins for role $DB_USER ($hba)"
            info "development set-up only; put a password in DATABASE_URL to keep password auth"
            as_root sed -i "1i # geo_ops make setup: passwordless loopback logins for the development role $DB_USER\\
host all $DB_USER 127.0.0.1/32 trust\\
host all $DB_USER ::1/128 trust" "$hba"
            as_postgres psql -X -q -At -p "$DB_PORT" -c 'select pg_reload_conf()' >/dev/null
        else
            die "cannot connect to PostgreSQL at $DB_HOST:$DB_PORT as $DB_USER: $out"
        fi
    done
    die "cannot connect to PostgreSQL at $DB_HOST:$DB_PORT as $DB_USER"
}

# --- 3. virtual environment -------------------------------------------------------------------
# Prints the first interpreter >= 3.11 that can create a venv (Debian's python3 needs
# python3-venv for ensurepip).
find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3 python3.11 python3.12 python3.13 \
        "$HOME/.pyenv/shims/python3" /usr/bin/python3; do
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' \
            >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

virtualenv() {
    step "Python virtual environment (.venv)"
    if [[ -e $VENV ]] && ! "$VPY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        warn ".venv is broken or older than Python 3.11; recreating it"
        rm -rf "$VENV"
    fi
    if [[ ! -x $VPY ]]; then
        local py
        if ! py=$(find_python); then
            have_apt || die "no Python >= 3.11 with venv found; install one or set PYTHON"
            apt_install "Python with venv" python3 python3-venv
            # Ubuntu 22.04's python3 is 3.10; 3.11 is a separate package there.
            py=$(find_python) || { apt_install "Python 3.11" python3.11 python3.11-venv && py=$(find_python); } ||
                die "no Python >= 3.11 with venv found; install one or set PYTHON"
        fi
        info "creating it with $py ($("$py" -c 'import sys; print(sys.version.split()[0])'))"
        "$py" -m venv "$VENV"
    fi
    # Reinstall only when pyproject.toml (or the interpreter) changed: a content hash, so a fresh
    # clone or a checkout that only touched timestamps does not reinstall.
    local stamp="$VENV/.geo_ops-installed" want have
    want="$(sha256sum pyproject.toml | cut -d' ' -f1) $("$VPY" -c 'import sys; print(sys.version.split()[0])')"
    have=$(cat "$stamp" 2>/dev/null || true)
    if [[ $want == "$have" ]]; then
        info "up to date with pyproject.toml"
        return
    fi
    step "Installing geo_ops into .venv (pip install -e .[dev])"
    "$VPY" -m pip install -q --progress-bar off -e ".[dev]"
    printf '%s\n' "$want" >"$stamp"
}

# --- 4. browser libraries (npm) ---------------------------------------------------------------
# `npm ci` only when package.json / package-lock.json changed since the last install (a hash stamp
# in node_modules): a second run makes no network access.
browser_libraries() {
    [[ -f package.json ]] || return 0
    step "Browser libraries (npm ci)"
    command -v npm >/dev/null 2>&1 || die "npm is not installed (Debian: apt-get install npm)"
    local stamp="node_modules/.geo_ops-installed" want
    want=$(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)
    if [[ -d node_modules && $want == "$(cat "$stamp" 2>/dev/null || true)" ]]; then
        info "up to date with package-lock.json"
        return
    fi
    if [[ -f package-lock.json ]]; then
        npm ci --no-audit --no-fund --loglevel=error 9>&-
    else
        npm install --no-audit --no-fund --loglevel=error 9>&-
    fi
    printf '%s\n' "$want" >"$stamp"
}

# --- run --------------------------------------------------------------------------------------
if [[ $MODE == all ]]; then
    system_packages
    local_server
fi
if [[ $DRY_RUN == 1 ]]; then
    step "Python virtual environment (.venv)"
    if [[ -x $VPY ]]; then
        info "exists"
    elif py=$(find_python); then
        info "would create it with $py"
    else
        info "would install python3 python3-venv, then create it"
    fi
    step "Dry run: stopping before installing into .venv and the database"
    exit 0
fi
virtualenv
if [[ $MODE == all ]]; then
    browser_libraries
    "$VPY" scripts/setup_db.py
    step "Set-up done in $((SECONDS - STARTED)) s (database $DB_NAME on ${DB_HOST:-socket}:$DB_PORT)"
fi
