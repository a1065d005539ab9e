from flask import Blueprint

bp = Blueprint("api", __name__)

from app.api import datasources, documents, notifications, rectifications, views  # noqa: E402,F401
