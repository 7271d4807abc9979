"""Two fast paths of the pages' Jinja environment that change nothing in what a template renders.

``row.name`` on a plain dict, read without a caught AttributeError (DictKeyLookup):

Jinja's ``getattr`` (the plain and the sandboxed one) tries the Python attribute first and falls back
to the item, so every ``item.waiting`` on a dict raises and catches an AttributeError. Lists of the web
pages and the bulk export of documents read thousands of such keys. For a plain ``dict`` and a name
that no ``dict`` attribute has, the attribute lookup can only fail, so the key is read at once: the
result is the same in every case (``d.items`` is still the method, a missing key still goes on to
Jinja's own lookup and its undefined).

A call of a plain function or partial, without Jinja's search for a context to pass (PlainCallContext):
every ``{{ f(x) }}`` goes through ``Context.call``, which asks the callable and its ``__call__`` for
``jinja_pass_arg`` (two failed attribute lookups) before calling it, about a microsecond per call.
Lists call their row helpers (URLs, numbers, badges) several times per row. A plain function or a
``functools.partial`` can only carry that marker in its own ``__dict__`` (their ``__call__`` is a slot
wrapper, which carries none), a bound method in its function's; so one look there decides it, and
anything else takes Jinja's own path.
"""
from functools import partial
from types import FunctionType, MethodType

from jinja2.runtime import Context

_DICT_ATTRIBUTES = frozenset(dir(dict))
_PLAIN_CALLABLES = frozenset({FunctionType, partial})


class DictKeyLookup:
    """A mixin for a Jinja ``Environment`` (first in the bases): the fast path for plain dicts."""

    def getattr(self, obj, attribute):
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)


class PlainCallContext(Context):
    """A Jinja ``Context`` (an environment's ``context_class``): the fast path for plain callables."""

    def call(__self, __obj, *args, **kwargs):
        kind = type(__obj)
        if ((kind in _PLAIN_CALLABLES and "jinja_pass_arg" not in __obj.__dict__)
                or (kind is MethodType and type(__obj.__func__) is FunctionType
                    and "jinja_pass_arg" not in __obj.__func__.__dict__)):
            # What Context.call does for a callable without pass_context/pass_environment markers.
            kwargs.pop("_block_vars", None)
            kwargs.pop("_loop_vars", None)
            try:
                return __obj(*args, **kwargs)
            except StopIteration:
                return __self.environment.undefined("value was undefined because a callable raised a "
                                                    "StopIteration exception")
        return super().call(__obj, *args, **kwargs)
