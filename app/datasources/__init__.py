from flask import Blueprint

bp = Blueprint("datasources", __name__, template_folder="templates")

from app.datasources import views  # noqa: E402,F401
