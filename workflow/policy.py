"""Who may call which URL: one table for every URL rule (endpoint) and method.

Each entry names the roles that may call the endpoint at all (or PUBLIC), and the object-level rule
the view then applies through workflow/ (permissions.require_view, load_route, load_order, ...).
Role-level access is enforced for every request before the view runs (views/http_security.py);
object-level access stays in workflow/, where the view's call of load_route & co. applies it.
tests/test_access_matrix.py checks every rule of the app against this table for every role and
fails when a rule has no entry, so a new URL cannot ship without a decision on who may use it.
"""
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from models import Role
from workflow.errors import NotPermitted

TEACHER, CURATOR, SCHOOL_HEAD, DEPARTMENT_HEAD, ADMIN = (
    Role.TEACHER.value, Role.CURATOR.value, Role.SCHOOL_HEAD.value, Role.DEPARTMENT_HEAD.value, Role.ADMIN.value)
ALL_ROLES = frozenset({TEACHER, CURATOR, SCHOOL_HEAD, DEPARTMENT_HEAD, ADMIN})

# The object-level rules a view applies after the role check (what the access matrix expects).
OBJECT_RULES = {
    "route.read": "the route's teacher, its curator, the head of its school, the department head of its "
                  "municipality, an admin; anyone else gets 404 (ids do not leak)",
    "route.owner": "the route's teacher; other readers get 403, the rest 404",
    "route.curator": "the route's curator; other readers get 403, the rest 404",
    "route.editor": "the route's teacher or curator; other readers get 403, the rest 404",
    "notification.owner": "the user the notification is for; 404 for everyone else (ids do not leak)",
    "route.transition": "whoever the transition names (workflow.states.TRANSITIONS actors); "
                        "other readers get 403, the rest 404",
    "file.read": "whoever may read the route the file belongs to; 404 for the rest",
    "teacher.read": "the teacher, their curator, the head of their school, the department head of their "
                    "municipality, an admin; 404 for the rest",
    "teacher.manage": "the teacher for themselves, their curator, an admin; 403 for the rest",
    "order.read": "staff of the order's municipality (department head, school heads, curators), an admin",
    "campaign.read": "staff of the campaign's municipality (department head, school heads, curators), an admin",
    "campaign.manage": "the department head of the campaign's municipality, an admin",
    "campaign.sign": "the department head of the campaign's municipality",
    "resource.manage": "curators, the department head and admins of the entry's municipality",
    "upload.owner": "the user who uploaded the file being confirmed",
    "substitution.principal": "the substitution's principal or an admin (of its municipality); its substitute "
                              "gets 403, the rest 404",
}


@dataclass(frozen=True)
class Access:
    """Who may call one endpoint with one method."""

    roles: frozenset = frozenset()
    public: bool = False
    object: str | None = None

    def allows(self, user):
        """Tell whether the user passes the role-level check (anonymous users only for public URLs)."""
        if self.public:
            return True
        if user is None or not getattr(user, "is_authenticated", False):
            return False
        return user.role in self.roles


PUBLIC = Access(public=True)


def roles(*names, obj=None):
    """Access for signed-in users of these roles (all roles when none are named)."""
    unknown = set(names) - ALL_ROLES
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    if obj is not None and obj not in OBJECT_RULES:
        raise ValueError(f"unknown object rule: {obj}")
    return Access(roles=frozenset(names) if names else ALL_ROLES, object=obj)


ANY = roles()
T, C, SH, DH, A = TEACHER, CURATOR, SCHOOL_HEAD, DEPARTMENT_HEAD, ADMIN
STAFF = (C, SH, DH, A)  # who sees lists beyond their own routes: exports, orders, monitoring

POLICY = {
    # --- static files and signing in ---------------------------------------------------------------
    "static": {"GET": PUBLIC},
    "bootstrap.static": {"GET": PUBLIC},
    "auth.login": {"GET": PUBLIC, "POST": PUBLIC},
    "auth.logout": {"POST": ANY},
    "i18n.set_language": {"POST": PUBLIC},

    # --- routes (web) -------------------------------------------------------------------------------
    "web.index": {"GET": ANY},
    "web.routes": {"GET": ANY},
    "web.queue": {"GET": roles(C)},
    "inbox.index": {"GET": ANY},
    # Each route is checked on its own (route.transition); none changed: 404/403/409 by their reasons.
    "inbox.bulk_transition": {"POST": roles(C, DH, obj="route.transition")},
    "web.create_route": {"POST": roles(T, C, A, obj="teacher.manage")},
    "web.teacher": {"GET": roles(obj="teacher.read")},
    "web.route": {"GET": roles(obj="route.read")},
    "web.transition": {"POST": roles(T, C, DH, obj="route.transition")},
    "web.download_file": {"GET": roles(obj="file.read")},
    "web.edit_route": {"GET": roles(T, C, obj="route.editor"), "POST": roles(T, C, obj="route.editor")},
    "web.edit_activity": {"GET": roles(T, C, obj="route.editor"), "POST": roles(T, C, obj="route.editor")},
    "web.delete_activity": {"POST": roles(T, C, obj="route.editor")},
    "web.activity_result": {"GET": roles(T, C, obj="route.owner"), "POST": roles(T, C, obj="route.owner")},
    "web.request_correction": {"GET": roles(T, C, obj="route.owner"), "POST": roles(T, C, obj="route.owner")},
    "web.decide_correction": {"POST": roles(C, obj="route.curator")},
    # reflection: the route's teacher; recommendations: its curator.
    "web.text_section": {"GET": roles(T, C, obj="route.editor"), "POST": roles(T, C, obj="route.editor")},
    # the route's discussion and the user's notifications (views/notifications.py)
    "notifications.add_comment": {"POST": roles(obj="route.read")},
    "notifications.index": {"GET": ANY},
    "notifications.mark_read": {"POST": roles(obj="notification.owner")},
    "notifications.mark_all_read": {"POST": ANY},
    "exports.routes_csv": {"GET": roles(*STAFF)},

    # --- administration -----------------------------------------------------------------------------
    "admin.index": {"GET": roles(A)},
    "admin.schools": {"GET": roles(A), "POST": roles(A)},
    "admin.users": {"GET": roles(A)},
    "admin.new_user": {"GET": roles(A), "POST": roles(A)},
    "admin.edit_user": {"GET": roles(A), "POST": roles(A)},
    "admin.set_password": {"POST": roles(A)},
    "admin.assignments": {"GET": roles(A)},
    "admin.assign": {"POST": roles(A)},

    # --- documents and orders -----------------------------------------------------------------------
    "documents.route_docx": {"GET": roles(obj="route.read")},
    "documents.route_pdf": {"GET": roles(obj="route.read")},
    "documents.export": {"GET": roles(*STAFF)},
    "documents.export_zip": {"GET": roles(*STAFF)},
    "documents.orders_list": {"GET": roles(*STAFF)},
    "documents.order_new": {"GET": roles(DH, A), "POST": roles(DH, A)},
    "documents.order_detail": {"GET": roles(*STAFF, obj="order.read")},
    "documents.order_docx": {"GET": roles(*STAFF, obj="order.read")},
    "documents.order_pdf": {"GET": roles(*STAFF, obj="order.read")},
    "documents.templates_list": {"GET": roles(A)},
    "documents.template_detail": {"GET": roles(A), "POST": roles(A)},
    "documents.template_reset": {"POST": roles(A)},
    "documents.template_download": {"GET": roles(A)},
    "documents.template_sample": {"GET": roles(A)},

    # --- diagnostics and the resource map ----------------------------------------------------------------
    "diagnostics.index": {"GET": roles(C, DH, A)},
    "diagnostics.import_page": {"GET": roles(C, DH, A), "POST": roles(C, DH, A)},
    "diagnostics.import_confirm": {"POST": roles(C, DH, A, obj="upload.owner")},
    "diagnostics.import_template": {"GET": ANY},
    "diagnostics.teachers": {"GET": ANY},
    "diagnostics.route_from_diagnostic": {"POST": roles(T, C, A, obj="teacher.manage")},
    "diagnostics.add_from_resource": {"POST": roles(T, C, obj="route.editor")},
    "diagnostics.resources_list": {"GET": ANY},
    "diagnostics.resources_template": {"GET": ANY},
    "diagnostics.resource_form": {"GET": roles(C, DH, A, obj="resource.manage"),
                                  "POST": roles(C, DH, A, obj="resource.manage")},
    "diagnostics.resource_delete": {"POST": roles(C, DH, A, obj="resource.manage")},
    "diagnostics.resources_import": {"GET": roles(C, DH, A), "POST": roles(C, DH, A)},

    # --- monitoring ------------------------------------------------------------------------------------
    "monitoring.index": {"GET": roles(*STAFF)},
    "monitoring.new": {"GET": roles(DH, A), "POST": roles(DH, A)},
    "monitoring.show": {"GET": roles(*STAFF, obj="campaign.read")},
    "monitoring.edit": {"POST": roles(DH, A, obj="campaign.manage")},
    "monitoring.sign": {"POST": roles(DH, obj="campaign.sign")},
    "monitoring.report": {"GET": roles(*STAFF, obj="campaign.read")},

    # --- dashboard and help ----------------------------------------------------------------------------
    # /dashboard?municipality=&school=: a school head only their school, a department head their
    # municipality, an admin any; another municipality's or school's id is 404.
    "dashboard.index": {"GET": roles(SH, DH, A)},
    "help.workflow": {"GET": ANY},

    # --- delegation (substitutes of curators and heads) -----------------------------------------------
    # GET lists mine (all of the municipality for an admin); POST names a substitute (workflow/delegation.py).
    "delegations.index": {"GET": roles(C, SH, DH, A), "POST": roles(C, SH, DH, A)},
    "delegations.cancel": {"POST": roles(C, SH, DH, A, obj="substitution.principal")},

    # --- the JSON API (bearer tokens) ------------------------------------------------------------------
    "api-docs.openapi_json": {"GET": PUBLIC},
    "api_tokens.issue_token": {"POST": PUBLIC},
    "api_tokens.revoke_current_token": {"DELETE": ANY},
    "api_routes.list_routes": {"GET": ANY},
    "api_routes.create_route": {"POST": roles(T, C, A, obj="teacher.manage")},
    "api_routes.get_route": {"GET": roles(obj="route.read")},
    "api_routes.update_route": {"PATCH": roles(T, C, obj="route.editor")},
    "api_routes.transition": {"POST": roles(T, C, DH, obj="route.transition")},
    "api_inbox.get_inbox": {"GET": ANY},
    "api_inbox.bulk_transition": {"POST": roles(C, DH, obj="route.transition")},
    "api_routes.list_activities": {"GET": roles(obj="route.read")},
    "api_routes.create_activity": {"POST": roles(T, C, obj="route.editor")},
    "api_routes.get_activity": {"GET": roles(obj="route.read")},
    "api_routes.update_activity": {"PATCH": roles(T, C, obj="route.editor")},
    "api_routes.delete_activity": {"DELETE": roles(T, C, obj="route.editor")},
    "api_routes.record_result": {"POST": roles(T, C, obj="route.owner")},
    "api_routes.list_corrections": {"GET": roles(obj="route.read")},
    "api_routes.request_correction": {"POST": roles(T, C, obj="route.owner")},
    "api_routes.decide_correction": {"POST": roles(C, obj="route.curator")},
    "api_comments.list_comments": {"GET": roles(obj="route.read")},
    "api_comments.add_comment": {"POST": roles(obj="route.read")},
    "api_notifications.list_notifications": {"GET": ANY},
    "api_notifications.mark_read": {"POST": roles(obj="notification.owner")},
    "api_notifications.mark_all_read": {"POST": ANY},
    "api_documents.route_docx": {"GET": roles(obj="route.read")},
    "api_documents.list_orders": {"GET": roles(*STAFF)},
    "api_documents.create_order": {"POST": roles(DH, A)},
    "api_documents.get_order": {"GET": roles(*STAFF, obj="order.read")},
    "api_documents.order_docx": {"GET": roles(*STAFF, obj="order.read")},
    "api_diagnostics.import_results": {"POST": roles(C, DH, A)},
    "api_monitoring.list_campaigns": {"GET": roles(*STAFF)},
    "api_monitoring.create_campaign": {"POST": roles(DH, A)},
    "api_monitoring.get_campaign": {"GET": roles(*STAFF, obj="campaign.read")},
    "api_monitoring.update_campaign": {"PATCH": roles(DH, A, obj="campaign.manage")},
    "api_monitoring.sign_campaign": {"POST": roles(DH, obj="campaign.sign")},
    "api_monitoring.report_docx": {"GET": roles(*STAFF, obj="campaign.read")},
}

DENIED_MESSAGE = _l("Недостаточно прав для этого действия")


def access_for(endpoint, method):
    """Return the Access of an endpoint and method (HEAD counts as GET), or None when not in the table."""
    methods = POLICY.get(endpoint)
    if methods is None:
        return None
    return methods.get("GET" if method == "HEAD" else method)


def require(user, access):
    """Raise NotPermitted unless the (signed-in) user passes the role-level check."""
    if not access.allows(user):
        raise NotPermitted(DENIED_MESSAGE)
