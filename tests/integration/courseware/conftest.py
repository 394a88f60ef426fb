"""The REST suite's `world` (seeded demo world on SQLite and PostgreSQL) and courseware files."""

from __future__ import annotations

import io

from tests.integration.api.conftest import (  # noqa: F401  (fixtures)
    api_pg_url,
    backend,
    pg_seeded,
    sqlite_template,
    world,
)
from tests.integration.signaling.conftest import live_server  # noqa: F401  (fixture)


def pdf_bytes(
    pages: int = 3, size: tuple[float, float] = (842, 595), draw: bool = True
) -> bytes:
    """A real PDF made by PDFium: `pages` pages, each with a filled rectangle when `draw`."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    pdf = pdfium.PdfDocument.new()
    for i in range(pages):
        page = pdf.new_page(*size)
        if not draw:
            page.close()
            continue
        rect = raw.FPDFPageObj_CreateNewRect(40 + 10 * i, 40, 200, 120)
        raw.FPDFPageObj_SetFillColor(rect, 200, 30, 30, 255)
        raw.FPDFPath_SetDrawMode(rect, raw.FPDF_FILLMODE_ALTERNATE, False)
        raw.FPDFPage_InsertObject(page.raw, rect)
        raw.FPDFPage_GenerateContent(page.raw)
        page.close()
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def handmade_pdf(page_dict_extra: bytes = b"", media_box: bytes = b"[0 0 612 792]") -> bytes:
    """A minimal one-page PDF written by hand (for bombs PDFium's writer would not make)."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox " + media_box + b" " + page_dict_extra + b" >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return out


def image_bytes(fmt: str, size: tuple[int, int] = (800, 600), exif: bool = True) -> bytes:
    """A PNG or JPEG with metadata that must not survive (EXIF camera model, a PNG text chunk)."""
    from PIL import Image, PngImagePlugin

    image = Image.new("RGB", size, (20, 120, 200))
    out = io.BytesIO()
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Author", "secret-author")
        image.save(out, "PNG", pnginfo=info)
    else:
        ex = Image.Exif()
        ex[0x0110] = "SecretCam 3000"  # Model
        ex[0x0112] = 6  # Orientation: rotate 90° CW to display
        image.save(out, "JPEG", exif=ex.tobytes() if exif else b"")
    return out.getvalue()
