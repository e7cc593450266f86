"""GET /health: the database and the broker, each "ok" or the error that stops it."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def _database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"


def _broker_status() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "ok (eager)"
    try:
        from config.celery import app

        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"


def health(request):
    database, broker = _database_status(), _broker_status()
    healthy = database == "ok" and broker.startswith("ok")
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "database": database, "broker": broker},
        status=200 if healthy else 503,
    )
