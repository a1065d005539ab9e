"""Signed PDF documents: render ``reports/<name>/`` templates with WeasyPrint, sign with pyHanko, verify.

The traps measured in ``guides/pdf.md`` shape this module:

* one ``FontConfiguration`` per worker thread (a fresh one per render leaks ~20 MB CJK font blobs
  into reference cycles; WeasyPrint promises no thread safety, so threads do not share one);
* ``lang="zh-CN"`` and a CJK font stack naming the official fonts first and Noto CJK last, and a
  render that *fails* when any glyph falls back to ``.notdef`` (tofu is silent otherwise; text
  extraction does not notice it);
* a URL fetcher that serves only the app's own static and report assets: the default one reads
  ``file:///etc/passwd`` and any URL on the network;
* the document is rendered once and frozen; signatures are incremental updates, and acceptance
  is pyHanko's ``bottom_line`` (an appended revision that paints over the text keeps every
  signature "intact" and "valid").
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import jinja2
import markupsafe

from app.config import PROJECT_ROOT

log = logging.getLogger(__name__)

# Official fonts first (a site that installed the licensed GB/T 9704 fonts gets them), then the free
# fonts Debian ships: Noto Serif CJK SC (宋 style) and Noto Sans CJK SC (黑 style), always installed.
FONTS = {
    "title": '"方正小标宋简体", "方正小标宋_GBK", "FZXiaoBiaoSong-B05S", "Noto Serif CJK SC", serif',
    "body": '"仿宋_GB2312", "FangSong_GB2312", "仿宋", "FangSong", "Noto Serif CJK SC", "Source Han Serif SC", serif',
    "heading": '"黑体", "SimHei", "Noto Sans CJK SC", "Source Han Sans SC", sans-serif',
    "kai": '"楷体_GB2312", "KaiTi_GB2312", "楷体", "KaiTi", "AR PL UKai CN", "Noto Serif CJK SC", serif',
    "sans": '"Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "Microsoft YaHei", sans-serif',
}
PROBE_TEXT = "工程变更单会议纪要各方会签意见第页共验证码建设监理施工单位"
PX_TO_PT = 0.75   # CSS px (1/96 in) → PDF pt (1/72 in)
STATIC_DIR = PROJECT_ROOT / "app" / "static"


class FontMissing(RuntimeError):
    """No CJK font, or a glyph no installed font has: the document would show tofu boxes."""


class RenderError(RuntimeError):
    """A template could not be rendered into a PDF."""


# ----------------------------------------------------------------------------- fonts and fetching

_local = threading.local()


def font_config() -> Any:
    """This thread's FontConfiguration, made once and reused for every render."""
    from weasyprint.text.fonts import FontConfiguration
    fc = getattr(_local, "font_config", None)
    if fc is None:
        fc = _local.font_config = FontConfiguration()
    return fc


def _url_fetcher(allowed: tuple[Path, ...]) -> Any:
    """A fetcher that serves ``data:`` URIs and files inside ``allowed`` folders, and nothing else."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    roots = tuple(p.resolve() for p in allowed)

    class AssetFetcher(URLFetcher):
        def __init__(self) -> None:
            super().__init__(allowed_protocols={"data", "file"}, allow_redirects=False, timeout=3)
            self.blocked: list[str] = []

        def fetch(self, url: str, headers: Any = None) -> Any:
            scheme = url.split(":", 1)[0].lower()
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme == "file":
                path = Path(url2pathname(urlsplit(url).path)).resolve()   # resolves ../ and symlinks
                if any(path.is_relative_to(root) for root in roots) and path.is_file():
                    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                    return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": ctype})
            self.blocked.append(url)
            raise ValueError(f"blocked URL: {url}")   # WeasyPrint logs it and leaves the resource out

    return AssetFetcher()


class _GlyphWatch(logging.Handler):
    """Collects WeasyPrint's ``.notdef glyph`` warnings of this thread (emitted while writing the PDF)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.missing: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread and ".notdef glyph" in record.getMessage():
            self.missing.append(record.getMessage())


# ----------------------------------------------------------------------------- rendering

@dataclass
class Rendered:
    data: bytes
    pages: int
    boxes: dict[str, tuple[int, tuple[float, float, float, float]]] = field(default_factory=dict)
    fonts: list[str] = field(default_factory=list)


def reports_dir() -> Path:
    try:
        from flask import current_app
        return Path(current_app.config["REPORTS_DIR"])
    except RuntimeError:   # outside an app (benchmarks, the font probe)
        return PROJECT_ROOT / "reports"


def _environment(directory: Path) -> jinja2.Environment:
    env = getattr(_local, "jinja", None)
    if env is None or env.loader.searchpath != [str(directory)]:
        # Case text in the HTML is escaped; the stylesheet is ours (no case text) and must keep its quotes.
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(directory)),
                                 autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined)
        _local.jinja = env
    return env


def html_for(name: str, context: dict[str, Any]) -> str:
    """The HTML of ``reports/<name>/template.html`` (its ``style.css`` inlined), case text escaped."""
    env = _environment(reports_dir())
    style = ""
    if (reports_dir() / name / "style.css").exists():
        style = env.get_template(f"{name}/style.css").render(fonts=FONTS)
    return env.get_template(f"{name}/template.html").render(style=markupsafe.Markup(style), **context)  # noqa: S704  (our CSS, no case text)


def render_html(html: str, box_ids: tuple[str, ...] = ()) -> Rendered:
    """HTML → PDF bytes with the shared font configuration and the locked-down fetcher.

    ``box_ids`` name elements whose rectangles (page index, PDF points from the bottom left) are
    returned, for signature fields placed exactly in the boxes the template reserved.
    """
    from weasyprint import HTML

    watch = _GlyphWatch()
    wlog = logging.getLogger("weasyprint")
    wlog.addHandler(watch)
    try:
        doc = HTML(string=html, base_url=str(reports_dir()) + "/",
                   url_fetcher=_url_fetcher((reports_dir(), STATIC_DIR))).render(font_config=font_config())
        data = doc.write_pdf()
    finally:
        wlog.removeHandler(watch)
    if watch.missing:
        raise FontMissing(f"{len(watch.missing)} 个字符没有可用字体（会显示为方框），例如：{watch.missing[0]}")
    boxes = {}
    for index, page in enumerate(doc.pages):
        for box_id in box_ids:
            if box_id in page.anchors:
                x1, y1, x2, y2 = page.anchors[box_id]
                boxes[box_id] = (index, (round(x1 * PX_TO_PT, 2), round((page.height - y2) * PX_TO_PT, 2),
                                         round(x2 * PX_TO_PT, 2), round((page.height - y1) * PX_TO_PT, 2)))
    fonts = sorted({f.family for f in doc.fonts.values()}) if hasattr(doc, "fonts") else []
    return Rendered(data=data, pages=len(doc.pages), boxes=boxes, fonts=fonts)


def render(name: str, context: dict[str, Any], box_ids: tuple[str, ...] = ()) -> Rendered:
    return render_html(html_for(name, context), box_ids)


def check_cjk_font() -> list[str]:
    """Render a probe through the production path; raise FontMissing unless a CJK font covers it.

    ``fc-match`` alone proves nothing (it always answers with *some* font), so the probe renders.
    """
    html = (f'<html lang="zh-CN"><style>body{{font-family:{FONTS["sans"]}}} p{{font-family:{FONTS["body"]}}}'
            f'</style><body>{PROBE_TEXT}<p>{PROBE_TEXT}</p></body></html>')
    try:
        rendered = render_html(html)
    except FontMissing:
        raise FontMissing(
            "找不到中文字体：PDF 中的汉字会显示为方框。请安装 fonts-noto-cjk（Debian: apt-get install "
            "fonts-noto-cjk fontconfig），或运行 tools/system-packages.sh。"
            " No CJK font found: install fonts-noto-cjk.") from None
    return rendered.fonts


# ----------------------------------------------------------------------------- signing

def _outside_event_loop(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """pyHanko's synchronous API runs ``asyncio.run``, which fails inside a running event loop (an
    async server, or a test driving a browser): then it runs on a short-lived thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args, **kwargs)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


@dataclass(frozen=True)
class SigningIdentity:
    """A key and certificate on disk (the system's in instance/signing, or a party's)."""

    key_path: Path
    cert_path: Path
    chain_paths: tuple[Path, ...] = ()

    def signer(self) -> Any:
        from pyhanko.sign import signers
        loaded = signers.SimpleSigner.load(  # type: ignore[no-untyped-call]
            key_file=str(self.key_path), cert_file=str(self.cert_path),
            ca_chain_files=tuple(str(p) for p in self.chain_paths))
        if loaded is None:
            raise ValueError(f"{self.key_path} / {self.cert_path}: key or certificate could not be read")
        return _parsed_key_signer(loaded)

    def subject(self) -> str:
        from pyhanko.keys import load_cert_from_pemder
        return str(load_cert_from_pemder(str(self.cert_path)).subject.human_friendly)  # type: ignore[no-untyped-call]

    def serial(self) -> str:
        from pyhanko.keys import load_cert_from_pemder
        return format(load_cert_from_pemder(str(self.cert_path)).serial_number, "x")  # type: ignore[no-untyped-call]


def _parsed_key_signer(loaded: Any) -> Any:
    """pyHanko's SimpleSigner parses the private key again for every raw signature, twice per
    document (a dry run sizes the signature first): 0.24 s each for an RSA-3072 key, more than the
    rest of signing. This signer parses it once and signs RSA PKCS#1 v1.5 / ECDSA with that object."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, EllipticCurvePrivateKey
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from pyhanko.sign.signers import SimpleSigner
    from pyhanko_certvalidator.util import get_pyca_cryptography_hash

    class ParsedKeySigner(SimpleSigner):
        key = serialization.load_der_private_key(loaded.signing_key.dump(), password=None)

        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
            hash_algo = get_pyca_cryptography_hash(digest_algorithm)
            if mechanism == "rsassa_pkcs1v15" and isinstance(self.key, RSAPrivateKey):
                return self.key.sign(data, PKCS1v15(), hash_algo)
            if mechanism == "ecdsa" and isinstance(self.key, EllipticCurvePrivateKey):
                return self.key.sign(data, ECDSA(hash_algo))
            return bytes(super().sign_raw(data, digest_algorithm))

    return ParsedKeySigner(signing_cert=loaded.signing_cert, signing_key=loaded.signing_key,
                           cert_registry=loaded.cert_registry, signature_mechanism=loaded.signature_mechanism)


_signers: dict[tuple[str, float], Any] = {}
_signers_lock = threading.Lock()


def _cached_signer(identity: SigningIdentity) -> Any:
    """Parsing the key costs more than signing; keep one signer per key file version."""
    key = (str(identity.key_path), identity.key_path.stat().st_mtime)
    with _signers_lock:
        if key not in _signers:
            _signers[key] = identity.signer()
        return _signers[key]


def sign_system(data: bytes, identity: SigningIdentity, *, name: str, reason: str, location: str,
                empty_fields: dict[str, tuple[int, tuple[float, float, float, float]]] | None = None) -> bytes:
    """The system's certifying PAdES signature (invisible).

    Empty signature fields for the parties who sign with their own certificates are added in the
    same revision, so their later signatures only fill fields (DocMDP ``FILL_FORMS`` allows that).
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    writer = IncrementalPdfFileWriter(BytesIO(data))
    for field_name, (page, box) in (empty_fields or {}).items():
        # pyHanko types the box as ints but writes any number; points keep the field inside the drawn box
        spec = fields.SigFieldSpec(sig_field_name=field_name, on_page=page, box=box)  # type: ignore[arg-type]
        fields.append_signature_field(writer, spec)
    meta = signers.PdfSignatureMetadata(
        field_name="GovAssure", subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256",
        reason=reason, location=location, name=name, certify=True,
        docmdp_permissions=fields.MDPPerm.FILL_FORMS)
    out = BytesIO()
    _outside_event_loop(signers.PdfSigner(meta, signer=_cached_signer(identity)).sign_pdf, writer, output=out)
    return out.getvalue()


def stamp_font() -> Path:
    """A single-face OTF of Noto Sans CJK SC for visible signature stamps (pyHanko cannot read a
    .ttc), extracted once into the instance folder."""
    from flask import current_app
    from fontTools.ttLib import TTCollection

    target = Path(current_app.instance_path) / "fonts" / "NotoSansCJKsc-Regular.otf"
    if target.exists():
        return target
    found = subprocess.run(["fc-match", "--format=%{file}", "Noto Sans CJK SC:style=Regular"],  # noqa: S607
                           capture_output=True, text=True, check=False).stdout.strip()
    if not found.endswith(".ttc"):
        raise FontMissing("找不到 Noto Sans CJK SC 字体文件（fonts-noto-cjk），不能生成签章外观")
    for face in TTCollection(found).fonts:
        if face["name"].getDebugName(1) == "Noto Sans CJK SC":
            target.parent.mkdir(parents=True, exist_ok=True)
            face.save(str(target))
            return target
    raise FontMissing(f"{found} 中没有 Noto Sans CJK SC")


def _stampable(text: str, font: Path) -> str:
    """pyHanko fails on a character its stamp font lacks (rare name characters, emoji): show '?' there.
    The exact text is still in the signature dictionary and the printed block."""
    from fontTools.ttLib import TTFont
    cmap = getattr(_local, "stamp_cmap", None)
    if cmap is None:
        cmap = _local.stamp_cmap = TTFont(str(font), lazy=True).getBestCmap()
    return "".join(c if ord(c) in cmap or c == "\n" else "?" for c in text)


def sign_party(data: bytes, identity: SigningIdentity, *, field_name: str, signer_name: str, unit: str,
               opinion: str, location: str, signed_at: str) -> bytes:
    """A party's own PAdES signature in its reserved box, as an incremental update."""
    from pyhanko import stamp
    from pyhanko.pdf_utils import text
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    font = stamp_font()
    style = stamp.TextStampStyle(
        # the time is given in Beijing time (pyHanko's own %(ts)s uses the host's zone, UTC in containers)
        stamp_text=_stampable("签署人：%(signer)s\n单位：%(unit)s\n意见：%(opinion)s\n时间：%(at)s", font),
        text_box_style=text.TextBoxStyle(font=GlyphAccumulatorFactory(str(font), font_size=8), leading=11),
        border_width=0)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256",
        reason=opinion, location=location, name=signer_name)
    out = BytesIO()
    _outside_event_loop(
        signers.PdfSigner(meta, signer=_cached_signer(identity), stamp_style=style).sign_pdf,
        IncrementalPdfFileWriter(BytesIO(data)), output=out,
        appearance_text_params={"unit": _stampable(unit, font), "opinion": _stampable(opinion[:40], font),
                                "signer": _stampable(signer_name, font), "at": signed_at})
    return out.getvalue()


# ----------------------------------------------------------------------------- verifying

@dataclass
class SignatureCheck:
    field: str
    signer: str
    name: str | None
    intact: bool
    valid: bool
    trusted: bool
    bottom_line: bool
    signed_at: datetime | None
    summary: str


@dataclass
class Verification:
    sha256: str
    signatures: list[SignatureCheck]
    error: str | None = None

    @property
    def intact(self) -> bool:
        return bool(self.signatures) and self.error is None and all(s.intact for s in self.signatures)

    @property
    def valid(self) -> bool:
        """pyHanko's overall verdict for every signature (trust and modification analysis included)."""
        return bool(self.signatures) and self.error is None and all(s.bottom_line for s in self.signatures)


class NotAPdf(ValueError):
    """The upload is not a PDF file."""


def verify(data: bytes, trust_roots: list[Path]) -> Verification:
    """Validate every signature of ``data`` offline against ``trust_roots``."""
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    digest = hashlib.sha256(data).hexdigest()
    if not data.lstrip()[:5] == b"%PDF-":
        raise NotAPdf("不是 PDF 文件")
    roots = [load_cert_from_pemder(str(p)) for p in trust_roots if p.exists()]  # type: ignore[no-untyped-call]
    context = ValidationContext(trust_roots=roots, allow_fetching=False)
    checks: list[SignatureCheck] = []
    try:
        reader = PdfFileReader(BytesIO(data), strict=False)
        embedded = list(reader.embedded_signatures)
    except (PdfError, ValueError, KeyError, IndexError, TypeError) as exc:
        return Verification(digest, [], error=f"PDF 结构已损坏：{exc}")
    for emb in embedded:
        try:
            status = _outside_event_loop(validate_pdf_signature, emb, signer_validation_context=context)
        except Exception as exc:  # noqa: BLE001  (any failure of a damaged signature is "not intact")
            checks.append(SignatureCheck(emb.field_name, "?", None, False, False, False, False, None,
                                         f"INVALID ({type(exc).__name__})"))
            continue
        name = emb.sig_object.get("/Name")
        checks.append(SignatureCheck(
            field=emb.field_name, signer=str(status.signing_cert.subject.human_friendly),
            name=str(name) if name is not None else None, intact=bool(status.intact), valid=bool(status.valid),
            trusted=bool(status.trusted), bottom_line=bool(status.bottom_line),
            signed_at=status.signer_reported_dt, summary=str(status.summary())))
    return Verification(digest, checks)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
