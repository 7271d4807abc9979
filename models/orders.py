"""Orders of the department (приказы), their number registry, and uploaded versions of DOCX templates."""
from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import db
from models._time import utcnow
from models.files import StoredFile
from models.org import Municipality
from models.user import User


class OrderCounter(db.Model):
    """The last order number issued in a municipality in a year; bumped atomically on every issue."""

    __tablename__ = "order_counters"
    __table_args__ = (
        UniqueConstraint("municipality_id", "year", name="uq_order_counters_municipality_year"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    year: Mapped[int]
    last: Mapped[int] = mapped_column(default=0)


class Order(db.Model):
    """An issued order: its registry number, and the exact DOCX bytes issued (with their SHA-256)."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("municipality_id", "year", "number", name="uq_orders_municipality_year_number"),
        Index("ix_orders_municipality_issued_on", "municipality_id", "issued_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    year: Mapped[int]
    number: Mapped[int]
    kind: Mapped[str] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(String(1000))
    issued_on: Mapped[date] = mapped_column(index=True)
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    # Which template version produced the document (None: the file shipped in docx_templates/).
    template_version_id: Mapped[int | None] = mapped_column(ForeignKey("document_templates.id"), index=True)
    # Lower-cased "number title issuer" for search (SQLite's lower() knows no Cyrillic).
    search_text: Mapped[str] = mapped_column(String(1400), default="")
    # The context the document was rendered from, JSON-safe, for the record.
    context: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    municipality: Mapped[Municipality] = relationship()
    issued_by: Mapped[User] = relationship()
    file: Mapped[StoredFile] = relationship()
    routes: Mapped[list["OrderRoute"]] = relationship(
        back_populates="order", order_by="OrderRoute.position", cascade="all, delete-orphan"
    )

    @property
    def display_number(self):
        return str(self.number)

    def __repr__(self):
        return f"<Order {self.kind} № {self.number}/{self.year}>"


class OrderRoute(db.Model):
    """A route an order refers to (e.g. approved by it), in the order's table order."""

    __tablename__ = "order_routes"
    __table_args__ = (UniqueConstraint("order_id", "route_id", name="uq_order_routes_order_route"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("routes.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)

    order: Mapped[Order] = relationship(back_populates="routes")
    route: Mapped["Route"] = relationship()  # noqa: F821 (resolved by the registry)


class DocumentTemplate(db.Model):
    """One version of a DOCX template; the highest version of a name is the active one.

    A version without a file means "back to the template shipped in docx_templates/".
    """

    __tablename__ = "document_templates"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_document_templates_name_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), index=True)
    version: Mapped[int]
    file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"), index=True)
    sha256: Mapped[str | None] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    file: Mapped[StoredFile | None] = relationship()
    uploaded_by: Mapped[User | None] = relationship()

    @property
    def is_builtin(self):
        return self.file_id is None
