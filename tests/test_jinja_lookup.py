"""workflow/jinja_lookup.py: the pages' environment calls plain functions directly, with Jinja's results."""
from functools import partial

import pytest
from flask.templating import Environment
from jinja2 import pass_context, pass_environment, pass_eval_context

from workflow.jinja_lookup import PlainCallContext


def _helpers():
    def plain(x, y=1):
        return f"plain {x} {y}"

    @pass_context
    def with_context(context, x):
        return f"context sees n={context.get('n')} loop={context.get('i')} {x}"

    @pass_environment
    def with_environment(environment, x):
        return f"environment autoescape={environment.autoescape} {x}"

    @pass_eval_context
    def with_eval_context(eval_ctx, x):
        return f"autoescape {eval_ctx.autoescape} {x}"

    @pass_context
    def marked(first, x):
        return f"partial of a marked function: {first} {x}"

    def stops():
        raise StopIteration

    class Holder:
        def method(self, x):
            return f"method {x}"

        @pass_context
        def marked_method(self, context, x):
            return f"marked method n={context.get('n')} {x}"

    class CallableWithContext:
        @pass_context
        def __call__(self, context, x):
            return f"callable object n={context.get('n')} {x}"

    holder = Holder()
    return {
        "plain": plain, "lam": lambda v: f"<{v}>", "part": partial(plain, y="p"),
        # Jinja passes no context to a partial, even of a marked function: it reads the partial's own marker.
        "part_of_marked": partial(marked, "first argument"),
        "with_context": with_context, "with_environment": with_environment,
        "with_eval_context": with_eval_context, "stops": stops, "method": holder.method,
        "marked_method": holder.marked_method, "callable_object": CallableWithContext(), "builtin": len,
    }


SOURCE = """{{ plain(1) }}|{{ plain(2, y=3) }}|{{ lam('a&b') }}|{{ part(4) }}|{{ with_context(5) }}|
{{ with_environment(6) }}|{{ with_eval_context(7) }}|{{ stops() is undefined }}|{{ method(8) }}|
{{ marked_method(9) }}|{{ callable_object(10) }}|{{ builtin('abc') }}|{{ part_of_marked(11) }}|
{% for i in [1, 2] %}{{ with_context(i) }};{{ plain(i, y=i) }};{% set n = 'in block' %}{{ with_context('s') }};{% endfor %}
{% macro m(v) %}{{ with_context(v) }}/{{ plain(v) }}{% endmacro %}{{ m('macro') }}|{{ m(v=1) }}"""


def test_the_pages_environment_uses_the_fast_context(app):
    assert app.jinja_env.context_class is PlainCallContext


@pytest.mark.parametrize("autoescape", [True, False])
def test_calls_render_as_jinja_renders_them(app, autoescape):
    plain_env = Environment(app, autoescape=autoescape)
    fast_env = Environment(app, autoescape=autoescape)
    fast_env.context_class = PlainCallContext
    context = {"n": "outer", **_helpers()}
    expected = plain_env.from_string(SOURCE).render(context)
    assert fast_env.from_string(SOURCE).render(context) == expected
    # The context-taking helpers did get the context (with what the loop set), the others their arguments.
    assert "context sees n=outer loop=None 1" in expected and "context sees n=in block loop=None s" in expected
    assert "plain 2 2" in expected
    assert "marked method n=outer 9" in expected and "callable object n=outer 10" in expected
    assert "plain 1 1|plain 2 3|" in expected and "plain 4 p" in expected and "|3|" in expected
    assert f"environment autoescape={autoescape} 6" in expected
    assert "partial of a marked function: first argument 11" in expected and "context sees n=outer loop=None macro" in expected


def test_a_plain_function_marked_later_gets_its_context(app):
    """The marker is read at each call, as Jinja reads it: a function marked after a first render gets it."""
    def helper(*args):
        return f"{len(args)} args"

    env = Environment(app, autoescape=True)
    env.context_class = PlainCallContext
    template = env.from_string("{{ helper(1) }}")
    assert template.render(helper=helper) == "1 args"
    pass_context(helper)
    assert template.render(helper=helper) == "2 args"
