from flask import Blueprint

bp = Blueprint("inbox", __name__, template_folder="templates")

from app.inbox import views  # noqa: E402,F401
