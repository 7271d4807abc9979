"""Replaying the audit trail: a route's events, applied to the shared transition table, give its state.

The audit trail (route_events) is append-only; replaying it from the initial state must reproduce
the route's current state. A step the transition table does not allow means the trail and the
state disagree, and replay says where.
"""
from workflow.states import STATES, TRANSITIONS_BY_TRIGGER

INITIAL_STATE = STATES[0]


class AuditMismatch(ValueError):
    """The audit trail cannot have produced a route's state."""


def _field(event, name):
    return event[name] if isinstance(event, dict) else getattr(event, name)


def replay_step(state, event, number=None):
    """Apply one audit event to a state and return the next state, or raise AuditMismatch."""
    name, source, dest = (_field(event, key) for key in ("event", "from_state", "to_state"))
    where = f"event {number} ({name})" if number is not None else f"event {name}"
    if source != state:
        raise AuditMismatch(f"{where} starts from {source!r}, but the route was {state!r}")
    spec = TRANSITIONS_BY_TRIGGER.get(name)
    if spec is None:
        # Corrections and other records keep the state; they may never move it.
        if dest != source:
            raise AuditMismatch(f"{where} is not a transition but moves {source!r} to {dest!r}")
        return state
    if state not in spec["source"] or dest != spec["dest"]:
        raise AuditMismatch(f"{where}: {source!r} -> {dest!r} is not in the transition table")
    return dest


def replay_state(events, initial=INITIAL_STATE):
    """Replay a route's audit events (oldest first) from the initial state; return the resulting state."""
    state = initial
    for number, event in enumerate(events, start=1):
        state = replay_step(state, event, number)
    return state
