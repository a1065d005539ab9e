from flask import Blueprint

bp = Blueprint("rectifications", __name__, template_folder="templates")

from app.rectifications import views  # noqa: E402,F401
