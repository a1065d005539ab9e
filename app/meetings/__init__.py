from flask import Blueprint

bp = Blueprint("meetings", __name__, template_folder="templates")

from app.meetings import views  # noqa: E402,F401
