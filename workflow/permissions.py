"""Who may see and touch what: object-level access in one place."""
from flask_babel import gettext as _
from sqlalchemy import or_, select

from models import Role, Route, School
from workflow import delegation
from workflow.errors import NotFound, NotPermitted
from workflow.states import CURATOR, DEPARTMENT_HEAD, TEACHER


def relations(route, user):
    """Return the set of relations the user has to the route, their own and a substitute's for today."""
    return own_relations(route, user) | set(delegated_relations(route, user))


def delegated_relations(route, user):
    """Return {relation: principal id} the user holds today only as someone's substitute."""
    found = {}
    for principal in delegation.active_principals(user):
        if user.role == Role.CURATOR.value and route.curator_id == principal.id:
            found.setdefault(CURATOR, principal.id)
        if user.role == Role.DEPARTMENT_HEAD.value and route.school is not None \
                and route.school.municipality_id == principal.municipality_id:
            found.setdefault(DEPARTMENT_HEAD, principal.id)
    return found


def acting_for(route, user, allowed):
    """Return the principal the user acts for when only a substitution gives an allowed relation, else None."""
    if own_relations(route, user) & set(allowed):
        return None
    delegated = delegated_relations(route, user)
    return next((delegated[r] for r in allowed if r in delegated), None)


def own_relations(route, user):
    """Return the set of relations the user has to the route by their own role (teacher, curator, head)."""
    found = set()
    if user is None or not getattr(user, "is_authenticated", False):
        return found
    if route.teacher_id == user.id:
        found.add(TEACHER)
    if user.role == Role.CURATOR.value and route.curator_id == user.id:
        found.add(CURATOR)
    if user.role == Role.DEPARTMENT_HEAD.value and route.school is not None \
            and route.school.municipality_id == user.municipality_id:
        found.add(DEPARTMENT_HEAD)
    return found


def scope_values(user):
    """The user's values that visibility and scopes depend on, with today's principals folded in.

    {"user_id", "curator_ids": [the user, principals], "school_ids": sorted schools of the user and
    principals, "municipality_id"}: the parameters of visibility_for() and of the inbox's prebuilt counts.
    """
    principals = delegation.active_principals(user)
    return {
        "user_id": user.id,
        "curator_ids": [user.id, *(p.id for p in principals)],
        "school_ids": sorted({s for s in [user.school_id, *(p.school_id for p in principals)] if s is not None}),
        "municipality_id": user.municipality_id,
    }


def column_in(column, values):
    """column IN values; "=" for a one-element list; values may be an expanding bind parameter."""
    if isinstance(values, (list, tuple)) and len(values) == 1:
        return column == values[0]
    return column.in_(values)


def has_values(values):
    """Whether an id list (or a bind parameter standing for one) names anything."""
    return values is not None and not (isinstance(values, (list, tuple)) and not values)


def visibility_for(role, user_id, curator_ids, school_ids, municipality_id):
    """The condition selecting the routes a user may see, from scope_values() or bind parameters for them.

    school_ids and municipality_id are None (or empty) when the user has none: that changes the shape.
    """
    if role == Role.ADMIN.value:
        return Route.id.isnot(None)
    conditions = [Route.teacher_id == user_id]
    if role == Role.CURATOR.value:
        conditions.append(column_in(Route.curator_id, curator_ids))
    elif role == Role.SCHOOL_HEAD.value and has_values(school_ids):
        conditions.append(column_in(Route.school_id, school_ids))
    elif role == Role.DEPARTMENT_HEAD.value and municipality_id is not None:
        conditions.append(
            Route.school_id.in_(select(School.id).where(School.municipality_id == municipality_id))
        )
    return or_(*conditions)


def visibility_clause(user):
    """Return a SQL condition selecting the routes the user may see."""
    return visibility_for(user.role, **scope_values(user))


def can_view(route, user):
    """Tell whether the user may see the route."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.role == Role.ADMIN.value or relations(route, user):
        return True
    if user.role == Role.CURATOR.value and route.curator_id == user.id:
        return True
    if user.role == Role.SCHOOL_HEAD.value:
        return route.school_id is not None and (route.school_id == user.school_id
                                                or delegation.principal_for_school(user, route.school_id) is not None)
    return False


def require_view(route, user):
    """Raise NotFound when the route does not exist or the user may not see it."""
    if route is None or not can_view(route, user):
        # A route the user may not see is reported as missing, so ids do not leak.
        raise NotFound(_("Маршрут не найден"))
    return route


def require_relation(route, user, allowed, message):
    """Raise NotPermitted unless the user has one of the allowed relations to the route."""
    if not relations(route, user) & set(allowed):
        raise NotPermitted(message)


def require_role(user, *roles):
    if user is None or not user.is_authenticated or user.role not in {Role(r).value for r in roles}:
        raise NotPermitted(_("Недостаточно прав для этого действия"))


def can_manage_teacher(user, teacher):
    """Tell whether the user may create routes for this teacher (admin or the teacher's curator)."""
    if user.role == Role.ADMIN.value:
        return True
    return user.role == Role.CURATOR.value and teacher.curator_id == user.id


def can_view_teacher(user, teacher):
    """Tell whether the user may see a teacher's profile: self, curator, school head, department head, admin."""
    if user is None or not getattr(user, "is_authenticated", False) or teacher is None:
        return False
    if user.id == teacher.id or user.role == Role.ADMIN.value:
        return True
    if user.role == Role.CURATOR.value:
        return teacher.curator_id is not None and (
            teacher.curator_id == user.id or delegation.principal_for_curator(user, teacher.curator_id) is not None)
    if user.role == Role.SCHOOL_HEAD.value:
        return teacher.school_id is not None and (
            teacher.school_id == user.school_id or delegation.principal_for_school(user, teacher.school_id) is not None)
    if user.role == Role.DEPARTMENT_HEAD.value:
        return user.municipality_id is not None and teacher.municipality_id == user.municipality_id
    return False


def require_view_teacher(user, teacher):
    """Raise NotFound when the teacher does not exist or the user may not see their profile."""
    if not can_view_teacher(user, teacher):
        raise NotFound(_("Педагог не найден"))
    return teacher
