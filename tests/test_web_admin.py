"""Admin pages: schools, users, roles, passwords, curator assignments; admins only."""
import pytest
from sqlalchemy import select

from models import Route, School, User, db
from tests.conftest import PASSWORD

ADMIN_PAGES = ["/admin/", "/admin/users", "/admin/users/new", "/admin/schools", "/admin/assignments"]


def user(login):
    db.session.expire_all()
    return db.session.execute(select(User).where(User.login == login)).scalar_one_or_none()


@pytest.mark.parametrize("login", ["teacher", "curator", "director1", "head"])
def test_admin_pages_are_for_admins_only(client, auth, district, login):
    auth.login(login)
    for url in ADMIN_PAGES + [f"/admin/users/{district.teacher.id}"]:
        assert client.get(url).status_code == 403, url
    response = client.post("/admin/schools", data={"name": "СОШ № 99"})
    assert response.status_code == 403
    response = client.post(f"/admin/users/{district.teacher.id}/password", data={"password": "new-password-1"})
    assert response.status_code == 403
    response = client.post(f"/admin/assignments/{district.teacher.id}", data={"curator_id": district.other_curator.id})
    assert response.status_code == 403
    assert db.session.execute(select(School).where(School.name == "СОШ № 99")).first() is None
    assert user("teacher").curator_id == district.curator.id


def test_anonymous_goes_to_login(client, district):
    for url in ADMIN_PAGES:
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_admin_pages_render(client, auth, district):
    auth.login("admin")
    for url in ADMIN_PAGES[1:] + [f"/admin/users/{district.teacher.id}", "/admin/users?role=teacher&q=teacher",
                                  f"/admin/assignments?school={district.school.id}&missing=1"]:
        response = client.get(url)
        assert response.status_code == 200, url
    assert "Пользователь teacher" in client.get("/admin/users?role=teacher").get_data(as_text=True)


def test_admin_creates_a_school(client, auth, district):
    auth.login("admin")
    response = client.post("/admin/schools", data={"name": "СОШ № 53"})
    assert response.status_code == 302
    assert "СОШ № 53" in client.get("/admin/schools").get_data(as_text=True)
    response = client.post("/admin/schools", data={"name": "СОШ № 53"})
    assert response.status_code == 409 and "уже есть" in response.get_data(as_text=True)
    response = client.post("/admin/schools", data={"name": "  "})
    assert response.status_code == 422 and "Укажите название школы" in response.get_data(as_text=True)


def test_admin_creates_edits_and_resets_a_user(client, auth, district):
    auth.login("admin")
    response = client.post("/admin/users/new", data={
        "login": "ivanova", "full_name": "Иванова Анна Сергеевна", "role": "teacher",
        "school_id": district.school.id, "position": "Учитель физики", "email": "ivanova@example.org",
        "password": "secret-password", "active": "y"})
    assert response.status_code == 302
    created = user("ivanova")
    assert (created.role, created.school_id, created.position) == ("teacher", district.school.id, "Учитель физики")
    assert created.check_password("secret-password")

    # Bad input: a duplicate login, a short password, a teacher without a school.
    for data, message in [
        ({"login": "ivanova", "full_name": "Другая", "role": "curator", "password": "secret-password"}, "уже занят"),
        ({"login": "petrov", "full_name": "Петров", "role": "curator", "password": "short"}, "не короче 8"),
        ({"login": "sidorov", "full_name": "Сидоров", "role": "teacher", "password": "secret-password"},
         "укажите школу"),
        ({"login": "x y", "full_name": "Пробел", "role": "curator", "password": "secret-password"}, "пробелы"),
        ({"login": "mail", "full_name": "Почта", "role": "curator", "password": "secret-password",
          "email": "не-адрес"}, "Неверный адрес"),
    ]:
        response = client.post("/admin/users/new", data=data)
        assert response.status_code in (409, 422), data
        assert message in response.get_data(as_text=True), message
    assert user("petrov") is None and user("sidorov") is None

    # Edit the role, name, school and activity; a role change ends the user's sessions.
    nonce = created.session_nonce
    response = client.post(f"/admin/users/{created.id}", data={
        "full_name": "Иванова Анна Сергеевна (куратор)", "role": "curator", "school_id": district.other_school.id,
        "position": "Методист", "email": "", "active": ""})
    assert response.status_code == 302
    edited = user("ivanova")
    assert (edited.role, edited.full_name, edited.school_id, edited.active) == (
        "curator", "Иванова Анна Сергеевна (куратор)", district.other_school.id, False)
    assert edited.session_nonce != nonce

    response = client.post(f"/admin/users/{created.id}/password", data={"password": "another-password"})
    assert response.status_code == 302 and user("ivanova").check_password("another-password")
    response = client.post(f"/admin/users/{created.id}/password", data={"password": "short"}, follow_redirects=True)
    assert "Пароль не изменён" in response.get_data(as_text=True)
    assert user("ivanova").check_password("another-password")


def test_admin_cannot_lock_themselves_out(client, auth, district):
    auth.login("admin")
    response = client.post(f"/admin/users/{district.admin.id}", data={
        "full_name": "Админ", "role": "teacher", "school_id": district.school.id, "active": "y"})
    assert response.status_code == 422 and "Нельзя снять с себя роль администратора" in response.get_data(as_text=True)
    assert user("admin").role == "admin"


def test_admin_assigns_curators_and_open_routes_follow(client, auth, district):
    route = district.route(state="in_progress")
    auth.login("admin")
    response = client.post(f"/admin/assignments/{district.teacher.id}",
                           data={"curator_id": district.other_curator.id, "back": "/admin/assignments?page=1"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/assignments?page=1")
    assert user("teacher").curator_id == district.other_curator.id
    db.session.expire_all()
    assert db.session.get(Route, route.id).curator_id == district.other_curator.id
    # The new curator now sees the route; the old one no longer does.
    auth.logout()
    auth.login("curator2")
    assert client.get(f"/routes/{route.id}").status_code == 200
    auth.logout()
    auth.login("curator")
    assert client.get(f"/routes/{route.id}").status_code == 404
    auth.logout()
    auth.login("admin")
    response = client.post(f"/admin/assignments/{district.teacher.id}",
                           data={"curator_id": district.head.id}, follow_redirects=True)
    assert "не куратор" in response.get_data(as_text=True)
    assert user("teacher").curator_id == district.other_curator.id
    response = client.post(f"/admin/assignments/{district.teacher.id}",
                           data={"curator_id": district.curator.id, "back": "https://evil.example/"})
    assert response.headers["Location"].endswith("/admin/assignments")  # no open redirect
    assert user("teacher").curator_id == district.curator.id


def test_deactivated_user_cannot_sign_in(client, auth, district):
    auth.login("admin")
    client.post(f"/admin/users/{district.other_teacher.id}", data={
        "full_name": district.other_teacher.full_name, "role": "teacher",
        "school_id": district.other_school.id, "active": ""})
    auth.logout()
    assert user("teacher2").active is False
    response = auth.login("teacher2", PASSWORD)
    assert response.status_code == 200 and "Неверный логин или пароль" in response.get_data(as_text=True)
