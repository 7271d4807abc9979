"""Orders: the approval and monitoring orders' text, the number registry (also under concurrent issuing),
stored bytes that never change, the registry's pages, search, API and access checks."""
import hashlib
import io
import threading
import zipfile
from datetime import date

import pytest
from sqlalchemy import func, select

from conftest import PASSWORD
from models import Municipality, Order, OrderCounter, StoredFile, User, db
from test_documents import _patched, all_text, paragraphs, tables
from workflow import accounts, documents, orders
from workflow.errors import InvalidInput, NotFound, NotPermitted


def _seed_municipality(district):
    m = district.municipality
    m.department_name = "Управление образования администрации\nСоветского городского округа"
    m.place = "г.Зеленокумск"
    m.head_name = "Т.П. Пахмутова"
    db.session.commit()
    return m


def _monitoring(district, user=None, **context):
    context = {"period_start": date(2023, 3, 27), "period_end": date(2023, 3, 31), **context}
    return orders.issue_order("monitoring", district.municipality, user or district.head,
                              title="О проведении мониторинга разработки ИОМ", context=context,
                              issued_on=context.pop("issued_on", date(2023, 3, 20)))


# --- the documents ------------------------------------------------------------------------------------

def test_routes_approval_order_has_the_seed_layout_and_the_routes_table(app, district):
    _seed_municipality(district)
    first = district.route(state="curator_approved")
    second = district.route(teacher=district.other_teacher, state="curator_approved")
    third = district.route(state="curator_approved")
    order = orders.issue_routes_approval(district.head, [third.id, second.id, first.id],
                                         issued_on=date(2022, 9, 1))
    assert (order.number, order.year, order.kind) == (1, 2022, "routes_approval")
    data = orders.order_document(order)
    text = paragraphs(data)
    assert text[:3] == ["УПРАВЛЕНИЕ ОБРАЗОВАНИЯ АДМИНИСТРАЦИИ\nСОВЕТСКОГО ГОРОДСКОГО ОКРУГА", "П Р И К А З",
                        "г.Зеленокумск"]
    head_table, routes_table, signature = tables(data)
    assert head_table == [["«01» сентября 2022 года", "№ 1"]]
    assert text[3] == f"«{orders.ROUTES_APPROVAL_TITLE}»"
    assert text[4] == orders.ROUTES_APPROVAL_PREAMBLE
    assert text[5] == "ПРИКАЗЫВАЮ:"
    assert text[6:10] == [f"{i}. {item}" for i, item in enumerate(orders.ROUTES_APPROVAL_ITEMS, start=1)]
    assert text[10] == "Список педагогических работников, индивидуальные образовательные маршруты которых утверждены"
    period = f"{date.today().strftime('%d.%m.%Y')} – "
    assert routes_table[0] == ["№ п/п", "Педагогический работник", "Общеобразовательная организация", "Куратор",
                               "Срок реализации ИОМ"]
    # By school, then teacher, then route id.
    assert [row[:4] for row in routes_table[1:]] == [
        ["1", "Пользователь teacher", "СОШ № 1", "Пользователь curator"],
        ["2", "Пользователь teacher", "СОШ № 1", "Пользователь curator"],
        ["3", "Пользователь teacher2", "СОШ № 2", "Пользователь curator2"],
    ]
    assert all(row[4].startswith(period) for row in routes_table[1:])
    assert signature == [["Начальник управления образования", "Т.П. Пахмутова"]]
    assert [link.route_id for link in order.routes] == [first.id, third.id, second.id]
    assert order.context["routes"][0]["teacher"] == "Пользователь teacher"


def test_monitoring_order_prints_its_dates_and_items(app, district):
    _seed_municipality(district)
    order = _monitoring(district, items=["Методистам подготовить справку.", "Контроль оставляю за собой."])
    text = paragraphs(orders.order_document(order))
    assert "«О проведении мониторинга разработки ИОМ»" in text
    assert "1. Провести мониторинг разработки ИОМ в период с 27.03.2023 по 31.03.2023." in text
    assert text[-2:] == ["2. Методистам подготовить справку.", "3. Контроль оставляю за собой."]
    assert tables(orders.order_document(order))[0] == [["«20» марта 2023 года", "№ 1"]]
    assert order.context["period_start"] == "2023-03-27"


def test_monitoring_order_needs_valid_dates(app, district):
    with pytest.raises(InvalidInput):
        orders.issue_order("monitoring", district.municipality, district.head, title="О проведении мониторинга",
                           context={"period_start": date(2023, 3, 27)})
    with pytest.raises(InvalidInput):
        _monitoring(district, period_start=date(2023, 4, 1), period_end=date(2023, 3, 1))
    with pytest.raises(InvalidInput):
        orders.issue_order("no_such_kind", district.municipality, district.head, title="x", context={})
    assert db.session.execute(select(func.count(Order.id))).scalar_one() == 0
    assert db.session.execute(select(func.count(OrderCounter.id))).scalar_one() == 0


def test_order_texts_are_escaped(app, district):
    tricky = "«Кавычки» & <теги> \"двойные\" 'одинарные'\nстрока\tтаб"
    order = _monitoring(district, subject=tricky, preamble=tricky)
    data = orders.order_document(order)
    assert tricky in paragraphs(data)
    assert f"1. Провести {tricky} в период с 27.03.2023 по 31.03.2023." in all_text(data)


# --- the registry -------------------------------------------------------------------------------------

def test_numbers_are_sequential_per_municipality_and_year(app, district):
    numbers = [_monitoring(district).number for _ in range(3)]
    assert numbers == [1, 2, 3]
    assert _monitoring(district, issued_on=date(2024, 1, 10)).number == 1
    assert _monitoring(district).number == 4
    other = Municipality(name="Другой район", department_name="Управление образования другого района")
    db.session.add(other)
    db.session.commit()
    other_head = accounts.create_user("head_other", role="department_head", full_name="Другой начальник",
                                      password=PASSWORD, municipality=other)
    assert orders.issue_order("monitoring", other, other_head, title="О проведении мониторинга",
                              context={"period_start": "2023-03-01", "period_end": "2023-03-05"},
                              issued_on=date(2023, 3, 1)).number == 1


def test_a_failed_issue_takes_no_number(app, district, monkeypatch):
    assert _monitoring(district).number == 1

    def broken(*args, **kwargs):
        raise documents.DocumentError("сбой шаблона")
    monkeypatch.setattr(documents, "render_document", broken)
    with pytest.raises(documents.DocumentError):
        _monitoring(district)
    monkeypatch.undo()
    assert _monitoring(district).number == 2


def test_the_database_refuses_a_duplicate_number(app, district):
    order = _monitoring(district)
    stored = StoredFile(original_name="x.docx", content_type="x", size=1, sha256="0" * 64, data=b"x")
    db.session.add(Order(municipality_id=order.municipality_id, year=order.year, number=order.number,
                         kind="monitoring", title="Дубль", issued_on=order.issued_on,
                         issued_by_id=order.issued_by_id, file=stored, sha256="0" * 64, context={}))
    with pytest.raises(Exception) as caught:
        db.session.commit()
    db.session.rollback()
    assert "unique" in str(caught.value).lower()


def test_concurrent_issuing_never_duplicates_a_number(app, district):
    second_head = accounts.create_user("head2", role="department_head", full_name="Заместитель начальника",
                                       password=PASSWORD, municipality=district.municipality)
    head_ids = [district.head.id, second_head.id]
    municipality_id = district.municipality.id
    documents.compiled_template("order_monitoring")
    db.session.close()  # release this thread's transaction before the writers start
    workers = 8
    barrier = threading.Barrier(workers)
    numbers, errors = [], []

    def issue(index):
        with app.app_context():
            try:
                barrier.wait(timeout=60)
                user = db.session.get(User, head_ids[index % 2])
                municipality = db.session.get(Municipality, municipality_id)
                order = orders.issue_order(
                    "monitoring", municipality, user, title=f"О проведении мониторинга № {index}",
                    context={"period_start": "2023-03-27", "period_end": "2023-03-31"}, issued_on=date(2023, 3, 20))
                numbers.append(order.number)
            except Exception as exc:  # collected and reported below
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=issue, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == list(range(1, workers + 1))
    rows = db.session.execute(select(Order.number, Order.title).order_by(Order.number)).all()
    assert [n for n, _ in rows] == list(range(1, workers + 1))
    counter = db.session.execute(select(OrderCounter)).scalar_one()
    assert (counter.year, counter.last) == (2023, workers)
    # Each stored document carries its own number.
    for order in db.session.execute(select(Order)).scalars():
        assert ["«20» марта 2023 года", f"№ {order.number}"] in tables(orders.order_document(order))[0]


# --- stored bytes -------------------------------------------------------------------------------------

def test_stored_bytes_never_change_after_template_or_data_changes(client, auth, district):
    _seed_municipality(district)
    route = district.route(state="curator_approved")
    order = orders.issue_routes_approval(district.head, [route.id], issued_on=date(2024, 9, 2))
    original = orders.order_document(order)
    assert hashlib.sha256(original).hexdigest() == order.sha256
    assert order.template_version_id is None

    new_template = _patched("order_routes_approval", "ПРИКАЗЫВАЮ:</w:t>", "ПРИКАЗЫВАЮ (новая форма):</w:t>")
    version = documents.upload_template("order_routes_approval", new_template, "приказ.docx", district.admin)
    district.municipality.head_name = "Новый Начальник"
    district.teacher.full_name = "Переименованный Педагог"
    db.session.commit()

    auth.login("head")
    download = client.get(f"/orders/{order.id}/document.docx")
    assert download.status_code == 200 and download.data == original
    assert "ПРИКАЗЫВАЮ:" in paragraphs(download.data)
    assert "Пользователь teacher" in all_text(download.data)

    newer = orders.issue_routes_approval(district.head, [route.id], issued_on=date(2024, 9, 3))
    assert newer.number == 2 and newer.template_version_id == version.id
    text = all_text(orders.order_document(newer))
    assert "ПРИКАЗЫВАЮ (новая форма):" in text and "Новый Начальник" in text and "Переименованный Педагог" in text


def test_a_tampered_file_is_reported_not_served(app, district):
    order = _monitoring(district)
    order.file.data = order.file.data + b"x"
    db.session.commit()
    with pytest.raises(Exception) as caught:
        orders.order_document(order)
    assert "контрольная сумма" in str(caught.value)


# --- who may issue ------------------------------------------------------------------------------------

@pytest.mark.parametrize("login", ["curator", "director1", "teacher"])
def test_only_the_department_head_issues(app, district, login):
    with pytest.raises(NotPermitted):
        _monitoring(district, user=getattr(district, {"director1": "school_head"}.get(login, login)))


def test_a_head_cannot_issue_for_another_municipality(app, district):
    other = Municipality(name="Чужой район")
    db.session.add(other)
    db.session.commit()
    with pytest.raises(NotPermitted):
        orders.issue_order("monitoring", other, district.head, title="О проведении мониторинга",
                           context={"period_start": "2023-03-01", "period_end": "2023-03-05"})


def test_approval_order_accepts_only_curator_approved_routes_of_the_municipality(app, district):
    draft = district.route(state="drafted")
    started = district.route(state="in_progress")
    with pytest.raises(InvalidInput) as caught:
        orders.issue_routes_approval(district.head, [draft.id, started.id])
    assert "Черновик" in caught.value.message and "Реализуется" in caught.value.message
    with pytest.raises(InvalidInput):
        orders.issue_routes_approval(district.head, [])
    with pytest.raises(NotFound):
        orders.issue_routes_approval(district.head, [999999])
    assert db.session.execute(select(func.count(Order.id))).scalar_one() == 0


# --- pages --------------------------------------------------------------------------------------------

def test_head_issues_from_the_form_and_finds_it_in_the_registry(client, auth, district):
    approved = district.route(state="curator_approved")
    district.route(state="drafted")
    auth.login("head")
    form = client.get("/orders/new")
    assert form.status_code == 200
    page = form.get_data(as_text=True)
    assert f'value="{approved.id}"' in page and page.count('name="route_ids"') == 1
    response = client.post("/orders/new", data={"title": "Об утверждении ИОМ педагогов СОШ № 1",
                                                "issued_on": "2024-09-02", "preamble": "На основании решений",
                                                "route_ids": [str(approved.id)]})
    assert response.status_code == 302
    order = db.session.execute(select(Order)).scalar_one()
    assert response.headers["Location"].endswith(f"/orders/{order.id}")
    detail = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert "Приказ № 1 от 02.09.2024" in detail and order.sha256 in detail

    listing = client.get("/orders").get_data(as_text=True)
    for expected in ("№ 1", "02.09.2024", "Об утверждении ИОМ педагогов СОШ № 1", "Пользователь head"):
        assert expected in listing
    assert "СОШ № 1" in client.get("/orders?q=сош").get_data(as_text=True)
    assert 'data-order="' in client.get("/orders?q=1").get_data(as_text=True)
    assert 'data-order="' not in client.get("/orders?q=несуществующий").get_data(as_text=True)
    assert 'data-order="' in client.get("/orders?q=Пользователь head").get_data(as_text=True)

    download = client.get(f"/orders/{order.id}/document.docx")
    assert download.data == orders.order_document(order)
    disposition = download.headers["Content-Disposition"]
    assert 'filename="Prikaz N 1 ot 02.09.2024.docx"' in disposition
    assert "filename*=UTF-8''%D0%9F%D1%80%D0%B8%D0%BA%D0%B0%D0%B7%20%E2%84%96%201" in disposition
    route_page = client.get(f"/routes/{approved.id}").get_data(as_text=True)
    assert f"/orders/{order.id}" in route_page


def test_form_without_routes_shows_a_message(client, auth, district):
    district.route(state="curator_approved")
    auth.login("head")
    response = client.post("/orders/new", data={"title": "Приказ", "issued_on": "2024-09-02", "preamble": ""})
    assert response.status_code == 422
    assert "Выберите хотя бы один" in response.get_data(as_text=True)
    assert db.session.execute(select(func.count(Order.id))).scalar_one() == 0


@pytest.mark.parametrize("login, status", [("curator", 403), ("director1", 403), ("teacher", 403), ("admin", 403)])
def test_others_cannot_open_the_issue_form(client, auth, district, login, status):
    auth.login(login)
    if login == "admin":
        district.admin.municipality_id = None
        db.session.commit()
    assert client.get("/orders/new").status_code == status


@pytest.mark.parametrize("login, visible", [("head", True), ("director1", True), ("curator", True),
                                            ("admin", True), ("teacher", False)])
def test_registry_visibility_by_role(client, auth, district, login, visible):
    order = _monitoring(district)
    auth.login(login)
    if visible:
        assert client.get("/orders").status_code == 200
        assert client.get(f"/orders/{order.id}/document.docx").status_code == 200
    else:
        assert client.get("/orders").status_code == 403
        assert client.get(f"/orders/{order.id}/document.docx").status_code == 404


def test_orders_of_another_municipality_are_404(client, auth, district):
    other = Municipality(name="Соседний район", department_name="Управление образования соседнего района")
    db.session.add(other)
    db.session.commit()
    other_head = accounts.create_user("head_n", role="department_head", full_name="Соседний начальник",
                                      password=PASSWORD, municipality=other)
    foreign = orders.issue_order("monitoring", other, other_head, title="О проведении мониторинга у соседей",
                                 context={"period_start": "2023-03-01", "period_end": "2023-03-05"})
    auth.login("head")
    assert client.get(f"/orders/{foreign.id}").status_code == 404
    assert client.get(f"/orders/{foreign.id}/document.docx").status_code == 404
    assert "у соседей" not in client.get("/orders").get_data(as_text=True)


# --- the API ------------------------------------------------------------------------------------------

def _token(client, login):
    return {"Authorization": "Bearer " + client.post("/api/v1/tokens",
                                                     json={"login": login, "password": PASSWORD}).json["token"]}


def test_orders_over_the_api(client, district):
    route = district.route(state="curator_approved")
    head = _token(client, "head")
    created = client.post("/api/v1/orders", json={"route_ids": [route.id], "issued_on": "2024-09-02"}, headers=head)
    assert created.status_code == 201, created.json
    body = created.json
    assert (body["number"], body["year"], body["kind"], body["issued_on"]) == (1, 2024, "routes_approval",
                                                                               "2024-09-02")
    assert body["route_ids"] == [route.id] and body["issued_by"]["full_name"] == "Пользователь head"
    listing = client.get("/api/v1/orders?q=1", headers=head).json
    assert listing["total"] == 1 and listing["items"][0]["id"] == body["id"]
    document = client.get(body["document_url"], headers=head)
    assert document.status_code == 200 and hashlib.sha256(document.data).hexdigest() == body["sha256"]
    assert zipfile.ZipFile(io.BytesIO(document.data)).testzip() is None

    curator = _token(client, "curator")
    refused = client.post("/api/v1/orders", json={"route_ids": [route.id]}, headers=curator)
    assert refused.status_code == 403 and refused.json["error"] == "forbidden"
    bad = client.post("/api/v1/orders", json={"route_ids": []}, headers=head)
    assert bad.status_code == 422 and bad.json["message"]
    teacher = _token(client, "teacher")
    assert client.get(f"/api/v1/orders/{body['id']}", headers=teacher).status_code == 404


def test_a_routes_orders_by_who_asks(app, district):
    _seed_municipality(district)
    route = district.route(state="curator_approved")
    order = orders.issue_routes_approval(district.head, [route.id], issued_on=date(2022, 9, 1))
    other = Municipality(name="Соседний район", department_name="Управление образования соседнего района")
    db.session.add(other)
    db.session.commit()
    stranger = accounts.create_user("curator_n", role="curator", full_name="Соседний куратор",
                                    password=PASSWORD, municipality=other)
    for user in (district.head, district.curator, district.school_head, district.admin):
        assert [o.id for o in orders.orders_of_route(route.id, user)] == [order.id], user.login
    for user in (district.teacher, stranger, None):
        assert orders.orders_of_route(route.id, user) == []
    assert orders.orders_of_route(route.id + 1000, district.admin) == []
