"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
"""
from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

# revision identifiers, used by Alembic.
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}
% if not down_revision:

# The audit trail is append-only in the database itself, not only in the ORM
# (models/route.py): whatever connects, UPDATE, DELETE and TRUNCATE of route_events fail.
APPEND_ONLY_MESSAGE = "route_events is append-only"
POSTGRESQL_GUARD = [
    f"""CREATE OR REPLACE FUNCTION route_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}: % is not allowed', TG_OP USING ERRCODE = 'restrict_violation';
END
$$""",
    "CREATE TRIGGER route_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON route_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION route_events_append_only()",
]
POSTGRESQL_UNGUARD = [
    "DROP TRIGGER IF EXISTS route_events_append_only ON route_events",
    "DROP FUNCTION IF EXISTS route_events_append_only()",
]
SQLITE_GUARD = [
    f"CREATE TRIGGER route_events_no_{op_name.lower()} BEFORE {op_name} ON route_events "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}: {op_name} is not allowed'); END"
    for op_name in ("UPDATE", "DELETE")
]
SQLITE_UNGUARD = ["DROP TRIGGER IF EXISTS route_events_no_update", "DROP TRIGGER IF EXISTS route_events_no_delete"]


def _run(statements_by_dialect):
    for statement in statements_by_dialect.get(op.get_context().dialect.name, []):
        op.execute(statement)
% endif


def upgrade():
    ${upgrades if upgrades else "pass"}
% if not down_revision:
    _run({"postgresql": POSTGRESQL_GUARD, "sqlite": SQLITE_GUARD})
% endif


def downgrade():
% if not down_revision:
    _run({"postgresql": POSTGRESQL_UNGUARD, "sqlite": SQLITE_UNGUARD})
% endif
    ${downgrades if downgrades else "pass"}
