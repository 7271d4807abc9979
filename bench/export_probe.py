"""Measured in a process of its own (for its peak RSS): the bulk ZIP export, or as many bare docxtpl renders.

    python -m bench.export_probe app|bare DATABASE_URL IDS_FILE OUT_ZIP TODAY

Prints one JSON line: {"seconds", "documents", "peak_rss_kb", "ru_maxrss_kb", "rss_before_kb",
"peak_reset"}: the peak RSS is reset (Linux /proc/self/clear_refs) once the app is up and the template
compiled, so peak_rss_kb is the peak while the documents are made (the process's own size included). `app` streams
``workflow.documents.stream_routes_zip`` to OUT_ZIP; `bare` builds the same contexts first (not
timed), then for each route loads the template with docxtpl, renders and saves it, and stores the
result in OUT_ZIP as <route id>.docx.
"""
import io
import json
import resource
import sys
import time
import zipfile
from datetime import date


def _max_rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_rss_kb():
    """This process's own peak RSS: VmHWM on Linux, else ru_maxrss.

    ru_maxrss also keeps the RSS the process had when it exec'd, i.e. its parent's at the fork (the
    benchmark's big process), so on Linux the kernel's high-water mark of this process is read.
    """
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return _max_rss_kb()


def _reset_peak():
    """Start the peak RSS (ru_maxrss, VmHWM) afresh, so it covers the export only (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _rss_kb():
    import os
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def main(argv):
    mode, url, ids_file, out_path, today = argv
    today = date.fromisoformat(today)
    ids = [int(x) for x in open(ids_file).read().split()]
    from app import create_app
    from bench.scratch import app_config
    from models import db
    from workflow import documents
    app = create_app(app_config(url))
    with app.app_context():
        documents.compiled_template("route")
        rss_before = _rss_kb()
        reset = _reset_peak()
        if mode == "app":
            started = time.perf_counter()
            with open(out_path, "wb") as out:
                for chunk in documents.stream_routes_zip(ids, today=today):
                    out.write(chunk)
            seconds = time.perf_counter() - started
        else:
            from docxtpl import DocxTemplate
            from models import Route
            template = documents.DOCX_DIR / "route.docx"
            env = documents.make_env()
            contexts = []
            for start in range(0, len(ids), 200):
                chunk = ids[start:start + 200]
                routes = db.session.execute(documents.route_document_query().where(Route.id.in_(chunk))
                                            ).unique().scalars().all()
                contexts += [(r.id, documents.clean_context(documents.route_context(r, today=today)))
                             for r in routes]
                db.session.expunge_all()
            started = time.perf_counter()
            with zipfile.ZipFile(out_path, "w", zipfile.ZIP_STORED) as archive:
                for route_id, context in contexts:
                    doc = DocxTemplate(str(template))
                    doc.render(context, env, autoescape=True)
                    buffer = io.BytesIO()
                    doc.save(buffer)
                    archive.writestr(f"{route_id}.docx", buffer.getvalue())
            seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "documents": len(ids), "peak_rss_kb": _peak_rss_kb(),
                      "ru_maxrss_kb": _max_rss_kb(), "rss_before_kb": rss_before, "peak_reset": reset}))


if __name__ == "__main__":
    main(sys.argv[1:])
