"""Build the DOCX templates in docx_templates/ reproducibly (python-docx; docxtpl tags inside).

    .venv/bin/python scripts/build_docx_templates.py            # all templates
    .venv/bin/python scripts/build_docx_templates.py route      # one of them

One function per template, registered in BUILDERS; the same inputs give byte-identical files (fixed
core properties and ZIP timestamps). The layout and wording follow the seeds: the order of seed 002
("П Р И К А З", place, date, number, the title in quotes, "ПРИКАЗЫВАЮ:", numbered items, the head's
signature) and its appendix, the format of an individual educational route. Times New Roman throughout.

The variables each template uses are documented in workflow/documents.py (route) and workflow/orders.py
(orders); an uploaded template may use only those.
"""
import io
import sys
import zipfile
from datetime import datetime
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "docx_templates"
FONT = "Times New Roman"
FIXED_TIME = datetime(2022, 9, 1, 0, 0, 0)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

CENTER, LEFT, RIGHT, JUSTIFY = (WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.LEFT, WD_ALIGN_PARAGRAPH.RIGHT,
                                WD_ALIGN_PARAGRAPH.JUSTIFY)


# --- building blocks ---------------------------------------------------------------------------------

def new_document(title, *, size=14, landscape=False):
    """A blank A4 document in Times New Roman with GOST margins and fixed core properties."""
    doc = Document()
    for style_name in ("Normal", "Table Grid"):
        style = doc.styles[style_name]
        style.font.name = FONT
        style.font.size = Pt(size)
        r_pr = style.element.get_or_add_rPr()
        fonts = r_pr.find(qn("w:rFonts"))
        if fonts is None:
            fonts = OxmlElement("w:rFonts")
            r_pr.insert(0, fonts)
        for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
            fonts.set(qn(attr), FONT)
    normal = doc.styles["Normal"].paragraph_format
    normal.space_before = Pt(0)
    normal.space_after = Pt(0)
    normal.line_spacing = 1.0
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    if landscape:
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = Cm(29.7), Cm(21)
    section.top_margin = section.bottom_margin = Cm(2)
    section.left_margin, section.right_margin = Cm(3 if not landscape else 2), Cm(1.5)
    props = doc.core_properties
    props.title = title
    props.author = "ИОМ педагогов"
    props.last_modified_by = "ИОМ педагогов"
    props.comments = ""
    props.keywords = ""
    props.subject = ""
    props.revision = 1
    props.created = FIXED_TIME
    props.modified = FIXED_TIME
    props.last_printed = FIXED_TIME
    return doc


def para(container, text="", *, bold=False, align=LEFT, size=None, indent=False, space_after=0,
         italic=False):
    """Add a paragraph with one run (so a docxtpl tag never splits across runs)."""
    paragraph = container.add_paragraph()
    paragraph.alignment = align
    fmt = paragraph.paragraph_format
    fmt.space_after = Pt(space_after)
    if indent:
        fmt.first_line_indent = Cm(1.25)
    if text:
        run = paragraph.add_run(text)
        run.bold = bold
        run.italic = italic
        if size:
            run.font.size = Pt(size)
    return paragraph


def set_cell(cell, text, *, bold=False, align=LEFT, size=None):
    """Put one run of text into a table cell's first paragraph."""
    paragraph = cell.paragraphs[0]
    paragraph.alignment = align
    run = paragraph.add_run(text)
    run.bold = bold
    if size:
        run.font.size = Pt(size)
    return cell


def grid_table(doc, rows, widths, *, borders=True):
    """A table with fixed column widths (cm); borderless tables lay out headers and signatures."""
    table = doc.add_table(rows=rows, cols=len(widths))
    if borders:
        table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for row in table.rows:
        for cell, width in zip(row.cells, widths):
            cell.width = Cm(width)
    for column, width in zip(table.columns, widths):
        column.width = Cm(width)
    return table


def tag_row(table, index, tag):
    """Make a row that holds only a docxtpl row tag ({%tr ... %}); docxtpl replaces the whole row."""
    row = table.rows[index]
    row.cells[0].merge(row.cells[-1])
    set_cell(row.cells[0], tag)
    return row


def header_block(doc):
    """The head of an order (seed 002): department, "П Р И К А З", place, date and number."""
    para(doc, "{{ department_name_upper }}", bold=True, align=CENTER)
    para(doc)
    para(doc, "П Р И К А З", bold=True, align=CENTER, size=16)
    para(doc)
    para(doc, "{{ place }}", align=CENTER)
    table = grid_table(doc, 1, [8.25, 8.25], borders=False)
    set_cell(table.rows[0].cells[0], "{{ issued_on|ru_long_date }}", align=LEFT)
    set_cell(table.rows[0].cells[1], "№ {{ number }}", align=RIGHT)
    para(doc)
    para(doc, "«{{ title }}»", bold=True, align=CENTER, space_after=12)


def preamble_and_items(doc, *, first_item=None):
    """The preamble, "ПРИКАЗЫВАЮ:" and the numbered items (seed 002)."""
    para(doc, "{{ preamble }}", align=JUSTIFY, indent=True, space_after=12)
    para(doc, "ПРИКАЗЫВАЮ:", bold=True, align=LEFT, space_after=6)
    offset = ""
    if first_item:
        para(doc, first_item, align=JUSTIFY, indent=True, space_after=6)
        offset = " + 1"
    para(doc, "{%p for item in items %}")
    para(doc, "{{ loop.index" + offset + " }}. {{ item }}", align=JUSTIFY, indent=True, space_after=6)
    para(doc, "{%p endfor %}")


def signature_block(doc):
    """The head's signature line: title on the left, initials and surname on the right."""
    para(doc)
    para(doc)
    table = grid_table(doc, 1, [10.5, 6], borders=False)
    set_cell(table.rows[0].cells[0], "{{ head_title }}", align=LEFT)
    set_cell(table.rows[0].cells[1], "{{ head_name }}", align=RIGHT)


# --- the templates ---------------------------------------------------------------------------------

def build_route():
    """The route (ИОМ): sections 1–2, the road map in the appendix format of seed 002, sections 4–5."""
    doc = new_document("Индивидуальный образовательный маршрут", size=12, landscape=True)
    para(doc, "Индивидуальный образовательный маршрут", bold=True, align=CENTER, size=14)
    para(doc, "{% if route.period_start %}на период с {{ route.period_start|ru_date }} "
              "по {{ route.period_end|ru_date }}{% endif %}", align=CENTER, space_after=6)
    para(doc, "Состояние маршрута: {{ route.state_label }}")
    para(doc, "{% if approval.approved %}Маршрут утверждён куратором: {{ approval.by }}, "
              "{{ approval.on|ru_date }}{% else %}Маршрут не утверждён куратором{% endif %}", space_after=12)

    para(doc, "{%p if general.has_any %}")
    para(doc, "1. Общие сведения о педагоге", bold=True, space_after=6)
    rows = [
        ("Место работы", "{{ general.workplace }}"),
        ("Образование", "{{ general.education }}"),
        ("Занимаемая должность", "{{ general.position }}"),
        ("Преподаваемый предмет", "{{ general.subject }}"),
        ("Педагогический стаж работы", "{{ general.experience }}"),
        ("Квалификационная категория", "{{ general.qualification_category }}"),
        ("Дата прохождения аттестации", "{{ general.attestation_date|ru_date }}"),
    ]
    table = grid_table(doc, len(rows), [8, 17.7])
    for row, (label, value) in zip(table.rows, rows):
        set_cell(row.cells[0], label)
        set_cell(row.cells[1], value)
    para(doc, space_after=6)
    para(doc, "{%p endif %}")

    para(doc, "{%p if request %}")
    para(doc, "2. Профессиональный запрос / затруднение / область затруднения", bold=True, space_after=6)
    para(doc, "{{ request }}", align=JUSTIFY, indent=True, space_after=12)
    para(doc, "{%p endif %}")

    para(doc, "3. Дорожная карта индивидуального образовательного маршрута", bold=True, space_after=6)
    widths = [6.2, 5.2, 6.0, 3.3, 5.0]
    table = grid_table(doc, 14, widths)
    for index, (label, value) in enumerate([("ФИО полностью", "{{ teacher.full_name }}"),
                                            ("Организация", "{{ organization }}"),
                                            ("Должность", "{{ position }}")]):
        row = table.rows[index]
        set_cell(row.cells[0], label)
        row.cells[1].merge(row.cells[4])
        set_cell(row.cells[1], value)
    headings = ["Профессиональные дефициты/задачи на предстоящий период", "Образовательные задачи",
                "Формы работы/взаимодействия по реализации образовательных задач",
                "Сроки реализации (указать дату)", "Форма предъявления результата"]
    for cell, text in zip(table.rows[3].cells, headings):
        set_cell(cell, text, bold=True, align=CENTER)
    for number, cell in enumerate(table.rows[4].cells, start=1):
        set_cell(cell, str(number), align=CENTER)
    tag_row(table, 5, "{%tr for stage in stages %}")
    stage_row = table.rows[6]
    stage_row.cells[0].merge(stage_row.cells[4])
    set_cell(stage_row.cells[0], "{{ stage.number }}. {{ stage.label }} этап", bold=True, align=CENTER)
    tag_row(table, 7, "{%tr for a in stage.activities %}")
    cells = table.rows[8].cells
    set_cell(cells[0], "{{ a.deficit }}")
    set_cell(cells[1], "{{ a.tasks }}")
    set_cell(cells[2], "{{ a.forms }}")
    set_cell(cells[3], "{{ a.deadline|ru_date }}", align=CENTER)
    set_cell(cells[4], "{{ a.result_form }}")
    tag_row(table, 9, "{%tr endfor %}")
    tag_row(table, 10, "{%tr endfor %}")
    tag_row(table, 11, "{%tr if not stages %}")
    empty = table.rows[12]
    empty.cells[0].merge(empty.cells[4])
    set_cell(empty.cells[0], "Мероприятия не запланированы", align=CENTER)
    tag_row(table, 13, "{%tr endif %}")
    para(doc, space_after=12)

    para(doc, "{%p if reflection %}")
    para(doc, "4. Саморефлексия профессионального пути и эффективности ИОМ", bold=True, space_after=6)
    para(doc, "{{ reflection }}", align=JUSTIFY, indent=True, space_after=12)
    para(doc, "{%p endif %}")

    para(doc, "{%p if recommendations %}")
    para(doc, "5. Рекомендации куратора", bold=True, space_after=6)
    para(doc, "{{ recommendations }}", align=JUSTIFY, indent=True, space_after=12)
    para(doc, "{%p endif %}")

    para(doc)
    table = grid_table(doc, 2, [8, 9.7, 8], borders=False)
    set_cell(table.rows[0].cells[0], "Педагог")
    set_cell(table.rows[0].cells[1], "____________________", align=CENTER)
    set_cell(table.rows[0].cells[2], "{{ teacher.full_name }}", align=RIGHT)
    set_cell(table.rows[1].cells[0], "Куратор")
    set_cell(table.rows[1].cells[1], "____________________", align=CENTER)
    set_cell(table.rows[1].cells[2], "{{ curator.full_name }}", align=RIGHT)
    para(doc)
    para(doc, "Документ сформирован {{ generated_on|ru_date }}", italic=True, size=10)
    return doc


def build_order_routes_approval():
    """The order approving routes: seed 002's order layout with the table of approved routes."""
    doc = new_document("Приказ об утверждении индивидуальных образовательных маршрутов")
    header_block(doc)
    preamble_and_items(doc)
    para(doc, "{%p if routes %}")
    para(doc)
    para(doc, "Список педагогических работников, индивидуальные образовательные маршруты которых утверждены",
         bold=True, align=CENTER, space_after=6)
    widths = [1.2, 4.6, 3.9, 3.6, 3.2]
    table = grid_table(doc, 4, widths)
    for cell, text in zip(table.rows[0].cells, ["№ п/п", "Педагогический работник",
                                                "Общеобразовательная организация", "Куратор",
                                                "Срок реализации ИОМ"]):
        set_cell(cell, text, bold=True, align=CENTER, size=12)
    tag_row(table, 1, "{%tr for r in routes %}")
    cells = table.rows[2].cells
    set_cell(cells[0], "{{ loop.index }}", align=CENTER, size=12)
    set_cell(cells[1], "{{ r.teacher }}", size=12)
    set_cell(cells[2], "{{ r.school }}", size=12)
    set_cell(cells[3], "{{ r.curator }}", size=12)
    set_cell(cells[4], "{{ r.period }}", align=CENTER, size=12)
    tag_row(table, 3, "{%tr endfor %}")
    para(doc, "{%p endif %}")
    signature_block(doc)
    return doc


def build_order_monitoring():
    """The order "О проведении мониторинга ..." with the monitoring's dates."""
    doc = new_document("Приказ о проведении мониторинга")
    header_block(doc)
    preamble_and_items(doc, first_item="1. Провести {{ subject }} в период с {{ period_start|ru_date }} "
                                       "по {{ period_end|ru_date }}.")
    signature_block(doc)
    return doc


def formula_paragraph(container, parts, *, align=CENTER, bold=False, space_after=0, indent=False):
    """A paragraph of runs where "_2" marks a subscript 2 (F₂ = B₂ / C₂ × 100 %)."""
    paragraph = para(container, align=align, space_after=space_after, indent=indent)
    for part in parts:
        sub = part.startswith("_")
        run = paragraph.add_run(part[1:] if sub else part)
        run.font.subscript = sub
        run.bold = bold
    return paragraph


def build_monitoring_report():
    """The report on the monitoring's results in the layout of seed 000: addressees, title, narrative,
    the formula F2 = B2 / C2 × 100 % with its legend, the computed line, recommendations, the head's
    signature; the per-school figures follow as an appendix table."""
    doc = new_document("О результатах мониторинга")
    table = grid_table(doc, 1, [8.0, 8.5], borders=False)
    cell = table.rows[0].cells[1]
    cell.paragraphs[0].add_run("{%p for a in addressees %}")
    cell.add_paragraph().add_run("{{ a }}")
    cell.add_paragraph().add_run("{%p endfor %}")
    para(doc)
    table = grid_table(doc, 1, [9.0, 7.5], borders=False)
    set_cell(table.rows[0].cells[0], "{{ title }}")
    para(doc, space_after=6)
    para(doc, "{%p for p in narrative %}")
    para(doc, "{{ p }}", align=JUSTIFY, indent=True, space_after=6)
    para(doc, "{%p endfor %}")
    para(doc, "Показатель доли педагогических работников, для которых разработан индивидуальный образовательный "
              "маршрут непрерывного профессионального развития на основе результатов диагностики "
              "профессиональных компетенций рассчитывался по формуле:", align=JUSTIFY, indent=True,
         space_after=6)
    formula_paragraph(doc, ["F", "_2", " = B", "_2", " / C", "_2", " × 100 %"], space_after=6)
    para(doc, "где:", align=JUSTIFY, indent=True)
    para(doc, "{%p for item in legend %}")
    para(doc, "{{ item }}", align=JUSTIFY, indent=True, space_after=3)
    para(doc, "{%p endfor %}")
    para(doc, "{{ routes_sentence }}", align=JUSTIFY, indent=True, space_after=6)
    para(doc, "{{ indicator_heading }}", bold=True, align=JUSTIFY, indent=True, space_after=6)
    para(doc, "{{ computed_line }}", bold=True, align=CENTER, space_after=12)
    para(doc, "На основании вышеизложенного рекомендовано:", align=JUSTIFY, indent=True, space_after=6)
    para(doc, "{%p for r in recommendations %}")
    para(doc, "{{ r }}", align=JUSTIFY, indent=True, space_after=3)
    para(doc, "{%p endfor %}")
    signature_block(doc)
    para(doc, "{{ signed_on|ru_date }}", size=12)
    para(doc, "{%p if schools %}")
    para(doc)
    para(doc, "Приложение. Показатель F2 по общеобразовательным организациям ({{ municipality_name }})",
         bold=True, align=CENTER, space_after=6)
    widths = [1.2, 7.3, 2.6, 2.6, 2.8]
    table = grid_table(doc, 5, widths)
    for cell, text in zip(table.rows[0].cells, ["№ п/п", "Общеобразовательная организация",
                                                "C2, чел.", "B2, чел.", "F2"]):
        set_cell(cell, text, bold=True, align=CENTER, size=12)
    tag_row(table, 1, "{%tr for s in schools %}")
    cells = table.rows[2].cells
    set_cell(cells[0], "{{ loop.index }}", align=CENTER, size=12)
    set_cell(cells[1], "{{ s.name }}", size=12)
    set_cell(cells[2], "{{ s.c2 }}", align=CENTER, size=12)
    set_cell(cells[3], "{{ s.b2 }}", align=CENTER, size=12)
    set_cell(cells[4], "{{ s.f2 }}", align=CENTER, size=12)
    tag_row(table, 3, "{%tr endfor %}")
    cells = table.rows[4].cells
    cells[0].merge(cells[1])
    set_cell(cells[0], "Итого", bold=True, size=12)
    set_cell(cells[2], "{{ c2 }}", bold=True, align=CENTER, size=12)
    set_cell(cells[3], "{{ b2 }}", bold=True, align=CENTER, size=12)
    set_cell(cells[4], "{{ f2 }}", bold=True, align=CENTER, size=12)
    para(doc, "{%p endif %}")
    return doc


BUILDERS = {
    "route": build_route,
    "order_routes_approval": build_order_routes_approval,
    "order_monitoring": build_order_monitoring,
    "monitoring_report": build_monitoring_report,
}


# --- writing -----------------------------------------------------------------------------------------

def to_bytes(doc):
    """Save the document with fixed ZIP timestamps so the same script gives the same bytes."""
    raw = io.BytesIO()
    doc.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as src, \
            zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def build(name, out_dir=OUT_DIR):
    """Build one template into out_dir; return its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.docx"
    path.write_bytes(to_bytes(BUILDERS[name]()))
    return path


def main(argv):
    names = argv or list(BUILDERS)
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        print(f"Unknown template(s): {', '.join(unknown)}; known: {', '.join(BUILDERS)}", file=sys.stderr)
        return 2
    for name in names:
        print(build(name).relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
