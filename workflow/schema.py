"""Schema management: migrations when present, else create the tables from the models."""
from pathlib import Path

from models import db

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def upgrade_schema():
    """Bring the database to the latest schema."""
    if (MIGRATIONS / "env.py").exists():
        from flask_migrate import upgrade
        upgrade(directory=str(MIGRATIONS))
    else:
        db.create_all()
