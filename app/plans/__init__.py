from flask import Blueprint

bp = Blueprint("plans", __name__, template_folder="templates")

from app.plans import change_views, scoring_views, views  # noqa: E402,F401
