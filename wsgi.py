"""Entry points: ``gunicorn wsgi:app`` and ``celery -A wsgi.celery_app worker|beat``."""
from app import create_app

app = create_app()
celery_app = app.extensions["celery"]
