"""Pages of plain, large text for the cabin's printed documents (the prescription, the summary).

DejaVu fonts (Debian's fonts-dejavu-core: every French accent, and the symbols ▲ ▼ ✓), lines
wrapped to the page, blocks kept together on one page, a frame that follows its text across a
page break, and a footer on every page that says "page n/N". N is known only at the end, so
the writer lays the whole document out first (a list of drawing steps per page), then draws it.

Positions are in PDF points, y upwards; sizes given to the writer are for A5 and grow by
`scale` on A4, so that the A4 page is the A5 page, larger.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal

from reportlab.lib.pagesizes import A4, A5
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from printing.errors import DocumentError

FONT_DIR: Final = Path("/usr/share/fonts/truetype/dejavu")
REGULAR: Final = "DejaVuSans"
BOLD: Final = "DejaVuSans-Bold"
PageSize = Literal["A5", "A4"]
Draw = Callable[[canvas.Canvas], None]

_FONT_FILES: Final = ((REGULAR, "DejaVuSans.ttf"), (BOLD, "DejaVuSans-Bold.ttf"))
_SCALE: Final[dict[str, float]] = {"A5": 1.0, "A4": 1.25}
_LINE_GAP: Final = 1.35  # line height as a multiple of the type size
_GLUED_BEFORE: Final = frozenset({";", ":", "!", "?", "»"})
_GLUED_AFTER: Final = frozenset({"«", "n°", "N°", "no."})
_UNITS: Final = frozenset(
    {"mg", "g", "kg", "µg", "mcg", "ml", "mL", "l", "L", "UI", "%", "°C", "mmHg", "/min", "h"}
)


def register_fonts() -> None:
    """Parse the two TTF files once per process: reportlab keeps registered fonts (parsed glyph
    tables included) in its own process-wide registry, and each document embeds a subset."""
    registered = pdfmetrics.getRegisteredFontNames()
    for name, file in _FONT_FILES:
        if name in registered:
            continue
        path = FONT_DIR / file
        if not path.exists():
            raise DocumentError(f"{path} is missing: install fonts-dejavu-core")
        pdfmetrics.registerFont(TTFont(name, str(path)))


def font(bold: bool) -> str:
    return BOLD if bold else REGULAR


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    return pdfmetrics.stringWidth(text, font(bold), size)


def wrap(text: str, size: float, width: float, *, bold: bool = False) -> list[str]:
    """`text` in lines no wider than `width`: at spaces, and inside a word only when the word
    alone is wider than the line. A newline in `text` starts a new line; an empty text is one
    empty line."""
    name = font(bold)
    space = pdfmetrics.stringWidth(" ", name, size)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current, current_width = "", 0.0
        for word in _words(paragraph):
            # widths add up: reportlab measures a TTF string as the sum of its glyphs' widths
            word_width = pdfmetrics.stringWidth(word, name, size)
            if current and current_width + space + word_width <= width:
                current, current_width = f"{current} {word}", current_width + space + word_width
                continue
            if current:
                lines.append(current)
            current, current_width = word, word_width
            while current_width > width and len(current) > 1:  # a word wider than the line
                cut = len(current) - 1
                while cut > 1 and pdfmetrics.stringWidth(current[:cut], name, size) > width:
                    cut -= 1
                lines.append(current[:cut])
                current = current[cut:]
                current_width = pdfmetrics.stringWidth(current, name, size)
        lines.append(current)
    return lines


def _words(paragraph: str) -> list[str]:
    """The paragraph's words, with what must not start a line kept with the word before:
    French punctuation ("diarrhée ;", "« oui »": French sets a space before ; : ! ? »), a
    unit after its number ("62,5 mg", "37,8 °C"), and a number after its sign ("n° RX-...")."""
    words: list[str] = []
    glue_next = False
    for word in paragraph.split():
        after_number = bool(words) and words[-1][-1].isdigit()
        if words and (
            glue_next or word in _GLUED_BEFORE or (after_number and word.rstrip(",.;)") in _UNITS)
        ):
            words[-1] = f"{words[-1]} {word}"
        else:
            words.append(word)
        glue_next = word in _GLUED_AFTER
    return words


class PageWriter:
    """Lays text out top-down on pages of one size, then draws them all with their footer."""

    def __init__(
        self,
        size: PageSize,
        *,
        footer: Callable[[int, int], str],
        on_new_page: Callable[[PageWriter], None] | None = None,
    ) -> None:
        register_fonts()
        self.pagesize = A5 if size == "A5" else A4
        self.width, self.height = self.pagesize
        self.scale = _SCALE[size]
        self.margin = 12 * mm * self.scale
        self.left = self.margin
        self.right = self.width - self.margin
        self.content_width = self.right - self.left
        self.top = self.height - self.margin
        self.bottom = self.margin + 9 * mm * self.scale  # the footer lives below
        self._footer = footer
        self._on_new_page = on_new_page
        self.pages: list[list[Draw]] = [[]]
        self.y = self.top
        self._page_start = self.top  # below a continuation page's header

    # --- measuring -------------------------------------------------------------------------
    def pt(self, size: float) -> float:
        """An A5 size in points on this page."""
        return size * self.scale

    def line_height(self, size: float, gap: float = _LINE_GAP) -> float:
        return size * self.scale * gap

    def lines(self, text: str, size: float, *, bold: bool = False, indent: float = 0) -> list[str]:
        return wrap(text, size * self.scale, self.content_width - indent, bold=bold)

    def height_of(
        self,
        text: str,
        size: float,
        *,
        bold: bool = False,
        indent: float = 0,
        gap: float = _LINE_GAP,
    ) -> float:
        return len(self.lines(text, size, bold=bold, indent=indent)) * self.line_height(size, gap)

    @property
    def at_page_start(self) -> bool:
        """Nothing is laid out yet on this page but its continuation header."""
        return self.y >= self._page_start

    @property
    def room(self) -> float:
        """What is left of this page, in points."""
        return self.y - self.bottom

    # --- laying out -------------------------------------------------------------------------
    def need(self, height: float) -> None:
        """A new page unless `height` points fit on this one (a block kept together)."""
        if height > self.room and not self.at_page_start:
            self.new_page()

    def new_page(self) -> None:
        self.pages.append([])
        self.y = self.top
        if self._on_new_page is not None:
            self._on_new_page(self)
        self._page_start = self.y

    def draw(self, step: Draw) -> None:
        """A drawing step on the current page."""
        self.pages[-1].append(step)

    def put(
        self,
        x: float,
        baseline: float,
        text: str,
        size: float,
        *,
        bold: bool = False,
        align: Literal["left", "right", "center"] = "left",
    ) -> None:
        """One line of text at a given place; `size` in A5 points."""
        name, points = font(bold), size * self.scale
        if align == "right":
            x -= pdfmetrics.stringWidth(text, name, points)
        elif align == "center":
            x -= pdfmetrics.stringWidth(text, name, points) / 2

        def step(page: canvas.Canvas) -> None:
            page.setFont(name, points)
            page.drawString(x, baseline, text)

        self.draw(step)

    def text(
        self,
        text: str,
        size: float,
        *,
        bold: bool = False,
        indent: float = 0,
        hang: float = 0,
        gap: float = _LINE_GAP,
    ) -> None:
        """A paragraph, wrapped (lines after the first indented by `hang` more); it goes on to
        the next page where this one is full."""
        height = self.line_height(size, gap)
        for number, line in enumerate(self.lines(text, size, bold=bold, indent=indent + hang)):
            if height > self.room:
                self.new_page()
            x = self.left + indent + (hang if number else 0)
            self.put(x, self.y - size * self.scale, line, size, bold=bold)
            self.y -= height

    def space(self, points: float) -> None:
        self.y -= points * self.scale

    def rule(self, width: float = 0.6) -> None:
        y, left, right = self.y, self.left, self.right

        def step(page: canvas.Canvas) -> None:
            page.setLineWidth(width)
            page.line(left, y, right, y)

        self.draw(step)
        self.space(6)

    def rect(
        self, x: float, y: float, width: float, height: float, *, line: float = 0.8, grey: float = 1
    ) -> None:
        """A frame (and, when `grey` < 1, a grey fill under what is drawn after it)."""

        def step(page: canvas.Canvas) -> None:
            page.setLineWidth(line)
            if grey < 1:
                page.setFillGray(grey)
                page.rect(x, y, width, height, stroke=line > 0, fill=1)
                page.setFillGray(0)
            else:
                page.rect(x, y, width, height, stroke=1, fill=0)

        self.draw(step)

    def framed(
        self, paragraphs: list[tuple[str, float, bool]], *, padding: float = 8, line: float = 1.2
    ) -> None:
        """Paragraphs (text, size, bold) in a frame the width of the page. A frame that does
        not fit on the rest of the page starts on the next one if it fits there whole;
        otherwise it breaks with the page: closed at the foot of one, opened again at the top
        of the next."""
        pad = padding * self.scale
        laid = self._frame_lines(paragraphs, pad)
        total = sum(self.line_height(size) for _, size, _ in laid) + 2 * pad
        if total <= self.page_height:
            self.need(total)
        opened = self.y
        self.y -= pad
        for line_text, size, bold in laid:
            height = self.line_height(size)
            if height > self.room:
                self.rect(self.left, self.y, self.content_width, opened - self.y, line=line)
                self.new_page()
                opened = self.y
                self.y -= pad
            self.put(self.left + pad, self.y - size * self.scale, line_text, size, bold=bold)
            self.y -= height
        self.y -= pad
        self.rect(self.left, self.y, self.content_width, opened - self.y, line=line)

    def framed_height(
        self, paragraphs: list[tuple[str, float, bool]], *, padding: float = 8
    ) -> float:
        """The height `framed` takes when the frame is not broken by a page."""
        pad = padding * self.scale
        laid = self._frame_lines(paragraphs, pad)
        return sum(self.line_height(size) for _, size, _ in laid) + 2 * pad

    @property
    def page_height(self) -> float:
        """The room of a fresh page (below a continuation header if there is one)."""
        return (self._page_start if len(self.pages) > 1 else self.top) - self.bottom

    def _frame_lines(
        self, paragraphs: list[tuple[str, float, bool]], pad: float
    ) -> list[tuple[str, float, bool]]:
        inner = self.content_width - 2 * pad
        return [
            (line_text, size, bold)
            for text, size, bold in paragraphs
            for line_text in wrap(text, size * self.scale, inner, bold=bold)
        ]

    # --- drawing ----------------------------------------------------------------------------
    def render(self, *, title: str, author: str) -> bytes:
        """The PDF: every page's steps, then its footer."""
        out = io.BytesIO()
        page = canvas.Canvas(out, pagesize=self.pagesize, pageCompression=1)
        page.setTitle(title)
        page.setAuthor(author)
        count = len(self.pages)
        size = 9 * self.scale
        for number, steps in enumerate(self.pages, start=1):
            for step in steps:
                step(page)
            page.setFont(REGULAR, size)
            page.drawRightString(self.right, self.margin, self._footer(number, count))
            page.showPage()
        page.save()
        return out.getvalue()
