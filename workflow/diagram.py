"""The route life cycle as a diagram, drawn from the machine's own definition (workflow.states).

A separate ``transitions`` GraphMachine is built from the same STATES and TRANSITIONS data as the shared
machine (workflow.machine), with no guards and no callbacks, and its Mermaid engine writes the
diagram's source. Nothing is attached to the shared machine, and the picture cannot drift from the code:
a new state or transition appears in it by itself.
"""
import re

from flask_babel import gettext as _
from transitions import State
from transitions.extensions import GraphMachine

from workflow.states import RELATION_LABELS, STATE_LABELS, STATES, TRANSITIONS

# Characters that end or restructure a Mermaid statement; labels are ours, but keep the syntax safe.
_UNSAFE = re.compile(r'["`;#{}<>\[\]\n\r:|]')


def mermaid_text(text):
    """A label that cannot break a Mermaid statement."""
    return " ".join(_UNSAFE.sub(" ", str(text)).split())


class _LabeledState(State):
    """A state with a display label (markup and the diagram engines read ``state.label``)."""

    def __init__(self, *args, label=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.label = label


class _DiagramMachine(GraphMachine):
    state_cls = _LabeledState
    # The diagram's own machine starts in "drafted"; draw it like the other states, not as "active".
    style_attributes = {
        **GraphMachine.style_attributes,
        "node": {**GraphMachine.style_attributes["node"],
                 "active": GraphMachine.style_attributes["node"]["default"]},
    }


def diagram_machine():
    """A GraphMachine with the route's states and transitions, labelled in the current language."""
    return _DiagramMachine(
        states=[{"name": state, "label": mermaid_text(STATE_LABELS[state])} for state in STATES],
        transitions=[{"trigger": spec["trigger"], "source": list(spec["source"]), "dest": spec["dest"],
                      "label": mermaid_text(spec["label"])} for spec in TRANSITIONS],
        initial=STATES[0], auto_transitions=False, graph_engine="mermaid", title=mermaid_text(_("Жизненный цикл маршрута (ИОМ)")),
    )


def mermaid_source():
    """The Mermaid source of the life cycle, as transitions' diagrams extension writes it."""
    source = diagram_machine().get_graph().draw(None)
    final = STATES[-1]
    return f"{source}\n  {final} --> [*]\n"


def transition_rows():
    """The transitions as table rows: trigger, label, sources, destination, who, comment required."""
    return [{
        "trigger": spec["trigger"], "label": str(spec["label"]),
        "source": [str(STATE_LABELS[s]) for s in spec["source"]], "dest": str(STATE_LABELS[spec["dest"]]),
        "actors": [str(RELATION_LABELS[a]) for a in spec["actors"]],
        "comment_required": spec["comment_required"],
    } for spec in TRANSITIONS]
