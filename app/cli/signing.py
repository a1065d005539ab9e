"""``flask signing …``: the CJK font check, and the certificates parties sign their documents with."""
from __future__ import annotations

import shutil
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from app import pdf
from app.extensions import db
from app.models import Unit
from app.services import documents

signing_group = AppGroup("signing", help="Signed documents: font check and party certificates.")


def require_cjk_font() -> list[str]:
    """Refuse to go on without a CJK font: every Chinese character of every document would be a box."""
    try:
        return pdf.check_cjk_font()
    except pdf.FontMissing as exc:
        raise click.ClickException(str(exc)) from None


@signing_group.command("check-fonts")
def check_fonts() -> None:
    """Render a probe document; fail (exit 1) unless a CJK font covers it."""
    click.echo("CJK fonts used: " + ", ".join(require_cjk_font()))


@signing_group.command("party-cert")
@click.argument("unit_code")
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--cert", "cert_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--chain", "chain_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CA certificates of the party's certificate (trusted when verifying).")
def party_cert(unit_code: str, key_file: Path, cert_file: Path, chain_files: tuple[Path, ...]) -> None:
    """Install a party's own certificate: its blocks are then signed with it, in its box."""
    if db.session.scalar(sa.select(Unit.id).where(Unit.code == unit_code)) is None:
        raise click.ClickException(f"unit {unit_code} does not exist")
    folder = documents.party_dir(unit_code)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("chain*.pem"):
        old.unlink()
    shutil.copyfile(cert_file, folder / "cert.pem")
    for n, chain in enumerate(chain_files):
        shutil.copyfile(chain, folder / f"chain{n}.pem")
    target = folder / "key.pem"
    target.write_bytes(key_file.read_bytes())
    target.chmod(0o600)
    identity = documents.party_identity(unit_code)
    assert identity is not None
    identity.signer()   # fails here, not at signing time, when key and certificate do not load
    click.echo(f"{unit_code}: {identity.subject()} (serial {identity.serial()}) in {folder}")


@signing_group.command("remove-party-cert")
@click.argument("unit_code")
def remove_party_cert(unit_code: str) -> None:
    """Go back to 系统代签 for this party."""
    folder = documents.party_dir(unit_code)
    if not folder.exists():
        raise click.ClickException(f"{unit_code} has no certificate installed")
    shutil.rmtree(folder)
    click.echo(f"{unit_code}: removed; its blocks read 系统代签 again")


@signing_group.command("list")
def list_certs() -> None:
    """The system certificate and every party certificate installed."""
    click.echo(f"system: {documents.system_identity().subject()}")
    root = Path(current_app.config["PARTY_CERTS_DIR"])
    for folder in sorted(p for p in root.glob("*") if p.is_dir()):
        identity = documents.party_identity(folder.name)
        if identity is not None:
            click.echo(f"{folder.name}: {identity.subject()}")
