from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models import db


class Municipality(db.Model):
    """A district or city whose education department runs the routes."""

    __tablename__ = "municipalities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # The department's full name as printed at the head of its orders.
    department_name: Mapped[str] = mapped_column(String(400), default="")
    place: Mapped[str] = mapped_column(String(120), default="")
    head_title: Mapped[str] = mapped_column(String(200), default="Начальник управления образования")
    head_name: Mapped[str] = mapped_column(String(120), default="")

    schools: Mapped[list["School"]] = relationship(back_populates="municipality")

    def __repr__(self):
        return f"<Municipality {self.name}>"


class School(db.Model):
    """A general education organization (ОО)."""

    __tablename__ = "schools"
    __table_args__ = (UniqueConstraint("municipality_id", "name", name="uq_schools_municipality_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))

    municipality: Mapped[Municipality] = relationship(back_populates="schools")

    def __repr__(self):
        return f"<School {self.name}>"
