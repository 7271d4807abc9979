"""Who may see and touch what: object-level access in one place."""
from flask_babel import gettext as _
from sqlalchemy import false, or_, select

from models import Role, Route, School
from workflow.errors import NotFound, NotPermitted
from workflow.states import CURATOR, DEPARTMENT_HEAD, TEACHER


def relations(route, user):
    """Return the set of relations the user has to the route (teacher, curator, department head)."""
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


def visibility_clause(user):
    """Return a SQL condition selecting the routes the user may see."""
    if user.role == Role.ADMIN.value:
        return Route.id.isnot(None)
    conditions = [Route.teacher_id == user.id]
    if user.role == Role.CURATOR.value:
        conditions.append(Route.curator_id == user.id)
    elif user.role == Role.SCHOOL_HEAD.value and user.school_id is not None:
        conditions.append(Route.school_id == user.school_id)
    elif user.role == Role.DEPARTMENT_HEAD.value and user.municipality_id is not None:
        conditions.append(
            Route.school_id.in_(select(School.id).where(School.municipality_id == user.municipality_id))
        )
    return or_(*conditions) if conditions else false()


def can_view(route, user):
    """Tell whether the user may see the route."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.role == Role.ADMIN.value or relations(route, user):
        return True
    if user.role == Role.CURATOR.value and route.curator_id == user.id:
        return True
    if user.role == Role.SCHOOL_HEAD.value:
        return user.school_id is not None and route.school_id == user.school_id
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
        return teacher.curator_id == user.id
    if user.role == Role.SCHOOL_HEAD.value:
        return user.school_id is not None and teacher.school_id == user.school_id
    if user.role == Role.DEPARTMENT_HEAD.value:
        return user.municipality_id is not None and teacher.municipality_id == user.municipality_id
    return False


def require_view_teacher(user, teacher):
    """Raise NotFound when the teacher does not exist or the user may not see their profile."""
    if not can_view_teacher(user, teacher):
        raise NotFound(_("Педагог не найден"))
    return teacher
