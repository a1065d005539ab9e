from flask import Blueprint

bp = Blueprint("changes", __name__, template_folder="templates")

from app.changes import views  # noqa: E402,F401
