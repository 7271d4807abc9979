"""The API's schemas dump by a plan made once per schema (views/api/fast_dump.py): what they answer must
be exactly what marshmallow's own serialization gives, field kind by field kind and answer by answer."""
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import marshmallow as ma
import pytest
from marshmallow import fields, post_dump

from models import db
from test_api import ApiClient
from views.api.fast_dump import FastDumpMixin
from views.api.schemas import RouteSchema, RouteView, UtcDateTime
from workflow import delegation, service

TODAY = date.today()


def _marshmallows(monkeypatch):
    """Make every FastDumpMixin schema serialize with marshmallow's own code from now on."""
    monkeypatch.setattr(FastDumpMixin, "_serialize",
                        lambda self, obj, *, many=False: ma.Schema._serialize(self, obj, many=many))


# --- field by field ------------------------------------------------------------------------------

class Upper(fields.String):
    """A field kind the plan does not know: marshmallow's own code serializes it."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value).upper()


def _schemas(*bases):
    """The same schemas on `bases`: plain marshmallow or the planned dump."""

    class Inner(*bases):
        id = fields.Integer()
        name = fields.String()

    class Hooked(*bases):
        id = fields.Integer()

        @post_dump
        def mark(self, data, **kwargs):
            return {**data, "hooked": True}

    class Everything(*bases):
        text = fields.String()
        number = fields.Integer()
        number_as_string = fields.Integer(as_string=True)
        ratio = fields.Float()
        money = fields.Decimal()
        mail = fields.Email()
        raw = fields.Raw()
        day = fields.Date(allow_none=True)
        day_custom = fields.Date(format="%d.%m.%Y", attribute="day", dump_only=True)
        moment = fields.DateTime()
        moment_rfc = fields.DateTime(format="rfc", attribute="moment", dump_only=True)
        moment_custom = fields.DateTime(format="%H:%M", attribute="moment", dump_only=True)
        clock = fields.Time()
        utc = UtcDateTime(allow_none=True)
        utc_rfc = UtcDateTime(format="rfc", attribute="utc", dump_only=True)
        flag = fields.Boolean()
        flag_y = fields.Boolean(truthy={"y"}, attribute="flag", dump_only=True)
        mapping = fields.Dict()
        inner = fields.Nested(Inner, allow_none=True)
        inners = fields.List(fields.Nested(Inner))
        inners_many = fields.Nested(Inner, many=True)
        only_names = fields.Nested(Inner, only=("name",), attribute="inner", dump_only=True)
        hooked = fields.Nested(Hooked)
        plucked = fields.Pluck(Inner, "name", attribute="inner", dump_only=True)
        words = fields.List(fields.String())
        dicts = fields.List(fields.Dict())
        keyed = fields.String(data_key="keyedName")
        renamed = fields.String(attribute="text", dump_only=True)
        dotted = fields.Integer(attribute="inner.id", dump_only=True)
        shouting = Upper(attribute="text", dump_only=True)
        method = fields.Method("get_method")
        function = fields.Function(lambda obj: [obj.number])
        defaulted = fields.String(dump_default="по умолчанию")
        defaulted_later = fields.Integer(dump_default=lambda: 7)
        absent = fields.String()
        secret = fields.String(load_only=True)

        def get_method(self, obj):
            return f"#{obj.number}"

    return Everything, Inner


class Thing:
    def __init__(self, **values):
        self.__dict__.update(values)


def _thing(**overrides):
    inner = Thing(id=1, name="Первый")
    values = dict(
        text="Текст", number=5, number_as_string=6, ratio=1.5, money=Decimal("2.50"), mail="a@b.ru", raw={"a": [1, 2]}, day=date(2026, 12, 4),
        moment=datetime(2026, 12, 4, 10, 30, 5, 123), clock=time(9, 15),
        utc=datetime(2026, 12, 4, 10, 30), flag=1, mapping={"k": "v"}, inner=inner,
        inners=[inner, Thing(id=2, name="Второй")], inners_many=[inner], hooked=Thing(id=3),
        words=["а", 1, None], dicts=[{"x": 1}], keyed="ключ", secret="тайна")
    values.update(overrides)
    return Thing(**values)


@pytest.mark.parametrize("thing", [
    _thing(),
    _thing(text=None, number=None, ratio=None, money=None, mail=None, day=None, utc=None, inner=None, inners=None, words=None, flag=None,
           mapping=None, moment=None, clock=None),
    _thing(text=b"\xd0\x91\xd0\xb0\xd0\xb9\xd1\x82\xd1\x8b", number=7.9, ratio=2, flag="yes",
           utc=datetime(2026, 12, 4, 13, 30, tzinfo=timezone(timedelta(hours=3)))),
    _thing(number=True, text=42, defaulted="своё", defaulted_later=8, absent="есть"),
], ids=["values", "nones", "conversions", "defaults-overridden"])
def test_every_field_kind_dumps_as_marshmallow_dumps_it(thing):
    Planned, _ = _schemas(FastDumpMixin, ma.Schema)
    Plain, _ = _schemas(ma.Schema)
    for many in (False, True):
        value = [thing, thing] if many else thing
        expected = Plain(many=many).dump(value)
        assert Planned(many=many).dump(value) == expected
        assert Planned(many=many).dump(value) == expected  # the second dump follows the kept plan
        first = expected[0] if many else expected
        assert "secret" not in first and "absent" not in first or thing.__dict__.get("absent")
        assert first["keyedName"] == thing.keyed and first["defaulted_later"] in (7, 8)


def test_schema_options_and_objects_read_by_key_dump_as_marshmallow_dumps_them():
    Planned, PlannedInner = _schemas(FastDumpMixin, ma.Schema)
    Plain, PlainInner = _schemas(ma.Schema)
    thing = _thing()
    for kwargs in ({"only": ("text", "inner", "method")}, {"exclude": ("raw", "inners")}):
        assert Planned(**kwargs).dump(thing) == Plain(**kwargs).dump(thing)
    by_key = {"id": 4, "name": "Из словаря"}
    assert PlannedInner().dump(by_key) == PlainInner().dump(by_key) == by_key
    assert PlannedInner().dump({"id": 5}) == PlainInner().dump({"id": 5}) == {"id": 5}
    assert PlannedInner(many=True).dump(None) == PlainInner(many=True).dump(None)


def test_a_schema_reading_attributes_its_own_way_keeps_its_accessor():
    class Prefixed(FastDumpMixin, ma.Schema):
        name = fields.String()

        def get_attribute(self, obj, attr, default):
            return "свой: " + getattr(obj, attr)

    assert Prefixed().dump(Thing(name="Иван")) == {"name": "свой: Иван"}


# --- the API's own answers -----------------------------------------------------------------------

def _answers(api, paths):
    answers = {}
    for login, path in paths:
        response = api.get(path, login)
        assert response.status_code == 200, (path, response.json)
        answers[(login, path)] = response.json
    return answers


def test_the_apis_answers_equal_marshmallows_dump(app, client, district, monkeypatch):
    """Routes in every state with their road map, history (a substitute's approval among it) and
    corrections (pending and decided), and every listing: the same JSON either way."""
    api = ApiClient(client)
    routes = [district.route(state=state, activities=3) for state in
              ("drafted", "under_review", "curator_approved", "in_progress", "reflected", "closed")]
    substituted = district.route(state="under_review", activities=2)
    delegation.create_substitution(district.curator, substitute_id=district.other_curator.id,
                                   starts_on=TODAY, ends_on=TODAY + timedelta(days=5))
    service.apply_transition(substituted.id, "approve", district.other_curator)
    corrected = district.route(state="in_progress", activities=2)
    activity_id = corrected.activities[0].id
    for approve in (True, None):
        version = api.get(f"/routes/{corrected.id}", "teacher").json["version"]
        requested = api.post(f"/routes/{corrected.id}/corrections", "teacher", json={
            "version": version, "reason": "Курсы перенесены", "action": "change",
            "activity_id": activity_id, "fields": {"deadline": "2030-03-15"}})
        assert requested.status_code == 201, requested.json
        if approve:
            decided = api.post(f"/routes/{corrected.id}/corrections/{requested.json['corrections'][-1]['id']}"
                               f"/decision", "curator", json={"approve": True, "comment": "Согласовано",
                                                              "version": requested.json["version"]})
            assert decided.status_code == 200, decided.json
    db.session.expire_all()

    ids = [r.id for r in routes] + [substituted.id, corrected.id]
    paths = [(login, "/routes?per_page=100") for login in ("admin", "curator", "teacher")]
    paths += [("admin", p) for i in ids for p in (f"/routes/{i}", f"/routes/{i}/activities",
                                                  f"/routes/{i}/corrections", f"/routes/{i}/comments")]
    paths += [("curator", f"/routes/{i}") for i in ids]
    paths += [(login, p) for login in ("teacher", "curator") for p in ("/notifications", "/inbox")]
    planned = _answers(api, paths)
    _marshmallows(monkeypatch)
    assert _answers(api, paths) == planned

    route = planned[("admin", f"/routes/{corrected.id}")]
    assert {c["status"] for c in route["corrections"]} == {"approved", "pending"}
    assert any(c["previous_roadmap"] for c in route["corrections"])
    history = planned[("admin", f"/routes/{substituted.id}")]["history"]
    approval = next(h for h in history if h["event"] == "approve")
    assert approval["on_behalf_of"]["login"] == "curator" and approval["actor"]["login"] == "curator2"
    assert len(planned[("admin", "/routes?per_page=100")]["items"]) == len(ids)


@pytest.mark.parametrize("state", ["drafted", "in_progress", "closed"])
def test_a_route_dumps_with_its_keys_in_marshmallows_order(app, district, monkeypatch, state):
    route = district.route(state=state, activities=2)
    with app.test_request_context("/api/v1/routes"):
        view = RouteView(route, service.available_transitions(route, district.teacher))
        planned = RouteSchema().dump(view)
        _marshmallows(monkeypatch)
        plain = RouteSchema().dump(view)
    assert planned == plain
    assert list(planned) == list(plain)
    assert [list(a) for a in planned["activities"]] == [list(a) for a in plain["activities"]]
