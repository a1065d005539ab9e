"""app/pdf.py and the archive: fonts, the locked-down fetcher, PAdES signatures (the system's and a
party's own), verification of intact, tampered and foreign files."""
from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from app import pdf
from tests.conftest import PROJECT
from tests.docs_helpers import finish_change_order, pdftext, verify


def test_the_cjk_probe_passes_with_the_installed_fonts(app):
    with app.app_context():
        assert "Noto Sans CJK SC" in pdf.check_cjk_font()


def test_without_a_cjk_font_the_check_refuses_with_a_clear_message(tmp_path):
    """A slim image without fonts-noto-cjk: fontconfig sees only DejaVu; the command must fail loudly."""
    conf = tmp_path / "fonts.conf"
    conf.write_text('<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
                    f'<dir>/usr/share/fonts/truetype/dejavu</dir><cachedir>{tmp_path}/cache</cachedir></fontconfig>')
    env = {**os.environ, "FONTCONFIG_FILE": str(conf), "APP_INSTANCE_PATH": str(tmp_path / "instance")}
    env.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "signing", "check-fonts"], cwd=PROJECT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "找不到中文字体" in result.stderr and "fonts-noto-cjk" in result.stderr
    ok = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "signing", "check-fonts"], cwd=PROJECT,
                        env={k: v for k, v in env.items() if k != "FONTCONFIG_FILE"}, capture_output=True,
                        text=True, timeout=120)
    assert ok.returncode == 0 and "Noto" in ok.stdout, ok.stderr


def test_a_glyph_no_font_has_fails_the_render_instead_of_printing_tofu(app):
    with app.app_context(), pytest.raises(pdf.FontMissing):
        pdf.render_html('<html lang="zh-CN"><body>罕见字 \U0002A6A5</body></html>')


def test_the_fetcher_serves_only_the_apps_assets(app, tmp_path, caplog):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    html = (f'<html lang="zh-CN"><head><link rel="attachment" href="file://{secret}">'
            '<link rel="stylesheet" href="http://127.0.0.1:9/evil.css"></head><body>附件'
            f'<img src="file://{secret}"><img src="file://{PROJECT}/app/static/../../tests/conftest.py">'
            f'<img src="file://{PROJECT}/app/static/vendor/bpmn-js/assets/bpmn-font/font/bpmn.svg"></body></html>')
    with app.app_context():
        rendered = pdf.render_html(html)
    assert b"TOP-SECRET" not in rendered.data
    blocked = " ".join(r.getMessage() for r in caplog.records)
    assert "secret.txt" in blocked and "evil.css" in blocked and "conftest.py" in blocked
    assert "bpmn.svg" not in blocked   # the app's own static asset is served


# ----------------------------------------------------------------------------- a signed change order

def test_a_flipped_byte_is_reported_not_intact_and_not_archived(doc_cast, api_as, app):
    document = finish_change_order(api_as)
    data = api_as("owner").get(f"/documents/{document['id']}/pdf").data
    # flip one bit inside the first page's content stream (covered by the signature)
    start = data.index(b"stream", data.index(b"/Length")) + 200
    tampered = bytearray(data)
    tampered[start] ^= 0x01
    body = verify(api_as("owner"), bytes(tampered)).json
    assert body["intact"] is False and body["valid"] is False
    assert body["matches_archive"] is False and body["document_id"] is None


def test_an_appended_revision_keeps_signatures_intact_but_not_valid(doc_cast, api_as, app):
    """The incremental-update attack of guides/pdf.md: only pyHanko's bottom line catches it."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    document = finish_change_order(api_as)
    data = api_as("owner").get(f"/documents/{document['id']}/pdf").data
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    ref = writer.add_object(generic.StreamObject(stream_data=b"q 1 1 1 rg 60 300 480 60 re f Q"))
    writer.add_stream_to_page(0, ref)
    out = io.BytesIO()
    writer.write(out)
    body = verify(api_as("owner"), out.getvalue()).json
    assert body["intact"] is True and body["valid"] is False and body["matches_archive"] is False


def test_verify_refuses_non_pdf_oversized_and_missing_uploads(doc_cast, api_as, app):
    api = api_as("contractor")
    not_pdf = verify(api, b"PK\x03\x04 a zip, not a pdf", "x.zip")
    assert not_pdf.status_code == 422 and "file" in not_pdf.json["errors"]
    missing = api.client.post("/api/v1/documents/verify", headers=api.headers, data={},
                              content_type="multipart/form-data")
    assert missing.status_code == 422
    app.config["VERIFY_MAX_BYTES"] = 1024
    try:
        big = verify(api, b"%PDF-1.7\n" + b"0" * 4096)
    finally:
        app.config["VERIFY_MAX_BYTES"] = 10 * 1024 * 1024
    assert big.status_code == 422 and "MB" in big.json["errors"]["file"][0]
    unsigned = verify(api, pdf_bytes_without_signature(app))
    assert unsigned.status_code == 200 and unsigned.json["intact"] is False and unsigned.json["signers"] == []


def pdf_bytes_without_signature(app: Any) -> bytes:
    with app.app_context():
        return pdf.render_html('<html lang="zh-CN"><body>未签名的文件</body></html>').data


# ----------------------------------------------------------------------------- a party's own certificate

def make_party_pki(folder: Path, unit_name: str, person: str) -> tuple[Path, Path, Path]:
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "测试电子签章根证书"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "测试签章中心")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, unit_name),
                                     x509.NameAttribute(NameOID.COMMON_NAME, person)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "party.key.pem", folder / "party.cert.pem", folder / "ca.pem"
    paths[0].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return paths


@pytest.fixture
def supervisor_cert(app, doc_cast, tmp_path) -> Any:
    key, cert, ca = make_party_pki(tmp_path, "恒信工程监理有限公司", "吴监理")
    result = app.test_cli_runner().invoke(args=["signing", "party-cert", "JL", "--key", str(key), "--cert", str(cert),
                                                "--chain", str(ca)])
    assert result.exit_code == 0, result.output
    assert "吴监理" in result.output
    yield
    shutil.rmtree(Path(app.config["PARTY_CERTS_DIR"]), ignore_errors=True)


def test_a_party_with_its_own_certificate_signs_in_its_box_after_the_system(supervisor_cert, api_as, app, tmp_path):
    document = finish_change_order(api_as)
    assert document["status"] == "ready"
    data = api_as("manager").get(f"/documents/{document['id']}/pdf").data
    if os.environ.get("SAVE_PDF"):
        Path(os.environ["SAVE_PDF"]).write_bytes(data)
    body = verify(api_as("manager"), data).json
    assert body["intact"] is True and body["valid"] is True and body["matches_archive"] is True
    assert [s["name"] for s in body["signers"]] == ["GovAssure 系统签章", "吴监理"]
    assert "恒信工程监理有限公司" in body["signers"][1]["subject"]
    assert all(s["bottom_line"] for s in body["signers"])
    text = pdftext(data, tmp_path)
    assert len(re.findall("系统代签", text)) == 2   # contractor and owner; the supervisor signed itself
    # the signature widget sits on the page of the parties' blocks, inside the reserved box
    from pyhanko.pdf_utils.reader import PdfFileReader
    reader = PdfFileReader(io.BytesIO(data))
    widget = next(s for s in reader.embedded_signatures if s.field_name == "sig_supervisor").sig_field
    rect = [float(v) for v in widget["/Rect"]]
    assert rect[2] - rect[0] > 100 and rect[3] - rect[1] > 40
    # the archive holds both revisions: the system-signed file and the party-signed one
    system = reader.embedded_signatures[0]
    first_revision = data[: system.byte_range[2] + system.byte_range[3]]
    earlier = verify(api_as("manager"), first_revision).json
    assert earlier["matches_archive"] is True and earlier["document_id"] == document["id"]
    assert [s["name"] for s in earlier["signers"]] == ["GovAssure 系统签章"]
