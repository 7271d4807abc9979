"""The demo district of seed 000: Динской район, 17 schools, 52 diagnosed teachers with routes.

Everything is created through the same workflow functions users call, so the
demo's history, versions and audit trail are real.
"""
import random
from datetime import date, timedelta

from models import Municipality, Role, db
from workflow import accounts, demo_diagnostics, service

DEMO_PASSWORD = "demo-iom-2023"

SCHOOL_NUMBERS = [1, 2, 3, 4, 5, 6, 10, 13, 14, 20, 21, 29, 30, 35, 37, 38, 53]
DIAGNOSED_TEACHERS = 52

SURNAMES_F = ["Иванова", "Петрова", "Смирнова", "Кузнецова", "Попова", "Васильева", "Соколова", "Михайлова",
              "Новикова", "Фёдорова", "Морозова", "Волкова", "Алексеева", "Лебедева", "Семёнова", "Егорова",
              "Павлова", "Козлова", "Степанова", "Николаева", "Орлова", "Андреева", "Макарова", "Никитина",
              "Захарова", "Зайцева", "Соловьёва", "Борисова", "Яковлева", "Григорьева"]
SURNAMES_M = ["Романов", "Воробьёв", "Сергеев", "Кузьмин", "Фролов", "Александров", "Дмитриев", "Королёв",
              "Гусев", "Киселёв", "Ильин", "Максимов", "Поляков", "Сорокин", "Виноградов", "Ковалёв"]
NAMES_F = ["Анна", "Елена", "Ольга", "Наталья", "Ирина", "Татьяна", "Светлана", "Марина", "Юлия", "Людмила",
           "Галина", "Екатерина", "Оксана", "Валентина", "Надежда"]
NAMES_M = ["Александр", "Сергей", "Андрей", "Дмитрий", "Алексей", "Николай", "Игорь", "Владимир"]
PATRONYMICS_F = ["Александровна", "Сергеевна", "Владимировна", "Николаевна", "Викторовна", "Ивановна",
                 "Петровна", "Анатольевна", "Юрьевна", "Михайловна"]
PATRONYMICS_M = ["Александрович", "Сергеевич", "Владимирович", "Николаевич", "Викторович", "Иванович"]

SUBJECTS = ["Русский язык и литература", "Математика", "Физика", "Химия", "Биология", "История и обществознание",
            "География", "Английский язык", "Информатика", "Начальные классы"]
EDUCATION = ["Высшее, Кубанский государственный университет", "Высшее, Армавирский государственный педагогический университет",
             "Высшее, Кубанский государственный аграрный университет", "Среднее профессиональное, Краснодарский педагогический колледж"]
CATEGORIES = ["Высшая", "Первая", "Соответствие занимаемой должности", "Без категории"]

DEFICITS = [
    ("Формирование функциональной грамотности обучающихся",
     "Освоить приёмы формирования читательской и математической грамотности на уроках"),
    ("Оценивание образовательных результатов",
     "Разработать критерии оценивания и контрольно-измерительные материалы по предмету"),
    ("Методика решения задач повышенной сложности",
     "Освоить методику подготовки обучающихся к решению заданий повышенного уровня"),
    ("Применение цифровых образовательных ресурсов",
     "Внедрить ресурсы ФГИС «Моя школа» и ЦОС в образовательный процесс"),
    ("Работа с обучающимися с ОВЗ",
     "Освоить приёмы дифференцированного обучения и создания безопасной образовательной среды"),
    ("Организация проектной и исследовательской деятельности",
     "Спроектировать индивидуальные проекты обучающихся по предмету"),
]


def _name(rng, female=True):
    if female:
        return f"{rng.choice(SURNAMES_F)} {rng.choice(NAMES_F)} {rng.choice(PATRONYMICS_F)}"
    return f"{rng.choice(SURNAMES_M)} {rng.choice(NAMES_M)} {rng.choice(PATRONYMICS_M)}"


def _roadmap(rng, start, end):
    """Return four to five activities covering the four stages of seed 002."""
    span = (end - start).days
    first, second = rng.sample(DEFICITS, 2)
    return [
        dict(stage="diagnostic_motivational", direction="professional", deficit=first[0],
             tasks="Проанализировать результаты диагностики профессиональных компетенций, определить дефициты",
             forms="Самодиагностика, консультация куратора", deadline=start + timedelta(days=span // 10),
             result_form="Аналитическая справка"),
        dict(stage="design", direction="methodical", deficit=first[0], tasks=first[1],
             forms="Курсы повышения квалификации (ИРО Краснодарского края), 36 ч",
             deadline=start + timedelta(days=span // 4), result_form="Удостоверение о повышении квалификации"),
        dict(stage="implementation", direction=rng.choice(["psycho_pedagogical", "informational"]),
             deficit=second[0], tasks=second[1],
             forms="Участие в работе муниципального методического объединения, вебинары",
             deadline=start + timedelta(days=span // 2), result_form="Методическая разработка урока"),
        dict(stage="implementation", direction="methodical", deficit=first[0],
             tasks="Провести открытый урок с применением освоенных приёмов",
             forms="Открытый урок, взаимопосещение уроков", deadline=start + timedelta(days=span * 3 // 4),
             result_form="Конспект урока, самоанализ"),
        dict(stage="analytical", direction="professional", deficit=first[0],
             tasks="Оценить эффективность ИОМ, представить опыт на заседании ШМО",
             forms="Творческий отчёт", deadline=end - timedelta(days=10), result_form="Портфолио, презентация"),
    ]


# How far along each of the 52 diagnosed teachers' routes is (all at least curator-approved).
_TARGETS = (["curator_approved"] * 10 + ["in_progress"] * 24 + ["reflected"] * 8 + ["closed"] * 10)


def load(seed=2023):
    """Create the demo district; return the list of (login, role label, full name)."""
    rng = random.Random(seed)
    municipality = Municipality(
        name="Муниципальное образование Динской район",
        department_name="Управление образования администрации муниципального образования Динской район",
        place="ст. Динская", head_title="Начальник управления образования МО Динской район",
        head_name="М.А. Ежкова")
    db.session.add(municipality)
    db.session.commit()
    schools = [accounts.create_school(f"СОШ № {n}", municipality) for n in SCHOOL_NUMBERS]

    def user(login, role, full_name, school=None, position=""):
        return accounts.create_user(login, role=role.value, full_name=full_name, password=DEMO_PASSWORD,
                                    school=school, municipality=municipality, position=position,
                                    email=f"{login}@dinskoy.example.ru")

    user("admin", Role.ADMIN, "Администратор системы")
    head = user("ezhkova", Role.DEPARTMENT_HEAD, "Ежкова Марина Анатольевна",
                position="Начальник управления образования")
    curators = [user(f"curator{i}", Role.CURATOR, _name(rng), position="Методист МКУ ЦПО") for i in range(1, 5)]
    for number, school in zip(SCHOOL_NUMBERS, schools):
        user(f"head{number}", Role.SCHOOL_HEAD, _name(rng, rng.random() < 0.7), school, "Директор")

    # The ФИОКО diagnostic of September 2022: the 52 diagnosed teachers' routes are built on it.
    diagnostic = demo_diagnostics.create_diagnostic(municipality)
    today = date.today()
    start, end = today - timedelta(days=150), today + timedelta(days=215)
    total = DIAGNOSED_TEACHERS + 4
    for index in range(total):
        school = schools[index % len(schools)]
        female = rng.random() < 0.85
        subject = rng.choice(SUBJECTS)
        position = "Учитель начальных классов" if subject == "Начальные классы" else "Учитель"
        teacher = user(f"teacher{index + 1:02d}", Role.TEACHER, _name(rng, female), school, position)
        curator = curators[index % len(curators)]
        accounts.assign_curator(teacher, curator)
        target = _TARGETS[index] if index < DIAGNOSED_TEACHERS else "drafted"
        _build_route(rng, teacher, curator, head, school, subject, start, end, target,
                     submit=index >= DIAGNOSED_TEACHERS + 2,
                     diagnostic_id=diagnostic.id if index < DIAGNOSED_TEACHERS else None)
    competencies = [d[0] for d in DEFICITS]
    demo_diagnostics.add_results(diagnostic, competencies,
                                 [f"teacher{i:02d}" for i in range(1, DIAGNOSED_TEACHERS + 1)])
    demo_diagnostics.add_later_diagnostic(municipality, competencies,
                                          [f"teacher{i:02d}" for i in range(DIAGNOSED_TEACHERS + 1, total + 1)])
    demo_diagnostics.add_resource_map(curators[0], competencies)
    demo_diagnostics.open_campaign(head, diagnostic)
    return municipality


def _build_route(rng, teacher, curator, head, school, subject, start, end, target, submit, diagnostic_id=None):
    deficit = rng.choice(DEFICITS)
    route = service.create_route(teacher, data={
        "period_start": start, "period_end": end, "workplace": f"МБОУ {school.name} МО Динской район",
        "education": rng.choice(EDUCATION), "position": teacher.position, "subject": subject,
        "experience_years": rng.randint(2, 32), "qualification_category": rng.choice(CATEGORIES),
        "attestation_date": start - timedelta(days=rng.randint(200, 1500)),
        "request": f"Затруднения в области «{deficit[0].lower()}» по результатам диагностики ФИОКО "
                   f"(сентябрь 2022 г.): {deficit[1].lower()}.",
        "activities": _roadmap(rng, start, end),
    }, diagnostic_id=diagnostic_id)
    if target == "drafted" and not submit:
        return route
    route = service.apply_transition(route.id, "request_review", teacher)
    if target == "drafted":
        return route
    service.apply_transition(route.id, "approve", curator, "Маршрут соответствует результатам диагностики")
    if target == "curator_approved":
        return route
    service.apply_transition(route.id, "start", teacher)
    route = service.load_route(route.id, teacher)
    activities = list(route.activities)
    done = len(activities) if target in {"reflected", "closed"} else rng.randint(1, 2)
    for activity in activities[:done]:
        if target != "in_progress" and activity is activities[-2] and rng.random() < 0.3:
            service.record_activity_result(route.id, activity.id, teacher, status="not_done",
                                           reason="Мероприятие перенесено организатором на следующий год")
        else:
            service.record_activity_result(
                route.id, activity.id, teacher, status="done", product=activity.result_form,
                product_url="https://dinskoy.example.ru/portfolio/" + teacher.login)
    if target == "in_progress":
        return route
    service.update_route(route.id, teacher, {"reflection": (
        "Маршрут позволил восполнить выявленные дефициты: освоены новые приёмы, разработаны материалы, "
        "проведён открытый урок. Планирую продолжить работу в профессиональном сообществе.")}, None)
    service.apply_transition(route.id, "submit_reflection", teacher)
    if target == "reflected":
        return route
    service.update_route(route.id, curator, {"recommendations": (
        "Рекомендовано пройти курсы повышения квалификации по программе «Школа современного учителя» "
        "и представить опыт на муниципальном семинаре.")}, None)
    service.apply_transition(route.id, "close", curator)
    return route


LOGINS_TEXT = f"""Демо-район «Динской район» загружен. Пароль для всех: {DEMO_PASSWORD}
  admin            администратор
  ezhkova          начальник управления образования (М.А. Ежкова)
  curator1..curator4  кураторы
  head1, head2, ... head53   руководители школ (по номеру СОШ)
  teacher01..teacher56       педагоги (01–52 прошли диагностику, 53–56 — черновики)"""
