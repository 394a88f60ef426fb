"""The child process that turns one upload into page images: `python -m server.courseware.render`.

Why a separate process: PDFium is C++ parsing untrusted input. A PDF bomb
(thousands of pages, a 200000 pt page, deeply nested objects) or a corrupt
file may make it spin, allocate gigabytes or crash; in a child with a memory
and CPU limit, killed after a timeout by `runner`, none of that reaches the
server. The child reads one JSON job from argv and prints one JSON line:
`{"pages": [{"width", "height"}, ...]}` or `{"error": reason, "message": ...}`.
It writes `<n>.jpg` (1-based) into the job's output directory.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# PDF 1.7 (ISO 32000-1, Annex C.2): pages are at most 14400 units on a side.
MAX_PAGE_PT = 14_400.0


@dataclass(frozen=True)
class Job:
    source: str
    kind: str  # pdf | png | jpeg
    out_dir: str
    max_pages: int
    max_px: int  # longest side of a rendered page
    max_image_pixels: int
    jpeg_quality: int = 85


class Refused(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _save(image: Any, path: Path, quality: int) -> dict[str, int]:
    """Write RGB JPEG without any metadata (a fresh image carries no EXIF/XMP/ICC)."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    elif image.mode != "RGB":
        image = image.convert("RGB")
    image.save(path, "JPEG", quality=quality, optimize=True)
    return {"width": image.width, "height": image.height}


def render_pdf(job: Job) -> list[dict[str, int]]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(job.source)
    except pdfium.PdfiumError as exc:
        raise Refused("corrupt", f"not a readable PDF: {exc}") from None
    count = len(pdf)
    if count == 0:
        raise Refused("empty", "the PDF has no pages")
    if count > job.max_pages:
        raise Refused("too_many_pages", f"{count} pages; at most {job.max_pages} are accepted")
    sizes = []
    for i in range(count):  # sizes first: refuse a bomb before rendering anything
        page = pdf[i]
        width, height = page.get_size()
        page.close()
        if not (0 < width <= MAX_PAGE_PT and 0 < height <= MAX_PAGE_PT):
            raise Refused(
                "page_too_large",
                f"page {i + 1} is {width:.0f}×{height:.0f} pt; at most {MAX_PAGE_PT:.0f} pt a side",
            )
        sizes.append((width, height))
    pages = []
    out = Path(job.out_dir)
    for i, (width, height) in enumerate(sizes):
        page = pdf[i]
        scale = job.max_px / max(width, height)
        bitmap = page.render(scale=scale, fill_color=(255, 255, 255, 255))
        pages.append(_save(bitmap.to_pil(), out / f"{i + 1}.jpg", job.jpeg_quality))
        bitmap.close()
        page.close()
    pdf.close()
    return pages


def render_image(job: Job) -> list[dict[str, int]]:
    from PIL import Image, ImageOps, UnidentifiedImageError

    # Pillow refuses (DecompressionBombError) above twice this; we refuse above it.
    Image.MAX_IMAGE_PIXELS = job.max_image_pixels
    formats = ["PNG"] if job.kind == "png" else ["JPEG"]
    try:
        with Image.open(job.source, formats=formats) as image:
            if image.width * image.height > job.max_image_pixels:
                raise Refused(
                    "image_too_large",
                    f"{image.width}×{image.height} pixels; at most {job.max_image_pixels} pixels",
                )
            if job.kind == "jpeg":
                image.draft("RGB", (job.max_px, job.max_px))
            image.load()
            upright = ImageOps.exif_transpose(image)  # keep the orientation, drop the EXIF
            upright.thumbnail((job.max_px, job.max_px))
            return [_save(upright, Path(job.out_dir) / "1.jpg", job.jpeg_quality)]
    except Refused:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise Refused("corrupt", f"not a readable {job.kind.upper()} image: {exc}") from None
    except Image.DecompressionBombError as exc:
        raise Refused("image_too_large", str(exc)) from None


def run(job: Job) -> dict[str, Any]:
    try:
        pages = render_pdf(job) if job.kind == "pdf" else render_image(job)
    except Refused as exc:
        return {"error": exc.reason, "message": exc.message}
    except MemoryError:
        # RLIMIT_AS (runner) stopped an allocation: a page that needs too much memory.
        return {"error": "memory_limit", "message": "rendering needs more memory than allowed"}
    return {"pages": pages}


def main(argv: list[str]) -> int:
    job = Job(**json.loads(argv[1]))
    result = run(job)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))


__all__ = ["MAX_PAGE_PT", "Job", "Refused", "asdict", "run"]
