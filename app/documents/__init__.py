from flask import Blueprint

bp = Blueprint("documents", __name__, template_folder="templates")

from app.documents import views  # noqa: E402,F401
