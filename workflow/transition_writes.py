"""Writing a transition: the route's new state, its audit row and its notifications, in one transaction.

The shared machine (workflow/machine.py) decides the transition and returns what it changes and the
audit row it makes (a Transition); write_transition() writes them in the caller's transaction with
statements built once:

1. a version-checked UPDATE of the route's changed columns. It is the transaction's first write, so on
   SQLite a @lock_at_first_write view takes the write lock here; matching no row means somebody changed
   the route since it was read: StaleVersion (409), and the caller's unit of work rolls everything back;
2. the INSERT of the audit row;
3. one INSERT of the notifications (workflow/notifications.rows_for), whose mail goes after the commit.

SQLAlchemy's unit of work would write the same rows, but its flush (change detection, dependency sorting,
the route's collections) cost more than the rest of an API transition together (bench/, measurement 1).
Afterwards the loaded route is given the values written as its committed ones (it was never made dirty),
so the session has nothing to flush and the answer is drawn from it without reading the route again.

On PostgreSQL the three are one statement: the UPDATE and the INSERTs are data-modifying WITH queries,
the INSERTs selecting from the UPDATE's RETURNING, so they write nothing when the version check matched
no row, and the statement answers the audit row's id, or no row (StaleVersion). Every statement there is
a round trip to the server (about 0.2 ms here, as much as the rest of a statement's cost), so this
saves two of a transition's eight. SQLite runs no data-modifying WITH queries, and its statements are
calls within the process.
"""
from functools import lru_cache

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from models import Route, RouteEvent, db
from models.notification import Notification
from workflow import notifications
from workflow.errors import STALE_MESSAGE, StaleVersion

# What a transition changes on the route besides its version (workflow/machine.py, _record).
CHANGED = ("state", "state_changed_at", "updated_at", "review_requested_at", "approved_at")
EVENT_COLUMNS = ("route_id", "actor_id", "on_behalf_of_id", "event", "from_state", "to_state", "comment",
                 "created_at")

_ROUTES = Route.__table__


@lru_cache(maxsize=None)  # one per set of columns a transition changes: a handful
def _update_route(names):
    """The version-checked UPDATE of the route that sets `names` (and the version), built once.

    It sets only the columns whose values change: SQLite rewrites an index entry for every column an
    UPDATE names, changed or not (an unchanged approved_at would rewrite ix_routes_teacher_approved).
    """
    return (
        update(_ROUTES)
        .where(_ROUTES.c.id == bindparam("route_id"), _ROUTES.c.version == bindparam("expected_version"))
        .values(version=bindparam("new_version"), **{name: bindparam(f"new_{name}") for name in names})
    )
_EVENTS = RouteEvent.__table__
_NOTIFICATIONS = Notification.__table__
_INSERT_EVENT = insert(_EVENTS)
_INSERT_NOTIFICATIONS = insert(_NOTIFICATIONS)
NOTIFICATION_COLUMNS = ("user_id", "route_id", "kind", "params", "actor_id", "created_at", "read_at")
_NOTIFICATION_KEYS = set(NOTIFICATION_COLUMNS)


@lru_cache(maxsize=None)  # one per set of changed columns and number of notifications: a handful
def _write_all(names, notifications):
    """PostgreSQL: the version-checked UPDATE, the audit row's INSERT and `notifications` INSERTs of one
    notification each, in one statement; it answers the audit row's id, or no row when the version check
    matched none (then nothing is written)."""
    moved = _update_route(names).returning(_ROUTES.c.id).cte("moved")
    event = (insert(_EVENTS)
             .from_select(EVENT_COLUMNS, select(moved.c.id, *(
                 bindparam(f"event_{name}", type_=_EVENTS.c[name].type) for name in EVENT_COLUMNS[1:])))
             .returning(_EVENTS.c.id).cte("event"))
    statement = select(event.c.id)
    for index in range(notifications):
        row = insert(_NOTIFICATIONS).from_select(NOTIFICATION_COLUMNS, select(*(
            moved.c.id if name == "route_id"
            else bindparam(f"n{index}_{name}", type_=_NOTIFICATIONS.c[name].type) for name in NOTIFICATION_COLUMNS)))
        statement = statement.add_cte(row.cte(f"notification_{index}"))
    return statement.add_cte(moved)


def write_transition(route, transition):
    """Write a fired Transition (workflow/machine.py) of a loaded route: the route's changes, its audit row
    and the event's notifications. Raise StaleVersion when the route's row is no longer the version that
    was loaded. Return the audit row (its id set), persistent in the session when the route's history was
    loaded (then it is the history's last entry), else detached from it."""
    unknown = set(transition.changes) - set(CHANGED)
    if unknown:  # the machine began to change something this module does not write
        raise RuntimeError(f"transition changes not written: {sorted(unknown)}")
    session = db.session()
    connection = session.connection()
    event = transition.event
    # Made before the first write: on SQLite the write lock is held from it to the commit, and the other
    # writers wait on it.
    rows = notifications.rows_for(session, route, event.event, event.actor_id, notifications.event_params(event))
    expected = route.version
    values = {name: value for name, value in transition.changes.items() if value != getattr(route, name)}
    names = tuple(sorted(values))
    update_params = {"route_id": route.id, "expected_version": expected, "new_version": expected + 1,
                     **{f"new_{name}": value for name, value in values.items()}}
    write = _write_in_one_statement if connection.dialect.name == "postgresql" else _write_in_three_statements
    event.id = write(connection, names, update_params, event, rows)

    # The loaded objects as now written, with no history: nothing for a flush to write, nothing to read
    # again for the answer.
    for name, value in values.items():
        set_committed_value(route, name, value)
    set_committed_value(route, "version", expected + 1)
    if "events" in route.__dict__:  # the history was loaded (it is shown): it ends with this event now
        make_transient_to_detached(event)
        session.add(event)
        set_committed_value(route, "events", [*route.events, event])
    return event


def _write_in_one_statement(connection, names, update_params, event, rows):
    """PostgreSQL: write with _write_all's one statement; return the audit row's id."""
    params = {**update_params, **{f"event_{name}": getattr(event, name) for name in EVENT_COLUMNS[1:]}}
    for index, row in enumerate(rows):
        if row.keys() != _NOTIFICATION_KEYS:  # notifications.rows_for began to fill another column
            raise RuntimeError(f"notification columns not written: {sorted(row.keys() ^ _NOTIFICATION_KEYS)}")
        params.update({f"n{index}_{name}": row[name] for name in NOTIFICATION_COLUMNS if name != "route_id"})
    event_id = connection.execute(_write_all(names, len(rows)), params).scalar_one_or_none()
    if event_id is None:
        raise StaleVersion(STALE_MESSAGE)
    return event_id


def _write_in_three_statements(connection, names, update_params, event, rows):
    """SQLite: the UPDATE, then the audit row's INSERT, then the notifications' INSERT; return the audit
    row's id."""
    if connection.execute(_update_route(names), update_params).rowcount != 1:
        raise StaleVersion(STALE_MESSAGE)
    event_id = connection.execute(
        _INSERT_EVENT, {name: getattr(event, name) for name in EVENT_COLUMNS}).inserted_primary_key[0]
    if rows:
        connection.execute(_INSERT_NOTIFICATIONS, rows)
    return event_id
