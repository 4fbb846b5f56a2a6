#!/usr/bin/env bash
# Serves geo_ops the way production does: gunicorn (2 workers) with static files collected into
# var/static and served by WhiteNoise. Run after `make setup`; `make demo` calls it.
# Environment: GEO_OPS_HOST (default 127.0.0.1), GEO_OPS_PORT (8000), GEO_OPS_WORKERS (2).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

HOST=${GEO_OPS_HOST:-127.0.0.1}
PORT=${GEO_OPS_PORT:-8000}
WORKERS=${GEO_OPS_WORKERS:-2}
[[ -x "$VENV/bin/gunicorn" ]] || die "gunicorn is not in .venv; run make setup first"
if port_open "$HOST" "$PORT"; then
    die "something already listens on $HOST:$PORT (another make demo?); stop it or set GEO_OPS_PORT"
fi

step "Static files (manage.py collectstatic)"
"$VPY" manage.py collectstatic --noinput -v 0
info "collected into var/static"

base="http://$HOST:$PORT"
[[ $HOST == *:* ]] && base="http://[$HOST]:$PORT"
cat <<URLS

  geo_ops is starting on $base  (Ctrl-C stops it)

  Pages
    Public map              $base/
    Administration          $base/admin/
  API
    Reports (GeoJSON)       $base/api/v1/reports/
    Branch municipalities   $base/api/v1/branches/
    OpenAPI schema          $base/api/schema/
    API documentation       $base/api/docs/
    Open311 GeoReport v2    $base/open311/v2/discovery.json

URLS
# gunicorn, not runserver: the same multi-process server as production and the live-intake
# benchmark, so the demo shows real behaviour (persistent connections, concurrent workers).
# The server options live in geo_ops/settings/gunicorn.py (threaded workers, as measured).
exec "$VENV/bin/gunicorn" -c python:geo_ops.settings.gunicorn geo_ops.wsgi:application \
    --bind "$HOST:$PORT" --workers "$WORKERS" \
    --access-logfile - --graceful-timeout 5 --timeout 60
