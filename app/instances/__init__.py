from flask import Blueprint

bp = Blueprint("instances", __name__, template_folder="templates")

from app.instances import views  # noqa: E402,F401
