"""A compiled docxtpl template: compile once, then per document render only the templated XML parts.

``docxtpl.DocxTemplate.render`` re-loads the whole package, re-patches and re-compiles the Jinja source
and re-compresses every part (styles, fonts, numbering, theme) for each document. Here the package is
loaded and its parts patched and compiled once (with docxtpl's own ``patch_xml``), and a render runs
the same steps docxtpl runs on the templated parts only (``resolve_listing``, ``fix_tables``, docPr ids)
and copies the other parts' already-compressed bytes from the template into the new package. The text
of the result is identical to docxtpl's (tests/test_documents.py checks it on every built-in template).
"""
import copy
import io
import re
import struct
import zipfile
import zlib

from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.coreprops import CoreProperties
from docx.oxml.ns import nsmap as DOCX_NSMAP
from docx.oxml.ns import qn
from docx.oxml.parser import parse_xml
from docxtpl import DocxTemplate
from lxml import etree

# docxtpl's XML helpers (patch_xml, resolve_listing, fix_tables) keep no state of their own.
_TPL = DocxTemplate(None)

JINJA_TAG = re.compile(r"{{|{%|{#")
CORE_PROPERTIES = ["author", "comments", "identifier", "language", "subject", "title"]
FOOTNOTES_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"
_BODY_MARKER = "IOM-RENDERED-BODY"


class RawEntry:
    """One member of a ZIP archive, kept as its compressed bytes."""

    __slots__ = ("name", "method", "crc", "compressed", "size", "date_time", "external_attr")

    def __init__(self, name, method, crc, compressed, size, date_time, external_attr=0):
        self.name, self.method, self.crc = name, method, crc
        self.compressed, self.size, self.date_time = compressed, size, date_time
        self.external_attr = external_attr

    @classmethod
    def deflate(cls, name, data, date_time):
        # Level 1: a rendered document.xml is small; level 6 took three times as long for a sixth fewer bytes.
        compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
        compressed = compressor.compress(data) + compressor.flush()
        return cls(name, zipfile.ZIP_DEFLATED, zlib.crc32(data) & 0xFFFFFFFF, compressed, len(data),
                   date_time)


def read_raw_entries(data):
    """Return the archive's members with their compressed bytes, in the archive's order."""
    entries = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if info.flag_bits & 0x1:
                raise zipfile.BadZipFile("encrypted member")
            header = data[info.header_offset:info.header_offset + 30]
            if len(header) != 30 or header[:4] != b"PK\x03\x04":
                raise zipfile.BadZipFile("bad local header")
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            start = info.header_offset + 30 + name_len + extra_len
            compressed = data[start:start + info.compress_size]
            if len(compressed) != info.compress_size:
                raise zipfile.BadZipFile("truncated member")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise zipfile.BadZipFile("unsupported compression")
            entries.append(RawEntry(info.filename, info.compress_type, info.CRC, compressed,
                                    info.file_size, info.date_time, info.external_attr))
    return entries


def _dos_time(date_time):
    year, month, day, hour, minute, second = date_time
    year = max(year, 1980)
    return ((hour << 11) | (minute << 5) | (second // 2)), (((year - 1980) << 9) | (month << 5) | day)


def _records(entry):
    """Return (local header + compressed bytes, central directory record without its offset and name, name)."""
    name = entry.name.encode("utf-8")
    flags = 0x800 if not entry.name.isascii() else 0
    dos_time, dos_date = _dos_time(entry.date_time)
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, entry.method, dos_time, dos_date,
                        entry.crc, len(entry.compressed), entry.size, len(name), 0) + name + entry.compressed
    central = struct.pack("<4s6H3L5HL", b"PK\x01\x02", 20, 20, flags, entry.method, dos_time, dos_date,
                          entry.crc, len(entry.compressed), entry.size, len(name), 0, 0, 0, 0,
                          entry.external_attr)
    return local, central, name


def _assemble(records):
    """Join (local, central, name) records into a ZIP archive."""
    pieces, central = [], []
    offset = 0
    for local, record, name in records:
        pieces.append(local)
        central.append(record + struct.pack("<L", offset) + name)
        offset += len(local)
    directory = b"".join(central)
    pieces.append(directory)
    pieces.append(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(central), len(central), len(directory),
                              offset, 0))
    return b"".join(pieces)


def write_zip(entries):
    """Assemble a ZIP archive from members whose bytes are already compressed."""
    return _assemble([_records(entry) for entry in entries])


_PARAGRAPH = re.compile(r"<w:p(?: [^>]*)?>.*?</w:p>", re.DOTALL)
_LISTING_CHARS = re.compile("[\t\a\n\f]")
# Tags that make docxtpl change a table's cell count (its fix_tables then rewrites the grid).
_CELL_TAGS = re.compile(r"{%-?\s*(?:tc\s|hm\s*-?%}|vm\s*-?%}|colspan\s)|{{-?\s*tc\s")


def _resolve_listing(xml):
    """docxtpl's resolve_listing, applied only to the paragraphs it would change (same result)."""
    if not _LISTING_CHARS.search(xml):
        return xml

    def paragraph(match):
        text = match.group(0)
        return _TPL.resolve_listing(text) if _LISTING_CHARS.search(text) else text

    return _PARAGRAPH.sub(paragraph, xml)


def _has_listing_bytes(xml):
    """Tell whether resolve_listing has anything to do (four byte scans run far faster than one regex)."""
    return b"\n" in xml or b"\t" in xml or b"\a" in xml or b"\f" in xml


def _post_render_bytes(xml):
    """_post_render on the UTF-8 bytes of a part (the same result, encoded; bytes replace much faster).

    A multi-byte replace scans the whole part, a one-byte test hardly costs: the escaped-brace
    replaces run only when the part has a brace at all.
    """
    xml = xml.replace(b"\n<w:p ", b"<w:p ").replace(b"\n<w:p>", b"<w:p>")
    if b"{" in xml:
        xml = xml.replace(b"{_{", b"{{").replace(b"{_%", b"{%")
    if b"}" in xml:
        xml = xml.replace(b"}_}", b"}}").replace(b"%_}", b"%}")
    if _has_listing_bytes(xml):
        return _resolve_listing(xml.decode("utf-8")).encode("utf-8")
    return xml


def _post_render(xml):
    """The steps docxtpl's render_xml_part runs on a rendered part."""
    # Same as docxtpl's re.sub(r"\n<w:p([ >])", r"<w:p\1", xml), without the per-match template.
    xml = xml.replace("\n<w:p ", "<w:p ").replace("\n<w:p>", "<w:p>")
    xml = xml.replace("{_{", "{{").replace("}_}", "}}").replace("{_%", "{%").replace("%_}", "%}")
    return _resolve_listing(xml)


def _prepare(src_xml):
    """The step docxtpl's render_xml_part runs before compiling a part."""
    return re.sub(r"<w:p([ >])", r"\n<w:p\1", src_xml)


class _TemplatedPart:
    def __init__(self, zip_name, kind, source, template, encoding="utf-8"):
        self.zip_name, self.kind, self.source = zip_name, kind, source
        self.template, self.encoding = template, encoding


class CompiledDocx:
    """A DOCX template compiled once; ``render(context)`` returns the DOCX bytes of one document."""

    def __init__(self, data, env, *, strict_xml=False):
        self.env = env
        # Validation renders parse the body strictly; docxtpl itself recovers from broken XML.
        self.strict_xml = strict_xml
        self.entries = read_raw_entries(data)
        # The unchanged members' ZIP records are the same in every document: built once.
        self._records = [_records(entry) for entry in self.entries]
        names = [e.name for e in self.entries]
        if len(set(names)) != len(names):
            raise zipfile.BadZipFile("duplicate member names")
        tpl = DocxTemplate(io.BytesIO(data))
        tpl.init_docx()
        document = tpl.docx
        main_part = document.part
        self.main_name = main_part.partname.lstrip("/")
        self.parts = {}
        self.sources = {}

        body_xml = _TPL.xml_to_string(document._element.body)
        # Only cell-level tags can change a row's cell count; without them the grid never needs fixing.
        self._fix_tables = bool(_CELL_TAGS.search(body_xml))
        body_source = _prepare(_TPL.patch_xml(body_xml))
        self._add(_TemplatedPart(self.main_name, "body", body_source, None))
        root = copy.deepcopy(document._element)
        body = root.find(qn("w:body"))
        root.replace(body, etree.Comment(_BODY_MARKER))
        head, _, tail = etree.tostring(root, encoding="UTF-8", standalone=True).decode("utf-8").partition(
            f"<!--{_BODY_MARKER}-->")
        self._document_head, self._document_tail = head.encode("utf-8"), tail.encode("utf-8")

        for rel in main_part.rels.values():
            if rel.is_external or rel.reltype not in (RT.HEADER, RT.FOOTER) or not rel.target_part.blob:
                continue
            part = rel.target_part
            xml = _TPL.get_part_xml(part)
            patched = _TPL.patch_xml(xml)
            if JINJA_TAG.search(patched):
                self._add(_TemplatedPart(part.partname.lstrip("/"), "header_footer", _prepare(patched), None,
                                         _TPL.get_headers_footers_encoding(xml)))
        for part in document.part.package.parts:
            if part.content_type == FOOTNOTES_TYPE:
                blob = part.blob.decode("utf-8") if isinstance(part.blob, bytes) else part.blob
                patched = _TPL.patch_xml(blob)
                if JINJA_TAG.search(patched):
                    self._add(_TemplatedPart(part.partname.lstrip("/"), "footnotes", _prepare(patched), None))

        self.core_name = None
        self.core_templates = {}
        core_part = document.part.package._core_properties_part if _has_core_part(document) else None
        if core_part is not None:
            self.core_name = core_part.partname.lstrip("/")
            self._core_blob = core_part.blob
            properties = core_part.core_properties
            for prop in CORE_PROPERTIES:
                value = getattr(properties, prop) or ""
                if JINJA_TAG.search(value):
                    self.core_templates[prop] = value
                    self.sources[f"{self.core_name}#{prop}"] = value

        # Compile last, so every source is known (for validation) even if one of them fails.
        for part in self.parts.values():
            part.template = env.from_string(part.source)
        self.core_compiled = {prop: env.from_string(src) for prop, src in self.core_templates.items()}

    def _add(self, part):
        self.parts[part.zip_name] = part
        self.sources[part.zip_name] = part.source

    def render_parts(self, context):
        """Render the templated parts; return {zip member name: new bytes}."""
        rendered = {}
        for name, part in self.parts.items():
            if part.kind == "body":
                xml = _post_render_bytes(part.template.render(context).encode("utf-8"))
                rendered[name] = self._document_head + self._body(xml) + self._document_tail
                continue
            xml = _post_render(part.template.render(context))
            if part.kind == "header_footer":
                element = parse_xml(xml.encode(part.encoding))
                rendered[name] = etree.tostring(element, encoding="UTF-8", standalone=True)
            else:
                if self.strict_xml:
                    etree.fromstring(xml.encode("utf-8"))
                rendered[name] = xml.encode("utf-8")
        if self.core_compiled:
            element = parse_xml(self._core_blob)
            properties = CoreProperties(element)
            for prop, template in self.core_compiled.items():
                setattr(properties, prop, template.render(context))
            rendered[self.core_name] = etree.tostring(element, encoding="UTF-8", standalone=True)
        return rendered

    def _body(self, xml):
        """The rendered body as docxtpl leaves it: tables fixed, docPr ids renumbered from 1001.

        The body is checked to be well-formed (in C, building no tree); only a body that is not takes
        docxtpl's recovering parser, and only bodies with cell-level tags or pictures are rebuilt from the tree.
        """
        if not self._fix_tables and b"docPr" not in xml:
            try:
                _check_well_formed(xml)
                return xml
            except etree.XMLSyntaxError:
                if self.strict_xml:
                    raise
        elif self.strict_xml:
            _check_well_formed(xml)
        tree = _TPL.fix_tables(xml)
        ids = 1000
        for element in tree.xpath("//wp:docPr", namespaces=DOCX_NSMAP):
            ids += 1
            element.attrib["id"] = str(ids)
        return etree.tostring(tree, encoding="unicode").encode("utf-8")

    def render(self, context):
        """Return the DOCX bytes of the template rendered with the context."""
        rendered = self.render_parts(context)
        records = []
        for entry, record in zip(self.entries, self._records):
            data = rendered.get(entry.name)
            records.append(record if data is None else
                           _records(RawEntry.deflate(entry.name, data, entry.date_time)))
        return _assemble(records)


class _NoTree:
    """A parser target that builds nothing: lxml then only checks that the XML is well-formed."""

    def close(self):
        return None


def _check_well_formed(xml):
    """Raise XMLSyntaxError where ``etree.fromstring(xml)`` would, without building the tree (twice as fast).

    A parser with a target does not raise on namespace errors (an undeclared prefix): its error log
    still has them, so any logged error counts.
    """
    parser = etree.XMLParser(target=_NoTree())
    etree.fromstring(xml, parser)
    errors = parser.error_log.filter_from_errors()
    if errors:
        first = errors[0]
        raise etree.XMLSyntaxError(first.message, first.type, first.line, first.column)


def _has_core_part(document):
    """Tell whether the package has its own core properties part (without creating a default one)."""
    package = document.part.package
    try:
        return any(rel.reltype == RT.CORE_PROPERTIES for rel in package.rels.values())
    except AttributeError:
        return False


def render_with_docxtpl(data, context, env):
    """Render the template bytes the plain docxtpl way (the reference the fast path is checked against)."""
    template = DocxTemplate(io.BytesIO(data))
    template.render(context, env, autoescape=True)
    out = io.BytesIO()
    template.save(out)
    return out.getvalue()
