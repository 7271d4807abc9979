"""Maintain the English catalog of the interface (translations/en/LC_MESSAGES/messages.po).

    python scripts/i18n.py update            # extract messages, merge them into the catalog, compile
    python scripts/i18n.py missing [PATH...] # list messages without an English translation (of PATHs only)
    python scripts/i18n.py add FILE.json     # add translations {"русский": "English", ...}, then compile
    python scripts/i18n.py compile           # build messages.mo from messages.po (make does this)

Messages are Russian (the source language); the catalog holds their English translations. Several
people may run `add` at once: the catalog is rewritten under a file lock.
"""
import fcntl
import json
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
CATALOG = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
KEYWORDS = ["_", "_l", "gettext", "lazy_gettext", "ngettext:1,2", "lazy_ngettext:1,2", "pgettext:1c,2"]


def _pybabel(*args):
    CommandLineInterface().run(["pybabel", "-q", *args])


@contextmanager
def _locked():
    TRANSLATIONS.mkdir(exist_ok=True)
    with open(TRANSLATIONS / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def extract(pot_path):
    args = ["extract", "-F", str(ROOT / "babel.cfg"), "--no-location", "--sort-output", "--no-wrap",
            "--project", "iom", "--copyright-holder", "iom", "-o", str(pot_path)]
    for keyword in KEYWORDS:
        args += ["-k", keyword]
    _pybabel(*args, str(ROOT))


def _read(path):
    with open(path, "rb") as handle:
        return read_po(handle)


def _write(catalog, path):
    # A stable header: the project, English, and no "fuzzy" mark on the header itself.
    catalog.project, catalog.version = "iom", "1"
    catalog.copyright_holder, catalog.msgid_bugs_address = "iom", ""
    catalog.language_team, catalog.last_translator = "English", "iom"
    catalog.fuzzy = False
    with open(path, "wb") as handle:
        write_po(handle, catalog, width=0, omit_header=False, no_location=True, sort_output=True)


def update():
    with _locked(), tempfile.TemporaryDirectory() as tmp:
        pot = Path(tmp) / "messages.pot"
        extract(pot)
        if not CATALOG.exists():
            _pybabel("init", "-i", str(pot), "-d", str(TRANSLATIONS), "-l", "en", "--no-wrap")
        else:
            _pybabel("update", "-i", str(pot), "-d", str(TRANSLATIONS), "-l", "en", "--no-wrap",
                     "--no-fuzzy-matching", "--ignore-obsolete")
        _write(_read(CATALOG), CATALOG)
        compile_catalog()


def missing(paths):
    """Messages (of the given files or folders, or of the whole app) that have no English translation."""
    catalog = _read(CATALOG) if CATALOG.exists() else Catalog()
    with tempfile.TemporaryDirectory() as tmp:
        pot = Path(tmp) / "messages.pot"
        extract(pot)
        extracted = _read(pot)
    wanted = None
    if paths:
        wanted = set()
        for message in _messages_of(paths):
            wanted.add(message)
    result = []
    for message in extracted:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        if wanted is not None and key not in wanted:
            continue
        known = catalog.get(message.id)
        strings = known.string if known is not None else None
        if isinstance(strings, (tuple, list)):
            done = all(strings)
        else:
            done = bool(strings)
        if not done or (known is not None and known.fuzzy):
            result.append(message.id)
    return result


def _messages_of(paths):
    from babel.messages.extract import extract_from_file
    method_map = [("**.py", "python"), ("**.html", "jinja2")]
    keywords = {"_": None, "_l": None, "gettext": None, "lazy_gettext": None,
                "ngettext": (1, 2), "lazy_ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
    for raw in paths:
        path = (ROOT / raw).resolve()
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.suffix in {".py", ".html"}]
        for file in files:
            method = "python" if file.suffix == ".py" else "jinja2"
            for _lineno, message, _comments, _context in extract_from_file(method, str(file), keywords=keywords):
                yield message if isinstance(message, str) else message[0]


def add(json_path):
    pairs = json.loads(Path(json_path).read_text(encoding="utf-8"))
    with _locked():
        catalog = _read(CATALOG)
        unknown = []
        for msgid, msgstr in pairs.items():
            key = msgid
            message = catalog.get(key)
            if message is None:
                # A plural message is keyed by its singular form.
                message = next((m for m in catalog if isinstance(m.id, tuple) and m.id[0] == msgid), None)
            if message is None:
                unknown.append(msgid)
                continue
            if isinstance(message.id, tuple):
                message.string = tuple(msgstr) if isinstance(msgstr, list) else (msgstr, msgstr)
            else:
                message.string = msgstr
            message.flags.discard("fuzzy")
        _write(catalog, CATALOG)
        compile_catalog()
    if unknown:
        print(f"{len(unknown)} messages are not in the catalog (run `update` first?):", file=sys.stderr)
        for msgid in unknown:
            print("  " + msgid, file=sys.stderr)


def compile_catalog():
    if CATALOG.exists():
        _pybabel("compile", "-d", str(TRANSLATIONS), "-l", "en", "--use-fuzzy")


def main(argv):
    command = argv[0] if argv else "update"
    if command == "update":
        update()
    elif command == "missing":
        for msgid in missing(argv[1:]):
            print(json.dumps(msgid, ensure_ascii=False))
    elif command == "add":
        add(argv[1])
    elif command == "compile":
        compile_catalog()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
