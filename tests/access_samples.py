"""Sample requests for every URL rule: the state and objects each needs, and what to send.

Used by tests/test_access_matrix.py and tests/test_security_csrf.py. The policy itself (who may
call what) is workflow/policy.py; this file only knows how to make a request that would succeed for
someone the policy allows, so a refusal of everybody else means something.

Object URLs point at objects of district.teacher (school 1, curator "curator", municipality of all).
"""
import io
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import url_for
from sqlalchemy import select

from conftest import PASSWORD
from models import Route, db
from workflow import accounts, diagnostics, documents, monitoring, orders, resources, service
from workflow.states import TRANSITIONS_BY_TRIGGER

# Personas and the district's users behind them.
PERSONAS = ["anonymous", "teacher", "other_teacher", "curator", "other_curator", "school_head",
            "other_school_head", "department_head", "admin"]
USERS = {"teacher": "teacher", "other_teacher": "other_teacher", "curator": "curator",
         "other_curator": "other_curator", "school_head": "school_head", "other_school_head": "other_school_head",
         "department_head": "head", "admin": "admin"}
ROLE_OF = {"teacher": "teacher", "other_teacher": "teacher", "curator": "curator", "other_curator": "curator",
           "school_head": "school_head", "other_school_head": "school_head", "department_head": "department_head",
           "admin": "admin"}
# Who may see district.teacher's route (and its files, and the teacher's profile).
READERS = {"teacher", "curator", "school_head", "department_head", "admin"}
# Staff of the municipality: they see its orders and monitoring campaigns.
STAFF = {"curator", "other_curator", "school_head", "other_school_head", "department_head", "admin"}
EVERYONE = set(PERSONAS) - {"anonymous"}
RELATION_PERSONA = {"teacher": "teacher", "curator": "curator", "department_head": "department_head"}

# For each object rule of workflow.policy: (who may see the object, who is granted the action).
OBJECT_RULES = {
    "route.read": (READERS, READERS),
    "route.owner": (READERS, {"teacher"}),
    "route.curator": (READERS, {"curator"}),
    "route.editor": (READERS, {"teacher", "curator"}),
    "notification.owner": ({"teacher"}, {"teacher"}),
    "route.transition": (READERS, None),  # granted: the transition's actors (see Sample.trigger)
    "file.read": (READERS, READERS),
    "teacher.read": (READERS, READERS),
    "teacher.manage": (EVERYONE, {"teacher", "curator", "admin"}),
    "order.read": (STAFF, STAFF),
    "campaign.read": (STAFF, STAFF),
    "campaign.manage": (STAFF, {"department_head", "admin"}),
    "campaign.sign": (STAFF, {"department_head"}),
    "resource.manage": (EVERYONE, {"curator", "other_curator", "department_head", "admin"}),
    "upload.owner": (EVERYONE, {"curator", "other_curator", "department_head", "admin"}),
    "substitution.principal": ({"curator", "other_curator", "admin"}, {"curator", "admin"}),
}

ACTIVITY = {"stage": "design", "direction": "methodical", "deficit": "Новый дефицит", "tasks": "Задача",
            "forms": "Семинар", "deadline": (date.today() + timedelta(days=60)).isoformat(),
            "result_form": "Конспект"}


def results_csv(score=2):
    """A diagnostic results file for district.teacher (a different score makes a different import)."""
    return ("ФИО;Школа;Диагностика;Дата;Компетенция;Балл;Дефицит\r\n"
            "Пользователь teacher;СОШ № 1;Оценка предметных и методических компетенций;15.09.2022;"
            f"Методические компетенции;{score};да\r\n").encode("utf-8")

ENTRY = {"title": "Семинар по оцениванию", "provider": "МКУ ЦПО", "kind": "seminar", "level": "municipal",
         "direction": "methodical", "format": "in_person", "starts_on": "2022-10-10", "ends_on": "2022-10-10",
         "hours": "4", "annotation": "Критерии оценивания", "competencies": "Методические компетенции", "url": ""}
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@dataclass
class Sample:
    """How to call one URL rule so that a persona the policy allows succeeds."""

    state: str = "drafted"                 # the state of district.teacher's route
    data: object = None                    # form or JSON body: a dict or a function of the Context
    query: object = None                   # query string: a dict or a function of the Context
    files: object = None                   # {field: (bytes, name)} for multipart forms
    args: dict = field(default_factory=dict)  # URL arguments fixed by the sample (trigger, kind, ...)
    trigger: str | None = None             # the transition fired (route.transition rules)
    grants: set | None = None              # overrides the object rule's granted personas
    ok: set | None = None                  # statuses of success (default: GET 200, else 2xx/3xx)
    changes: bool | None = None            # success changes the database (default: not for GET)
    refused: set = field(default_factory=lambda: {403, 409})
    multipart: bool = False
    pdf: bool = False                      # 200 where LibreOffice converts, else 404 for everyone
    prepare: object = None                 # a function of the Context run before the request


class Context:
    """The objects one request needs, built for one persona (fresh each time, so successes do not collide)."""

    def __init__(self, district, persona, sample):
        self.district, self.persona, self.sample = district, persona, sample
        self.user = getattr(district, USERS[persona]) if persona != "anonymous" else None
        self._route = None
        self._cache = {}
        # A number of this persona, to make its uploads differ from the other personas'.
        self.index = PERSONAS.index(persona) + 1

    def _once(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def route(self):
        if self._route is None:
            self._route = self.district.route(state=self.sample.state)
        db.session.expire_all()
        self._route = db.session.get(Route, self._route.id)
        return self._route

    @property
    def version(self):
        return self.route.version

    @property
    def activity_id(self):
        return self.route.activities[0].id

    @property
    def correction_id(self):
        def make():
            route = self.route
            _, correction = service.request_correction(
                route.id, self.district.teacher, reason="Курсы перенесены", action="add",
                fields={"stage": "design", "direction": "methodical", "deficit": "Вебинар"}, version=route.version)
            return correction.id
        return self._once("correction", make)

    @property
    def file_id(self):
        def make():
            route = self.route
            service.record_activity_result(
                route.id, route.activities[0].id, self.district.teacher, status="done", product="Конспект",
                file={"original_name": "Конспект урока.pdf", "content_type": "application/pdf", "size": len(PDF),
                      "sha256": "0" * 64, "data": PDF}, version=route.version)
            db.session.expire_all()
            return db.session.get(Route, route.id).activities[0].product_file_id
        return self._once("file", make)

    @property
    def order_id(self):
        def make():
            route = self.district.route(state="curator_approved")
            order = orders.issue_routes_approval(self.district.head, [route.id], issued_on=date.today())
            return order.id
        return self._once("order", make)

    @property
    def campaign(self):
        def make():
            return monitoring.create_campaign(self.district.head, {
                "title": "Мониторинг ИОМ", "period_start": date.today() - timedelta(days=5),
                "period_end": date.today() + timedelta(days=5)}).id
        campaign_id = self._once("campaign", make)
        db.session.expire_all()
        return monitoring.load_campaign(campaign_id, self.district.admin)

    @property
    def notification_id(self):
        """An unread notification of district.teacher (about their route)."""
        def make():
            from workflow import notifications
            notification = notifications.add(db.session, self.district.teacher.id, "comment", self.route,
                                              actor=self.district.curator, params={"comment": "Вопрос"})
            db.session.commit()
            return notification.id
        return self._once("notification", make)

    @property
    def entry_id(self):
        return self._once("entry", lambda: resources.create_entry(self.district.curator, ENTRY).id)

    @property
    def upload_id(self):
        """An upload awaiting confirmation, made by this persona (or the curator for other roles)."""
        def make():
            owner = self.user if self.user is not None and self.user.role in diagnostics.IMPORT_ROLES \
                else self.district.curator
            stored = diagnostics.store_upload(results_csv(self.index), "Результаты.csv", owner)
            db.session.commit()
            return stored.id
        return self._once("upload", make)

    def diagnosed_teacher(self):
        """Give district.teacher diagnostic results (so a route can be drafted from them)."""
        def make():
            diagnostics.import_results(results_csv(), municipality=self.district.municipality)
            return True
        return self._once("diagnosed", make)

    @property
    def target(self):
        """A user an admin may change without touching the personas' own accounts."""
        def make():
            return accounts.create_user(f"target{self.index}", role="teacher", full_name="Целевой Пользователь",
                                        password=PASSWORD, school=self.district.school,
                                        municipality=self.district.municipality).id
        return self._once("target", make)

    def value(self, item):
        return item(self) if callable(item) else item


def _arg(ctx, name):
    """A URL argument for this rule: an object of district.teacher."""
    sample = ctx.sample
    if name in sample.args:
        return ctx.value(sample.args[name])
    values = {
        "route_id": lambda: ctx.route.id,
        "activity_id": lambda: ctx.activity_id,
        "correction_id": lambda: ctx.correction_id,
        "file_id": lambda: ctx.file_id,
        "teacher_id": lambda: ctx.district.teacher.id,
        "order_id": lambda: ctx.order_id,
        "campaign_id": lambda: ctx.campaign.id,
        "entry_id": lambda: ctx.entry_id,
        "notification_id": lambda: ctx.notification_id,
        "name": lambda: "route",
        "trigger": lambda: sample.trigger,
        "filename": lambda: "css/bootstrap.min.css",
    }
    if name not in values:
        raise KeyError(f"tests/access_samples.py: no sample value for URL argument <{name}>")
    return values[name]()


def build_url(app, rule, ctx):
    """Return the path (with query string) of the rule filled with the context's objects."""
    values = {name: _arg(ctx, name) for name in rule.arguments}
    if ctx.sample.query:
        values.update(ctx.value(ctx.sample.query))
    with app.test_request_context():
        return url_for(rule.endpoint, **values)


def granted(rule_access, sample):
    """The personas an object rule grants, for this sample."""
    if rule_access.object == "route.transition":
        return {RELATION_PERSONA[a] for a in TRANSITIONS_BY_TRIGGER[sample.trigger]["actors"]}
    if sample.grants is not None:
        return sample.grants
    return OBJECT_RULES[rule_access.object][1]


def expected(access, persona, sample, is_api):
    """Return the expected outcome for a persona: ok, login, hidden (404) or refused (403/409)."""
    if access.public:
        return "ok"
    if persona == "anonymous":
        return "login"
    allowed_role = ROLE_OF[persona] in access.roles
    if access.object is None:
        return "ok" if allowed_role else "refused"
    visible, _ = OBJECT_RULES[access.object]
    if allowed_role and persona in granted(access, sample):
        return "ok"
    return "refused" if persona in visible else "hidden"


def _version(ctx):
    return {"version": ctx.version}


def _close_diagnostic_routes(ctx):
    """Archive district.teacher's open routes built on a diagnostic, so another can be drafted."""
    ctx.diagnosed_teacher()
    for route in db.session.execute(select(Route).where(
            Route.teacher_id == ctx.district.teacher.id, Route.diagnostic_id.isnot(None),
            Route.state != "closed")).scalars().all():
        service.apply_transition(route.id, "archive", ctx.district.head, comment="Для проверки доступа")


def _routes_of_both_teachers(ctx):
    """A route of each teacher, so every staff member has something to export."""
    ctx.district.route()
    ctx.district.route(teacher=ctx.district.other_teacher)


def _resources_csv(ctx):
    """The resource-map template with a title of this persona's own (so each import adds an entry)."""
    title = "Формирование функциональной грамотности обучающихся".encode()
    return resources.template_csv().replace(title, title + f" ({ctx.index})".encode(), 1)


def _substitution_period(ctx):
    """A period of this persona's own (substitutions of one principal may not overlap)."""
    start = date.today() + timedelta(days=10 * ctx.index)
    return {"starts_on": start.isoformat(), "ends_on": (start + timedelta(days=5)).isoformat()}


def _substitution_form(ctx):
    """Name a substitute: oneself for a curator or head (a colleague of the same role), the curator for an admin."""
    d = ctx.district
    pairs = {"curator": (d.curator, d.other_curator), "other_curator": (d.other_curator, d.curator),
             "school_head": (d.school_head, d.other_school_head),
             "other_school_head": (d.other_school_head, d.school_head)}
    principal, substitute = pairs.get(ctx.persona, (d.curator, d.other_curator))
    if ctx.persona == "department_head":
        principal = d.head
        substitute = ctx._once("second_head", lambda: accounts.create_user(
            "head_deputy", role="department_head", full_name="Заместитель Начальника", password=PASSWORD,
            municipality=d.municipality))
    return {"principal_id": principal.id, "substitute_id": substitute.id, **_substitution_period(ctx)}


def _curator_substitution(ctx):
    """The curator's substitution by the other curator, for this persona to cancel."""
    from workflow import delegation
    period = _substitution_period(ctx)
    return ctx._once("substitution", lambda: delegation.create_substitution(
        ctx.district.curator, substitute_id=ctx.district.other_curator.id, **period).id)


SAMPLES = {
    # --- static files and signing in -----------------------------------------------------------------
    "static": Sample(args={"filename": "missing.css"}, ok={404}),
    "bootstrap.static": Sample(),
    "auth.login GET": Sample(ok={200, 302}),
    "auth.login POST": Sample(data=lambda c: {"login": "teacher", "password": PASSWORD}, ok={200, 302},
                              changes=False),
    "auth.logout": Sample(data={}, ok={302}),
    "i18n.set_language": Sample(data={"locale": "en", "next": "/"}, ok={302}, changes=False),

    # --- routes (web) ---------------------------------------------------------------------------------
    "web.index": Sample(ok={302}),
    "web.routes": Sample(),
    "web.queue": Sample(),
    "inbox.index": Sample(),
    "inbox.bulk_transition": Sample(state="under_review", trigger="approve",
                                    data=lambda c: {"action": "approve", "route_ids": [f"{c.route.id}:{c.version}"]}),
    "web.create_route": Sample(data=lambda c: {"teacher_id": c.district.teacher.id}),
    "web.teacher": Sample(),
    "web.route": Sample(),
    "web.transition": Sample(state="under_review", trigger="approve", data=_version),
    "web.download_file": Sample(state="in_progress"),
    "web.edit_route": Sample(data=lambda c: {"request": "Новый запрос", "version": c.version}),
    "web.edit_activity": Sample(data=lambda c: {**ACTIVITY, "version": c.version}),
    "web.delete_activity": Sample(data=_version),
    "web.activity_result": Sample(state="in_progress",
                                  data=lambda c: {"status": "not_done", "reason": "Болезнь", "version": c.version}),
    "web.request_correction": Sample(state="in_progress", data=lambda c: {
        **ACTIVITY, "action": "add", "reason": "Нужно", "version": c.version}),
    "web.decide_correction": Sample(state="in_progress",
                                    data=lambda c: {"decision": "approve", "version": c.version}),
    "web.text_section": Sample(state="in_progress", args={"kind": "reflection"}, grants={"teacher"},
                               data=lambda c: {"text": "Итоги маршрута", "version": c.version}),
    "notifications.add_comment": Sample(data={"text": "Когда семинар?"}),
    "notifications.index": Sample(),
    "notifications.mark_read": Sample(data={}),
    "notifications.mark_all_read": Sample(data={}, prepare=lambda c: _unread_notification(c)),
    "exports.routes_csv": Sample(),

    # --- administration --------------------------------------------------------------------------------
    "admin.index": Sample(ok={302}),
    "admin.schools": Sample(data={"name": "СОШ № 77"}),
    "admin.users": Sample(),
    "admin.new_user": Sample(data=lambda c: {
        "login": "newbie", "full_name": "Новый Педагог", "role": "teacher", "school_id": c.district.school.id,
        "position": "Учитель", "email": "", "password": "password-456", "active": "y"}),
    "admin.edit_user": Sample(args={"user_id": lambda c: c.target}, data=lambda c: {
        "full_name": "Другое Имя", "role": "teacher", "school_id": c.district.school.id, "position": "",
        "email": "", "active": "y"}),
    "admin.set_password": Sample(args={"user_id": lambda c: c.target}, data={"password": "password-789"}),
    "admin.assignments": Sample(),
    "admin.assign": Sample(args={"teacher_id": lambda c: c.target},
                           data=lambda c: {"curator_id": c.district.other_curator.id}),

    # --- documents and orders ---------------------------------------------------------------------------
    "documents.route_docx": Sample(),
    "documents.route_pdf": Sample(pdf=True),
    "documents.export": Sample(),
    "documents.export_zip": Sample(prepare=lambda c: _routes_of_both_teachers(c)),
    "documents.orders_list": Sample(),
    "documents.order_new": Sample(state="curator_approved", data=lambda c: {
        "title": "Об утверждении ИОМ", "issued_on": date.today().isoformat(), "preamble": "В соответствии",
        "route_ids": [c.route.id]}),
    "documents.order_detail": Sample(),
    "documents.order_docx": Sample(),
    "documents.order_pdf": Sample(pdf=True),
    "documents.templates_list": Sample(),
    "documents.template_detail": Sample(multipart=True, data={"note": "Новая версия"},
                                        files=lambda c: {"file": (documents.builtin_bytes("route"), "route.docx")}),
    "documents.template_reset": Sample(data={}),
    "documents.template_download": Sample(),
    "documents.template_sample": Sample(),

    # --- diagnostics and the resource map -------------------------------------------------------------------
    "diagnostics.index": Sample(),
    "diagnostics.import_page": Sample(multipart=True, data={"threshold": "", "provider": "ФИОКО"},
                                      files=lambda c: {"file": (results_csv(c.index), "Результаты.csv")}),
    "diagnostics.import_confirm": Sample(data=lambda c: {"upload_id": c.upload_id, "threshold": "",
                                                         "provider": "ФИОКО"}),
    "diagnostics.import_template": Sample(args={"ext": "xlsx"}),
    "diagnostics.teachers": Sample(ok={200, 302}),
    "diagnostics.route_from_diagnostic": Sample(prepare=_close_diagnostic_routes,
                                                data=lambda c: {"teacher_id": c.district.teacher.id}),
    "diagnostics.add_from_resource": Sample(data=lambda c: {
        "entry_id": c.entry_id, "deficit": "Методические компетенции", "version": c.version},
        refused={302, 403}),
    "diagnostics.resources_list": Sample(),
    "diagnostics.resources_template": Sample(),
    "diagnostics.resource_form": Sample(data={**ENTRY, "title": "Вебинар по ЦОР"}),
    "diagnostics.resource_delete": Sample(data={}),
    "diagnostics.resources_import": Sample(multipart=True, data={},
                                           files=lambda c: {"file": (_resources_csv(c), "Ресурсы.csv")}),

    # --- monitoring --------------------------------------------------------------------------------------
    "monitoring.index": Sample(),
    "monitoring.new": Sample(data={"title": "Мониторинг ИОМ", "period_start": "2023-03-27",
                                   "period_end": "2023-03-31", "diagnostic_id": "", "addressees": "Руководителям ОО",
                                   "recommendations": "Продолжить работу"}),
    "monitoring.show": Sample(),
    "monitoring.edit": Sample(data=lambda c: {"version": c.campaign.version, "addressees": "Руководителям ОО",
                                              "recommendations": "Новые рекомендации"}),
    "monitoring.sign": Sample(data=lambda c: {"version": c.campaign.version}),
    "monitoring.report": Sample(args={"campaign_id": lambda c: _signed_campaign(c)}),

    # --- dashboard and help ------------------------------------------------------------------------------
    "dashboard.index": Sample(),
    "help.workflow": Sample(),

    # --- delegation -------------------------------------------------------------------------------------
    "delegations.index": Sample(data=_substitution_form),
    "delegations.cancel": Sample(args={"substitution_id": _curator_substitution}, data={}),

    # --- the JSON API -----------------------------------------------------------------------------------
    "api-docs.openapi_json": Sample(),
    "api_tokens.issue_token": Sample(data={"login": "teacher", "password": PASSWORD}, ok={201}, changes=True),
    "api_tokens.revoke_current_token": Sample(ok={204}),
    "api_routes.list_routes": Sample(),
    "api_routes.create_route": Sample(data=lambda c: {"teacher_id": c.district.teacher.id}, ok={201}),
    "api_routes.get_route": Sample(),
    "api_routes.update_route": Sample(data=lambda c: {"version": c.version, "request": "Новый запрос"}),
    "api_routes.transition": Sample(state="under_review", trigger="approve",
                                    data=lambda c: {"trigger": "approve", "version": c.version}),
    "api_inbox.get_inbox": Sample(),
    "api_inbox.bulk_transition": Sample(state="under_review", trigger="approve", data=lambda c: {
        "trigger": "approve", "route_ids": [c.route.id], "versions": {str(c.route.id): c.version}}),
    "api_routes.list_activities": Sample(),
    "api_routes.create_activity": Sample(data=lambda c: {**ACTIVITY, "version": c.version}, ok={201}),
    "api_routes.get_activity": Sample(),
    "api_routes.update_activity": Sample(data=lambda c: {"deficit": "Уточнённый дефицит", "version": c.version}),
    "api_routes.delete_activity": Sample(query=_version, ok={200, 204}),
    "api_routes.record_result": Sample(state="in_progress", data=lambda c: {
        "status": "not_done", "reason": "Болезнь", "version": c.version}),
    "api_routes.list_corrections": Sample(state="in_progress"),
    "api_routes.request_correction": Sample(state="in_progress", ok={200, 201}, data=lambda c: {
        "version": c.version, "reason": "Нужно", "action": "add",
        "fields": {"stage": "design", "direction": "methodical", "deficit": "Вебинар"}}),
    "api_routes.decide_correction": Sample(state="in_progress",
                                           data=lambda c: {"approve": True, "version": c.version}),
    "api_comments.list_comments": Sample(),
    "api_comments.add_comment": Sample(ok={201}, data={"text": "Когда семинар?"}),
    "api_notifications.list_notifications": Sample(),
    "api_notifications.mark_read": Sample(data=None),
    "api_notifications.mark_all_read": Sample(prepare=lambda c: _unread_notification(c)),
    "api_documents.route_docx": Sample(),
    "api_documents.list_orders": Sample(),
    "api_documents.create_order": Sample(state="curator_approved", ok={201},
                                         data=lambda c: {"route_ids": [c.route.id]}),
    "api_documents.get_order": Sample(),
    "api_documents.order_docx": Sample(),
    "api_diagnostics.import_results": Sample(multipart=True, data={"dry_run": "false"},
                                             files=lambda c: {"file": (results_csv(c.index), "Результаты.csv")}),
    "api_monitoring.list_campaigns": Sample(),
    "api_monitoring.create_campaign": Sample(ok={201}, data={"title": "Мониторинг ИОМ", "period_start": "2023-03-27",
                                                             "period_end": "2023-03-31"}),
    "api_monitoring.get_campaign": Sample(),
    "api_monitoring.update_campaign": Sample(data=lambda c: {"version": c.campaign.version,
                                                             "recommendations": "Новые рекомендации"}),
    "api_monitoring.sign_campaign": Sample(data=lambda c: {"version": c.campaign.version}),
    "api_monitoring.report_docx": Sample(args={"campaign_id": lambda c: _signed_campaign(c)}),
}


def _unread_notification(ctx):
    """Give the persona an unread notification (so marking all read changes something)."""
    if ctx.user is not None:
        from workflow import notifications
        notifications.add(db.session, ctx.user.id, "comment", ctx.route, actor=None, params={})
        db.session.commit()


def _signed_campaign(ctx):
    def make():
        campaign = ctx.campaign
        monitoring.sign_campaign(ctx.district.head, campaign.id, version=campaign.version)
        return campaign.id
    return ctx._once("signed", make)


def sample_for(endpoint, method):
    """Return the Sample of an endpoint and method (keys: "endpoint METHOD", or "endpoint")."""
    return SAMPLES.get(f"{endpoint} {method}") or SAMPLES.get(endpoint)


def request_kwargs(ctx, is_api, method):
    """Return the test client's keyword arguments for the sample's body."""
    sample = ctx.sample
    data = ctx.value(sample.data) if sample.data is not None else None
    if method == "GET":
        return {}
    if sample.multipart:
        payload = dict(data or {})
        for name, (content, filename) in ctx.value(sample.files).items():
            payload[name] = (io.BytesIO(content), filename)
        return {"data": payload, "content_type": "multipart/form-data"}
    if is_api:
        return {"json": data} if data is not None else {}
    return {"data": data or {}}

