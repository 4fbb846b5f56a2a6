#!/usr/bin/env bash
# `make demo` after `make setup`: demo data, a local admin login, then the site (scripts/serve.sh).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

step "Demo data (manage.py generate_demo_data --year 2025 --seed 42)"
"$VPY" manage.py generate_demo_data --year 2025 --seed 42

# A superuser for /admin/ on a development database only (DEBUG settings): never on a server
# that production settings point at.
step "Demo administrator"
GEO_OPS_DEMO_ADMIN_PASSWORD=${GEO_OPS_DEMO_ADMIN_PASSWORD:-admin} "$VPY" manage.py shell -v 0 -c '
import os
from django.conf import settings
from django.contrib.auth import get_user_model

User = get_user_model()
if not settings.DEBUG:
    print("    skipped: DEBUG is off (not a development database)")
elif User.objects.filter(is_superuser=True).exists():
    print("    a superuser exists already; log in with it")
else:
    User.objects.create_superuser("admin", "admin@example.invalid", os.environ["GEO_OPS_DEMO_ADMIN_PASSWORD"])
    print("    created superuser admin with password", os.environ["GEO_OPS_DEMO_ADMIN_PASSWORD"])
'

exec "$ROOT/scripts/serve.sh"
