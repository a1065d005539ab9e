"""``flask demo``: units, one user per role and two plans, so a first look shows a working inbox."""
from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from app.database import write_transaction
from app.extensions import db
from app.models import Plan, Role, Unit, User
from app.roles import ROLE_LABELS
from app.services import accounts, plans

DEMO_PASSWORD = "Demo@2026"  # noqa: S105  (printed for the demo; not a real credential)

UNITS = [
    ("KHB", "省政务服务绩效考核办公室", "office"),
    ("GAT", "省公安厅", "department"),
    ("RST", "省人力资源和社会保障厅", "department"),
    ("SCJGJ", "省市场监督管理局", "department"),
    ("CS", "长沙市", "city"),
    ("ZZ", "株洲市", "city"),
    ("XT", "湘潭市", "city"),
    ("YW", "省政务云运维服务有限公司", "contractor"),
    ("JL", "恒信工程监理有限公司", "supervisor"),
    ("SJ", "省政务服务和大数据中心", "owner"),
]

USERS = [
    ("admin", "系统管理员", [Role.ADMIN], "KHB"),
    ("manager", "王考核", [Role.ASSESSMENT_MANAGER], "KHB"),
    ("reviewer", "李审核", [Role.REVIEWER], "KHB"),
    ("leader", "赵主任", [Role.LEADER], "KHB"),
    ("evaluator", "陈评估", [Role.EVALUATOR], "RST"),
    ("unit_gat", "公安厅联络员", [Role.ASSESSED_UNIT], "GAT"),
    ("unit_cs", "长沙市联络员", [Role.ASSESSED_UNIT], "CS"),
    ("quality", "周质量", [Role.QUALITY_TEAM], "KHB"),
    ("contractor", "孙运维", [Role.CONTRACTOR], "YW"),
    ("supervisor", "吴监理", [Role.SUPERVISOR], "JL"),
    ("owner", "郑业主", [Role.OWNER], "SJ"),
]


def demo_plan(name: str, year: int) -> dict[str, object]:
    return {
        "name": name, "cycle": "year", "period_start": f"{year}-01-01", "period_end": f"{year}-12-31",
        "goals": "保障“互联网+政务服务”平台稳定运行，提升办事群众满意度。",
        "indicators": [
            {"code": "A", "name": "服务质量", "weight": 60, "method": "manual", "max_score": 100,
             "standard": "按运维服务质量评分细则打分", "children": [
                 {"code": "A1", "name": "故障响应及时率", "weight": 50, "method": "auto", "max_score": 100,
                  "standard": "30 分钟内响应为满分"},
                 {"code": "A2", "name": "服务态度", "weight": 50, "method": "manual", "max_score": 100,
                  "standard": "好差评与电话回访结果"}]},
            {"code": "B", "name": "系统运行", "weight": 40, "method": "auto", "max_score": 100,
             "standard": "平台可用率不低于 99.9%"},
        ],
        "evaluators": [{"role": "evaluator", "weight": 70}, {"unit": "KHB", "weight": 30}],
        "objects": ["GAT", "RST", "CS", "ZZ"],
    }


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Load demo units, users (password Demo@2026) and plans; safe to run twice."""
    with write_transaction():
        for code, name, kind in UNITS:
            if not db.session.scalar(sa.select(Unit.id).where(Unit.code == code)):
                accounts.create_unit(code, name, kind)
        for username, name, roles, unit in USERS:
            if not db.session.scalar(sa.select(User.id).where(User.username == username)):
                accounts.create_user(username, name, DEMO_PASSWORD, [r.value for r in roles], unit)
    with write_transaction():
        if not db.session.scalar(sa.select(Plan.id).limit(1)):
            manager = db.session.scalars(sa.select(User).where(User.username == "manager")).one()
            plans.create_plan(manager, demo_plan("2027年度运维服务绩效考核计划（草稿）", 2027))
            submitted = plans.create_plan(manager, demo_plan("2026年度运维服务绩效考核计划", 2026))
            plans.submit_plan(manager, submitted)
    click.echo(f"Demo data loaded. Every demo user's password is {DEMO_PASSWORD}")
    for username, name, roles, unit in USERS:
        click.echo(f"  {username:<12} {name:<8} {', '.join(ROLE_LABELS[r] for r in roles)}  ({unit})")
