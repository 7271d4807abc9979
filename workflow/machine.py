"""The one shared state machine of routes, built from workflow.states.

The machine holds no models (model=None): the service triggers an event for a
route with ``MACHINE.events[trigger].trigger(route, actor=..., comment=...)``,
so nothing is attached per row and nothing stays attached after a request.

Its model for one firing is a Transition: the route as the transition changes it. Reads fall
through to the route (the guards see it as loaded); what the transition sets (the state and its
bookkeeping) is kept on the Transition, with the audit row the transition makes, until
workflow.transition_writes writes them together. The loaded route itself is never made dirty.
"""
from transitions import Machine

from models import RouteEvent
from models._time import utcnow
from workflow.guards import GUARDS
from workflow.states import STATES, TRANSITIONS


def _condition(spec):
    guards = [GUARDS[name] for name in spec["guards"]]

    def holds(event_data):
        actor = event_data.kwargs["actor"]
        # Conditions run before the transition changes anything: the guards read the route as loaded.
        route = event_data.model.route
        return all(guard(route, actor) is None for guard in guards)

    holds.__name__ = f"guards_of_{spec['trigger']}"
    return holds


class Transition:
    """The route as one firing of the machine changes it: the machine's model for that firing.

    `changes` holds what the transition set ({"state": ..., "state_changed_at": ...}), `event` the audit
    row it made (a new RouteEvent, not yet in any session); every other attribute reads the route's.
    """

    def __init__(self, route):
        self.__dict__.update(route=route, changes={}, event=None)

    def __getattr__(self, name):
        changes = self.__dict__["changes"]
        return changes[name] if name in changes else getattr(self.__dict__["route"], name)

    def __setattr__(self, name, value):
        self.__dict__["changes"][name] = value

    def record(self, event):
        """Keep the audit row the transition made."""
        self.__dict__["event"] = event


def _record(event_data):
    """Set the bookkeeping of the new state and make the audit row, on the Transition (not yet written)."""
    transition = event_data.model
    trigger = event_data.event.name
    now = utcnow()
    transition.state_changed_at = now
    transition.updated_at = now
    transition.review_requested_at = now if trigger == "request_review" else None
    if trigger == "approve":
        transition.approved_at = now
    elif event_data.transition.dest == "drafted":
        # Back to the draft (return_to_draft): no longer approved until approved again.
        transition.approved_at = None
    transition.record(RouteEvent(
        route_id=transition.id,
        actor_id=event_data.kwargs["actor"].id,
        on_behalf_of_id=event_data.kwargs.get("on_behalf_of"),
        event=trigger,
        from_state=event_data.transition.source,
        to_state=event_data.transition.dest,
        comment=event_data.kwargs.get("comment") or "",
        created_at=now,
    ))


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
    """Run one transition of the shared machine on a route: return the Transition when it happened
    (its changes and its audit row, written by workflow.transition_writes.write_transition), else None.

    on_behalf_of is the id of the principal whose substitute the actor is, when the actor may fire the
    trigger only through that substitution (workflow/delegation.py); the audit row records it.
    """
    transition = Transition(route)
    happened = MACHINE.events[trigger].trigger(transition, actor=actor, comment=comment, on_behalf_of=on_behalf_of)
    return transition if happened else None
