"""``row.name`` on a plain dict in Jinja templates, read without a caught AttributeError.

Jinja's ``getattr`` (the plain and the sandboxed one) tries the Python attribute first and falls back
to the item, so every ``item.waiting`` on a dict raises and catches an AttributeError. Lists of the web
pages and the bulk export of documents read thousands of such keys. For a plain ``dict`` and a name
that no ``dict`` attribute has, the attribute lookup can only fail, so the key is read at once: the
result is the same in every case (``d.items`` is still the method, a missing key still goes on to
Jinja's own lookup and its undefined).
"""

_DICT_ATTRIBUTES = frozenset(dir(dict))


class DictKeyLookup:
    """A mixin for a Jinja ``Environment`` (first in the bases): the fast path for plain dicts."""

    def getattr(self, obj, attribute):
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)
