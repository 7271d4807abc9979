"""Marshmallow's dump, planned once per schema instance.

Marshmallow serializes a field in five calls (`Field.serialize`, `Field.get_value`, the schema's
`get_attribute`, `utils.get_value`, `_get_value_for_key`) before formatting the value; a route with its
road map and history is about forty objects and four hundred fields, and that machinery was a third of
an API transition answering the whole route (bench/, measurement 1). `FastDumpMixin` walks the schema's
fields once and keeps, for each, where its value comes from and how it is formatted; dumping an object
is then one `getattr` and at most one call per field.

What it plans is exactly what marshmallow does for the field kinds the API answers with (String,
Integer and Float, Boolean and Raw, Date and DateTime in a format marshmallow maps to a function,
Nested, List of those, and fields that offer a `dump_function()`); any other field, any field with its
own accessor or a dotted attribute, and any object read by key (a dict) go through marshmallow's own
code. Schemas with dump hooks keep them: `dump` is marshmallow's, only `_serialize` is planned. Tests
compare the two dumps.
"""
from functools import partial

from marshmallow import Schema, fields, missing
from marshmallow.utils import ensure_text_type

_PLAN = "_fast_dump_plan"


def _string(value):
    if type(value) is str or value is None:
        return value
    return ensure_text_type(value)


def _raw(value):
    return value


def _or_none(function):
    return lambda value: None if value is None else function(value)


def _list_of(convert):
    return lambda value: None if value is None else [convert(each) for each in value]


def _nested(field):
    schema = field.schema  # resolved once (marshmallow resolves it on every dump)
    many = schema.many or field.many
    dump = schema.dump
    return lambda value: None if value is None else dump(value, many=many)


def value_converter(field):
    """A function of the field's value giving what `field._serialize` gives, or None when the field's
    serialization needs more than its value (the attribute's name, the whole object).

    A field kind is known by the `_serialize` it runs (a subclass that changes only loading, as the
    API's Text does, dumps as its base)."""
    own = getattr(field, "dump_function", None)
    if own is not None:
        return own()
    serialize = type(field)._serialize
    if serialize is fields.Field._serialize:  # Raw, Boolean: the value as it is
        return _raw
    if serialize is fields.String._serialize:
        return _string
    if (serialize is fields.Number._serialize and type(field)._format_num is fields.Number._format_num
            and not field.as_string):
        return _or_none(field.num_type)
    if serialize is fields.DateTime._serialize:  # DateTime, Date, Time
        function = field.SERIALIZATION_FUNCS.get(field.format or field.DEFAULT_FORMAT)
        return None if function is None else _or_none(function)
    if serialize is fields.Nested._serialize:
        return _nested(field)
    if serialize is fields.List._serialize:
        inner = value_converter(field.inner)
        return None if inner is None else _list_of(inner)
    return None


def _reads_the_attribute_plainly(schema, field, name):
    return (type(schema).get_attribute is Schema.get_attribute
            and type(field).get_value is fields.Field.get_value
            and type(field).serialize is fields.Field.serialize
            and field._CHECK_ATTRIBUTE and "." not in name)


def _plan(schema):
    """[(key, attribute name, default, convert, whole)] for the schema's dump fields, in their order.

    `whole` is set for a field marshmallow serializes itself (from the whole object); otherwise the
    value is `getattr(obj, name)`, or the field's dump_default when the object has no such attribute,
    and `convert` formats it."""
    plan = []
    for attr_name, field in schema.dump_fields.items():
        key = field.data_key if field.data_key is not None else attr_name
        name = attr_name if field.attribute is None else field.attribute
        convert = value_converter(field) if _reads_the_attribute_plainly(schema, field, name) else None
        whole = partial(field.serialize, attr_name, accessor=schema.get_attribute) if convert is None else None
        plan.append((key, name, field.dump_default, convert, whole))
    return plan


class FastDumpMixin:
    """A marshmallow Schema whose `_serialize` follows a plan made on its first dump (see the module)."""

    def _serialize(self, obj, *, many=False):
        if many and obj is not None:
            return [self._serialize(each) for each in obj]
        plan = self.__dict__.get(_PLAN)
        if plan is None:
            plan = self.__dict__[_PLAN] = _plan(self)
        if hasattr(obj, "__getitem__"):  # read by key first, as marshmallow does: its own code
            return super()._serialize(obj, many=False)
        result = self.dict_class()
        for key, name, default, convert, whole in plan:
            if whole is not None:
                value = whole(obj)
            else:
                value = getattr(obj, name, missing)
                if value is missing:
                    value = default() if callable(default) else default
                    if value is missing:
                        continue
                value = convert(value)
            if value is not missing:
                result[key] = value
        return result
