from flask import Blueprint

bp = Blueprint("appeals", __name__, url_prefix="/appeals", template_folder="templates")

from app.appeals import views  # noqa: E402,F401
