"""Diagnostic results over the API: import a CSV/XLSX file (dry run or all rows at once)."""
from flask import jsonify, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from views.api import api_blueprint, error_responses
from views.api.auth import current_api_user
from workflow import diagnostics
from workflow.errors import InvalidInput
from workflow.spreadsheets import ImportFailed, error

blp = api_blueprint("api_diagnostics", __name__,
                    description=_l("Результаты диагностики профессиональных компетенций: импорт CSV/XLSX"))

_TRUE = {"1", "true", "yes", "on", "да"}
_FALSE = {"", "0", "false", "no", "off", "нет"}

_IMPORT_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary",
                     "description": _l("CSV (UTF-8, UTF-8 с BOM, Windows-1251; запятая или точка с запятой) или XLSX. "
                                    "Столбцы: ФИО, Школа, E-mail (необязательно), Диагностика, Дата, Компетенция, "
                                    "Балл, Дефицит (да/нет); английские заголовки тоже принимаются")},
            "dry_run": {"type": "boolean", "description": _l("Только проверить и показать, что изменится")},
            "threshold": {"type": "string", "description": _l("Порог: балл ниже порога — дефицит (если нет столбца "
                                                           "«Дефицит»)")},
            "provider": {"type": "string", "description": _l("Кто проводил диагностику, например ФИОКО")},
        }}}},
}
_SUMMARY = {"description": _l("Сводка: строки, педагоги, дефициты, новые/изменённые/без изменений, диагностики"),
            "content": {"application/json": {"schema": {"type": "object"}}}}
_IMPORT_ERROR = {"description": _l("Файл не импортирован: {error, message, errors: [{row, column, message}]}"),
                 "content": {"application/json": {"schema": {"type": "object"}}}}


def import_failed_response(exc):
    """The 422 answer of a rejected file: every error by row and column; nothing was imported."""
    response = jsonify({"error": exc.code, "message": exc.message, "errors": exc.errors})
    response.status_code = 422
    return response


def _flag(value):
    text = (value or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ImportFailed([error(None, "dry_run", _("Поле dry_run: ожидается true или false"))])


@blp.route("/diagnostics/imports", methods=["POST"])
@blp.doc(requestBody=_IMPORT_BODY, responses={"200": _SUMMARY, "422": _IMPORT_ERROR})
@error_responses(blp, 401, 403, 409, 413)
def import_results():
    """Import diagnostic results from a CSV or XLSX file: all rows or none.

    With `dry_run` the file is only checked and the summary shows what would change.
    Teachers are matched by e-mail or by full name and school; unknown ones are errors.
    """
    user = current_api_user()
    diagnostics.require_importer(user)
    try:
        upload = request.files.get("file")
        if upload is None:
            raise ImportFailed([error(None, "file", _("Прикрепите файл в поле file (multipart/form-data)"))])
        dry_run = _flag(request.form.get("dry_run"))
        data = upload.read()
        summary = diagnostics.import_results(
            data, actor=user, dry_run=dry_run, threshold=request.form.get("threshold") or None,
            provider=request.form.get("provider") or "", file_name=upload.filename or "")
    except ImportFailed as exc:
        return import_failed_response(exc)
    except InvalidInput as exc:
        return import_failed_response(ImportFailed([error(None, None, exc.message)], exc.message))
    return jsonify(summary), 200
