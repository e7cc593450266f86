"""Project configuration: settings, urls, Celery, the clock, money helpers, errors and the API base."""

from config.celery import app as celery_app

__all__ = ["celery_app"]
