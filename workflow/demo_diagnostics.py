"""The demo district's diagnostic (ФИОКО, September 2022), its results, the resource map and a monitoring.

Called by workflow.demo.load: the diagnostic exists before the routes so each of the 52 diagnosed
teachers' routes is built on it (route.diagnostic_id); the results are recorded from the deficits
each route addresses; a campaign of 27–31.03.2023 is opened so that signing it reproduces seed 000
(C2 = 52, B2 = 52, F2 = 100 %).
"""
import random
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from models import Diagnostic, DiagnosticResult, Route, User, db
from workflow import monitoring, resources
from workflow.spreadsheets import key

TITLE = "Оценка предметных и методических компетенций"
PROVIDER = "ФГБУ «Федеральный институт оценки качества образования»"
HELD_ON = date(2022, 9, 20)
THRESHOLD = Decimal("3.00")

CAMPAIGN = {
    "title": ("Мониторинг разработки индивидуальных образовательных маршрутов непрерывного профессионального "
              "развития на основе результатов диагностики профессиональных компетенций педагогов "
              "общеобразовательных организаций"),
    "period_start": date(2023, 3, 27),
    "period_end": date(2023, 3, 31),
    "addressees": "Начальнику методического отдела МКУ ЦПО МО Динской район\nРуководителям ОО",
    "recommendations": (
        "1. Начальнику методического отдела МКУ ЦПО МО Динской район:\n"
        "1.1. Организовать научно-методическое сопровождение педагогическим работникам по корректировке "
        "и реализации ИОМ.\n"
        "1.2. Организовать консультационную работу с ответственными за разработку ИОМ в части корректировки "
        "и сопровождения реализации индивидуальных образовательных маршрутов непрерывного профессионального "
        "развития педагогов.\n"
        "2. Руководителям общеобразовательных организаций взять на контроль реализацию индивидуального "
        "образовательного маршрута педагогических работников."),
}

# (title, provider, kind, level, direction, format, start, end, hours, annotation, competency indexes)
CATALOGUE = [
    ("Формирование функциональной грамотности обучающихся: от теории к практике",
     "ГБОУ ИРО Краснодарского края", "course", "regional", "methodical", "online",
     date(2023, 10, 2), date(2023, 11, 30), 36,
     "Приёмы формирования читательской, математической и естественнонаучной грамотности на уроках.", [0]),
    ("Банк заданий по функциональной грамотности", "МКУ ЦПО МО Динской район", "seminar", "municipal",
     "methodical", "in_person", date(2023, 11, 15), date(2023, 11, 15), 4,
     "Практикум по работе с открытым банком заданий РЭШ и ФИПИ.", [0]),
    ("Критериальное оценивание образовательных результатов", "ГБОУ ИРО Краснодарского края", "course",
     "regional", "professional", "blended", date(2023, 9, 18), date(2023, 10, 20), 72,
     "Разработка критериев оценивания и контрольно-измерительных материалов по предмету.", [1]),
    ("Оценочные процедуры: ВПР и ОГЭ", "МКУ ЦПО МО Динской район", "webinar", "municipal", "professional",
     "online", date(2023, 12, 6), date(2023, 12, 6), 2, "Анализ результатов оценочных процедур.", [1]),
    ("Решение задач повышенной сложности", "Муниципальное методическое объединение учителей", "master_class",
     "municipal", "methodical", "in_person", date(2024, 1, 24), date(2024, 1, 24), 3,
     "Мастер-класс учителей-победителей конкурсов профессионального мастерства.", [2]),
    ("Подготовка к олимпиадам и заданиям повышенного уровня", "ФГАОУ ДПО «Академия Минпросвещения России»",
     "course", "regional", "professional", "online", date(2023, 10, 9), date(2023, 12, 15), 48,
     "Методика подготовки обучающихся к решению заданий повышенного и высокого уровня.", [2]),
    ("Цифровая образовательная среда: ФГИС «Моя школа»", "ЦНППМ Краснодарского края", "training", "regional",
     "informational", "blended", date(2023, 11, 1), date(2023, 11, 3), 16,
     "Работа с ресурсами ФГИС «Моя школа» и библиотекой цифрового образовательного контента.", [3]),
    ("Сетевое сообщество «Цифровой учитель Динского района»", "МКУ ЦПО МО Динской район", "community",
     "municipal", "informational", "online", None, None, None,
     "Обмен опытом применения цифровых ресурсов, взаимопосещение онлайн-уроков.", [3]),
    ("Инклюзивное образование: обучающиеся с ОВЗ в общеобразовательном классе",
     "ГБОУ ИРО Краснодарского края", "course", "regional", "psycho_pedagogical", "blended",
     date(2023, 10, 16), date(2023, 11, 17), 36,
     "Дифференцированное обучение, адаптированные программы, безопасная образовательная среда.", [4]),
    ("Психолого-педагогическое сопровождение обучающихся с ОВЗ", "Школьная служба сопровождения",
     "seminar", "school", "psycho_pedagogical", "in_person", date(2023, 12, 13), date(2023, 12, 13), 2,
     "Консилиум педагога-психолога, логопеда и учителя: разбор случаев.", [4]),
    ("Проектная и исследовательская деятельность обучающихся", "ГБОУ ИРО Краснодарского края", "course",
     "regional", "methodical", "online", date(2024, 2, 5), date(2024, 3, 15), 36,
     "Проектирование индивидуальных проектов обучающихся по предмету.", [5]),
    ("Самообразование: методическая литература по проектной деятельности", "", "self_education", "school",
     "methodical", "in_person", None, None, None,
     "Изучение методической литературы и продуктивного опыта; отчёт на заседании ШМО.", [5, 0]),
]


def create_diagnostic(municipality):
    """Create the September 2022 ФИОКО diagnostic of the district."""
    diagnostic = Diagnostic(municipality_id=municipality.id, title=TITLE, title_key=key(TITLE),
                            provider=PROVIDER, held_on=HELD_ON, threshold=THRESHOLD)
    db.session.add(diagnostic)
    db.session.commit()
    return diagnostic


def add_results(diagnostic, competencies, logins, seed=2022):
    """Record each diagnosed teacher's results: a deficit in every area their route addresses."""
    rng = random.Random(seed)
    teachers = db.session.execute(select(User).where(User.login.in_(logins)).order_by(User.login)).scalars().all()
    routes = db.session.execute(select(Route).where(Route.diagnostic_id == diagnostic.id)).scalars().all()
    addressed = {}
    for route in routes:
        areas = addressed.setdefault(route.teacher_id, set())
        areas.update(a.deficit for a in route.activities)
        # The request (section 2) names a difficulty too: it is a deficit of the diagnostic.
        areas.update(c for c in competencies if f"«{c.lower()}»" in (route.request or "").lower())
    for teacher in teachers:
        for competency in competencies:
            deficit = competency in addressed.get(teacher.id, set())
            score = Decimal(rng.randint(10, 28) if deficit else rng.randint(30, 50)) / 10
            db.session.add(DiagnosticResult(
                teacher_id=teacher.id, diagnostic_id=diagnostic.id, school_id=teacher.school_id,
                competency=competency, competency_key=key(competency), score=score, is_deficit=deficit))
    db.session.commit()


def add_later_diagnostic(municipality, competencies, logins, seed=2023):
    """A later diagnostic (ЦОС ДПО, September 2023) of the teachers with drafts: their drafts show the
    deficits and the matching resource-map entries. It is held after the seed-000 campaign's period."""
    rng = random.Random(seed)
    title = "Диагностика профессиональных дефицитов"
    diagnostic = Diagnostic(municipality_id=municipality.id, title=title, title_key=key(title),
                            provider="ФГАОУ ДПО «Академия Минпросвещения России» (ЦОС ДПО)",
                            held_on=date(2023, 9, 15), threshold=THRESHOLD)
    db.session.add(diagnostic)
    db.session.flush()
    teachers = db.session.execute(select(User).where(User.login.in_(logins)).order_by(User.login)).scalars().all()
    for teacher in teachers:
        weak = set(rng.sample(range(len(competencies)), 2))
        for index, competency in enumerate(competencies):
            deficit = index in weak
            score = Decimal(rng.randint(10, 28) if deficit else rng.randint(30, 50)) / 10
            db.session.add(DiagnosticResult(
                teacher_id=teacher.id, diagnostic_id=diagnostic.id, school_id=teacher.school_id,
                competency=competency, competency_key=key(competency), score=score, is_deficit=deficit))
    db.session.commit()
    return diagnostic


def add_resource_map(curator, competencies):
    """Fill the district's resource map through the same function curators use."""
    for title, provider, kind, level, direction, fmt, start, end, hours, annotation, indexes in CATALOGUE:
        resources.create_entry(curator, {
            "title": title, "provider": provider, "kind": kind, "level": level, "direction": direction,
            "format": fmt, "starts_on": start, "ends_on": end, "hours": hours, "annotation": annotation,
            "competencies": [competencies[i] for i in indexes]})


def open_campaign(head, diagnostic):
    """Open the monitoring of 27–31.03.2023 (seed 000); the department head signs it in the app."""
    return monitoring.create_campaign(head, {**CAMPAIGN, "diagnostic_id": diagnostic.id})
