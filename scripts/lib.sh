# Shared helpers for the set-up scripts; sourced, never run.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
VPY="$VENV/bin/python"
DEFAULT_DATABASE_URL="postgis://postgres@127.0.0.1:5432/geo_ops"
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
    _BOLD=$'\e[1m' _RED=$'\e[31m' _YELLOW=$'\e[33m' _RESET=$'\e[0m'
else
    _BOLD="" _RED="" _YELLOW="" _RESET=""
fi

step() { printf '%s==> %s%s\n' "$_BOLD" "$*" "$_RESET"; }
info() { printf '    %s\n' "$*"; }
warn() { printf '%swarning:%s %s\n' "$_YELLOW" "$_RESET" "$*" >&2; }
die() {
    printf '%serror:%s %s\n' "$_RED" "$_RESET" "$*" >&2
    exit 1
}

# The database URL every step uses: $DATABASE_URL, else DATABASE_URL from .env (the settings read
# that file too), else the local default.
database_url() {
    if [[ -n "${DATABASE_URL:-}" ]]; then
        printf '%s' "$DATABASE_URL"
        return
    fi
    local line=""
    if [[ -f "$ROOT/.env" ]]; then
        line=$(sed -n 's/^[[:space:]]*\(export[[:space:]]\+\)\?DATABASE_URL[[:space:]]*=[[:space:]]*//p' \
            "$ROOT/.env" | tail -n 1)
        line=${line%\"} line=${line#\"} line=${line%\'} line=${line#\'}
    fi
    printf '%s' "${line:-$DEFAULT_DATABASE_URL}"
}

# Splits a postgis://user:password@host:port/name?options URL into DB_USER, DB_HAS_PASSWORD,
# DB_HOST, DB_PORT and DB_NAME (pure bash: a fresh machine may not have Python yet).
# shellcheck disable=SC2034 # the DB_* variables are read by the scripts that source this file
parse_database_url() {
    local url=$1 rest authority userinfo="" hostport
    [[ $url == *://* ]] || die "DATABASE_URL must look like postgis://user@host:port/name (got '$url')"
    rest=${url#*://}
    authority=${rest%%/*}
    if [[ $authority == *@* ]]; then
        userinfo=${authority%@*}
        hostport=${authority##*@}
    else
        hostport=$authority
    fi
    DB_USER=${userinfo%%:*}
    DB_USER=${DB_USER:-$(id -un)}
    DB_HAS_PASSWORD=0
    [[ $userinfo == *:* ]] && DB_HAS_PASSWORD=1
    DB_PORT=""
    if [[ $hostport == \[* ]]; then # [::1]:5432
        DB_HOST=${hostport#\[}
        DB_HOST=${DB_HOST%%]*}
        [[ $hostport == *]:* ]] && DB_PORT=${hostport##*]:}
    else
        DB_HOST=${hostport%%:*}
        [[ $hostport == *:* ]] && DB_PORT=${hostport##*:}
    fi
    DB_PORT=${DB_PORT:-5432}
    DB_NAME=${rest#*/}
    DB_NAME=${DB_NAME%%\?*}
    [[ $rest == */* && -n $DB_NAME ]] || die "DATABASE_URL has no database name: '$url'"
}

# True when the URL names this machine (loopback or a Unix socket), i.e. a server `make setup`
# may install and start.
database_is_local() {
    case "$DB_HOST" in
        "" | localhost | 127.0.0.1 | ::1 | %2[Ff]* | /*) return 0 ;;
        *) return 1 ;;
    esac
}

# True when something accepts TCP connections on host:port (no client tools needed).
port_open() {
    local host=$1 port=$2
    [[ -z $host || $host == %2[Ff]* || $host == /* ]] && host=127.0.0.1
    timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

venv_ready() { [[ -x "$VPY" ]] && "$VPY" -c 'import django' 2>/dev/null; }
