from datetime import datetime, timezone


def utcnow():
    """Return the current UTC time as a naive datetime (stored as UTC everywhere)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
