"""Server-side prepared statements for hot raw SQL."""

import re


class PreparedStatement:
    """A hot raw-SQL statement run as a server-side prepared statement.

    Why (bench/live_intake.py): psycopg2 sends every statement with its parameters inlined as
    literals, so PostgreSQL parses and plans the intake's big raw-SQL statements (the duplicate
    check, the boundary join, dispatch's candidates and writes) on every call, and that planning
    cost more than executing them. PREPARE once per database connection, then EXECUTE with the
    parameters: PostgreSQL keeps the plan (a generic one after the first executions, when it is
    not costlier than the custom plans; settings' `plan_cache_mode`).

    `sql` uses psycopg2's %(name)s placeholders; `types` gives each parameter's SQL type, so the
    server never has to infer one (and EXECUTE casts the literals explicitly). Prepared
    statements outlive a rolled-back transaction, and each connection (one per gunicorn thread)
    keeps its own; a new connection prepares again.
    """

    # Prepared again after this many executions on a connection: a generic plan is made with
    # the table sizes and statistics of its moment and kept until an ANALYZE; a plan made
    # while a table was nearly empty (a new deployment, the live-intake benchmark's fresh
    # database) would keep scanning it sequentially as it grows. One plan per 100 calls costs
    # about 1/100 of the planning that preparing saves.
    REPLAN_EVERY = 100

    _placeholder = re.compile(r"%\((\w+)\)s")
    # Every statement's name -> its PREPARE: a connection knows a statement by name only, so a
    # second statement under a taken name would EXECUTE the first one's plan.
    _names: dict[str, str] = {}

    def __init__(self, name: str, sql: str, types: dict[str, str]):
        self.name = name
        order = list(types)
        missing = set(self._placeholder.findall(sql)) - set(order)
        if missing:
            raise ValueError(f"{name}: no type for parameters {sorted(missing)}")
        body = self._placeholder.sub(lambda m: f"${order.index(m.group(1)) + 1}", sql)
        self.prepare_sql = (
            f"PREPARE {name} ({', '.join(types.values())}) AS {body.replace('%%', '%')}"
        )
        args = ", ".join(f"%({param})s::{sql_type}" for param, sql_type in types.items())
        self.execute_sql = f"EXECUTE {name} ({args})"
        if self._names.setdefault(name, self.prepare_sql) != self.prepare_sql:
            raise ValueError(f"A different prepared statement is already named {name!r}.")

    def prepare(self, cursor) -> None:
        """PREPARE the statement on the cursor's connection unless it already has it."""
        wrapper = cursor.db
        raw = wrapper.connection
        state = getattr(wrapper, "_geo_ops_prepared", None)
        if state is None or state[0] is not raw:
            state = (raw, {})
            wrapper._geo_ops_prepared = state
        calls = state[1].pop(self.name, None)
        if calls is None:
            cursor.execute(self.prepare_sql)
            calls = 0
        elif calls >= self.REPLAN_EVERY:
            cursor.execute(f"DEALLOCATE {self.name}; {self.prepare_sql}")
            calls = 0
        state[1][self.name] = calls + 1

    def execute(self, cursor, params: dict) -> None:
        """Run the statement on `cursor` (a Django cursor) with `params`; fetch as usual."""
        self.prepare(cursor)
        cursor.execute(self.execute_sql, params)
