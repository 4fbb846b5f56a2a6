"""The benchmarks' one harness: bench databases, environment, child processes, serving.

Every benchmark runs the project the way a deployment does, in child processes on a database
of its own, so that what it measures is the project and not the harness:

- `database_url(env_name, dbname)`: the benchmark's database, `$env_name` or `dbname` on
  DATABASE_URL's server; `dbname(url)` and `dsn(url)` (a libpq URL) read it back;
- `database_create(url, fresh=...)` and `database_setup(url, field_teams=...)`: the database
  with PostGIS, migrated, with the categories and the ten real branch municipalities (and with
  `field_teams`, the business calendar, departments and demo crews of `scripts/setup_db.py`);
  both refuse a database whose name lacks "bench", since benchmarks empty and drop tables;
- `env(url, ...)`: the environment of a child process on that database (local or production
  settings, DEBUG off, quiet logs); `python(...)` and `manage(...)` run one and return its
  output, or raise with the tail of it;
- `Gunicorn`: the project (or another WSGI app) served on a free port of 127.0.0.1.

Nothing here imports Django or the project's apps, so a benchmark module imports it freely and
sets Django up (`django_setup()`) only in the child process that measures.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEFAULT_DATABASE_URL = "postgis://postgres@127.0.0.1:5432/geo_ops"
CATEGORIES_FIXTURE = "fixtures/categories.json"
BRANCHES_FIXTURE = "fixtures/boundaries/eastern_province_branches.geojson"
# `manage.py import_boundaries` for the branches fixture, as make setup runs it.
IMPORT_BRANCHES = (
    "import_boundaries",
    BRANCHES_FIXTURE,
    *("--code-field", "code", "--name-field", "name_en", "--name-ar-field", "name_ar"),
    *("--population-field", "population", "--commit"),
)


# --------------------------------------------------------------------------- databases


def database_url(env_name: str, dbname: str) -> str:
    """`$env_name` if set, else database `dbname` on DATABASE_URL's server."""
    if os.environ.get(env_name):
        return os.environ[env_name]
    server = urlsplit(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    return urlunsplit((server.scheme, server.netloc, f"/{dbname}", server.query, ""))


def dbname(url: str) -> str:
    """The database name of a URL."""
    return urlsplit(url).path.lstrip("/")


def dsn(url: str, name: str | None = None) -> str:
    """A libpq URL for `url`'s server (postgis:// is libpq's postgresql://), database `name`
    (default: `url`'s own)."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, f"/{name or dbname(url)}", parts.query, ""))


def _refuse_unless_bench(url: str) -> None:
    if "bench" not in dbname(url):
        raise SystemExit(f"refusing to use {dbname(url)!r} for a benchmark: not a bench database")


def database_create(url: str, *, fresh: bool = False) -> None:
    """Create the database if it is missing (dropped first when `fresh`), with PostGIS."""
    import psycopg2

    _refuse_unless_bench(url)
    name = dbname(url)
    admin = psycopg2.connect(dsn(url, "postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            if fresh:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()
    with psycopg2.connect(dsn(url)) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    conn.close()


def database_setup(url: str, *, fresh: bool = False, field_teams: bool = False) -> None:
    """The database set up as a deployment is (idempotent: a later run reuses what is there).

    Migrations, the categories and the branch municipalities; with `field_teams`,
    `scripts/setup_db.py` (the database half of make setup), which adds the business calendar,
    the departments and the demo crews, so that intake dispatches to crews.
    """
    database_create(url, fresh=fresh)
    child_env = env(url)
    if field_teams:
        python("scripts/setup_db.py", env=child_env)
        return
    for args in (("migrate",), ("loaddata", CATEGORIES_FIXTURE), IMPORT_BRANCHES):
        manage(*args, "-v", "0", env=child_env)


# --------------------------------------------------------------------------- child processes


def env(url: str, *, production: bool = False, **extra: str) -> dict[str, str]:
    """The environment of a child process on database `url`, plus `extra` variables.

    Local settings by default; `production` for serving as in production (a fresh secret key,
    127.0.0.1 the allowed host). DEBUG is off either way (its query log would hold every
    statement in memory) and logs say warnings only.
    """
    child = dict(os.environ)
    child.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="geo_ops.settings.local",
        DJANGO_DEBUG="false",
        DJANGO_LOG_LEVEL="WARNING",
        PYTHONPATH=str(REPO),
    )
    if production:
        child.update(
            DJANGO_SETTINGS_MODULE="geo_ops.settings.production",
            DJANGO_SECRET_KEY=secrets.token_urlsafe(40),
            DJANGO_ALLOWED_HOSTS="127.0.0.1",
        )
    child.update(extra)
    return child


def python(
    *args: str,
    env: Mapping[str, str] | None = None,  # noqa: A002 - the name subprocess uses
    capture: bool = True,
    timeout: float | None = None,
) -> str:
    """Run `python *args` in the repository; its stdout (when `capture`), or RuntimeError with
    the tail of its output when it fails. Without `capture` its output goes to ours as it runs.
    """
    done = subprocess.run(
        [PYTHON, *args],
        cwd=REPO,
        env=dict(env) if env is not None else {**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=capture,
        text=True,
        check=False,
        timeout=timeout,
    )
    if done.returncode != 0:
        tail = f"\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}" if capture else ""
        raise RuntimeError(f"python {' '.join(args)} exited with {done.returncode}{tail}")
    return done.stdout or ""


def manage(*args: str, env: Mapping[str, str]) -> str:  # noqa: A002
    """`python manage.py *args` (see `python`); its stdout."""
    return python("manage.py", *args, env=env)


def django_setup() -> None:
    """Configure Django in a measuring child process (settings and DATABASE_URL from `env`)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geo_ops.settings.local")
    import django

    django.setup()


# --------------------------------------------------------------------------- serving


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn serving `app` on a free port of 127.0.0.1, in a session of its own.

    `args` are gunicorn's options (workers, config); the log goes to `log`. Use `wait_ready`
    before the first request and `stop` (master and workers) in a finally.
    """

    def __init__(self, app: str, *, env: Mapping[str, str], log: Path, args: list[str]):  # noqa: A002
        from gunicorn.config import KNOWN_SETTINGS

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log_file = log.open("w")
        # gunicorn >= 24 opens a control socket at a fixed path by default; other servers on a
        # shared machine would fight over it.
        no_control = "control_socket_disable" in {s.name for s in KNOWN_SETTINGS}
        self.proc = subprocess.Popen(
            [
                *(PYTHON, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{self.port}", *args),
                *(["--no-control-socket"] if no_control else []),
                *("--chdir", str(REPO), "--graceful-timeout", "5"),
            ],
            cwd=REPO,
            env=dict(env),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        """Until `path` answers HTTP (any status: a path may only take POST)."""
        import http.client

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", path)
                conn.getresponse().read()
                conn.close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn not ready after {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """SIGTERM to its session (master and workers), SIGKILL after 15 s."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log_file.close()
