"""The one shared state machine of routes, built from workflow.states.

The machine holds no models (model=None): the service triggers an event for a
route with ``MACHINE.events[trigger].trigger(route, actor=..., comment=...)``,
so nothing is attached per row and nothing stays attached after a request.
"""
from transitions import Machine

from models import RouteEvent, allow_state_write
from models._time import utcnow
from workflow.guards import GUARDS
from workflow.states import STATES, TRANSITIONS


def _condition(spec):
    guards = [GUARDS[name] for name in spec["guards"]]

    def holds(event_data):
        actor = event_data.kwargs["actor"]
        return all(guard(event_data.model, actor) is None for guard in guards)

    holds.__name__ = f"guards_of_{spec['trigger']}"
    return holds


def _record(event_data):
    """Write the audit row and the bookkeeping of the new state, in the same transaction."""
    route = event_data.model
    trigger = event_data.event.name
    now = utcnow()
    route.state_changed_at = now
    route.updated_at = now
    route.review_requested_at = now if trigger == "request_review" else None
    if trigger == "approve":
        route.approved_at = now
    elif event_data.transition.dest == "drafted":
        # Back to the draft (return_to_draft): no longer approved until approved again.
        route.approved_at = None
    route.events.append(
        RouteEvent(
            actor_id=event_data.kwargs["actor"].id,
            on_behalf_of_id=event_data.kwargs.get("on_behalf_of"),
            event=trigger,
            from_state=event_data.transition.source,
            to_state=event_data.transition.dest,
            comment=event_data.kwargs.get("comment") or "",
            created_at=now,
        )
    )


def _build():
    machine = Machine(
        model=None,
        states=STATES,
        initial=None,
        transitions=[
            {
                "trigger": spec["trigger"],
                "source": spec["source"],
                "dest": spec["dest"],
                "conditions": [_condition(spec)],
            }
            for spec in TRANSITIONS
        ],
        auto_transitions=False,
        send_event=True,
        after_state_change=[_record],
    )
    return machine


MACHINE = _build()


def fire(route, trigger, actor, comment="", on_behalf_of=None):
    """Run one transition of the shared machine on a route; return True when it happened.

    on_behalf_of is the id of the principal whose substitute the actor is, when the actor may fire the
    trigger only through that substitution (workflow/delegation.py); the audit row records it.
    """
    with allow_state_write():
        return MACHINE.events[trigger].trigger(route, actor=actor, comment=comment, on_behalf_of=on_behalf_of)
