"""The pictures of how to put each instrument on: drawn, in the theme's colours, at any size,
different for each instrument, moving gently while shown and still when hidden.

Each still picture is saved into the screens folder (``illustration-<kind>-<theme>.png``) to be
looked at.
"""

from __future__ import annotations

from array import array
from pathlib import Path

import pytest
from PySide6.QtCore import QSize, QTimer
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from devices.reading import ReadingKind
from ui.illustrations import OUTLINE, InstrumentPicture
from ui.theme import CALM, HIGH_CONTRAST, THEMES, Theme

SIZES = (QSize(480, 300), QSize(960, 600))


def pixels(image: QImage) -> array[int]:
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    assert image.bytesPerLine() == image.width() * 4
    return array("I", bytes(image.constBits()))


def share(image: QImage, colour: str) -> float:
    """The part of the picture painted exactly in this colour."""
    found = pixels(image)
    return found.count(QColor(colour).rgb() & 0xFFFFFFFF) / len(found)


def difference(first: QImage, second: QImage) -> float:
    """The part of the pixels that differ between two pictures of the same size."""
    a, b = pixels(first), pixels(second)
    assert len(a) == len(b)
    return sum(1 for x, y in zip(a, b, strict=True) if x != y) / len(a)


def picture(qtbot: QtBot, kind: ReadingKind, theme: Theme, **options: bool) -> InstrumentPicture:
    widget = InstrumentPicture(kind, theme, **options)
    qtbot.addWidget(widget)
    return widget


def grab(widget: InstrumentPicture, size: QSize) -> QImage:
    widget.resize(size)
    image = widget.grab().toImage()
    assert image.size() == size
    return image


@pytest.mark.parametrize("theme", THEMES, ids=lambda t: t.name)
@pytest.mark.parametrize("kind", list(ReadingKind), ids=lambda k: k.value)
def test_the_picture_is_drawn_in_the_themes_colours_at_any_size(
    qtbot: QtBot, kind: ReadingKind, theme: Theme, screens_dir: Path
) -> None:
    widget = picture(qtbot, kind, theme, animated=False)
    shares = {}
    for size in SIZES:
        image = grab(widget, size)
        shares[size.width()] = (
            share(image, theme.text),
            share(image, theme.primary),
            share(image, theme.page),
        )
        outline, instrument, page = shares[size.width()]
        assert outline >= 0.05, f"outlines: {outline:.1%} of the picture at {size}"
        assert instrument >= 0.025, f"instrument: {instrument:.1%} of the picture at {size}"
        assert 0.5 <= page <= 0.9, f"background: {page:.1%} of the picture at {size}"
        if size == SIZES[0]:
            assert image.save(str(screens_dir / f"illustration-{kind.value}-{theme.name}.png"))
    for small, large in zip(shares[480], shares[960], strict=True):  # the same picture, scaled
        assert abs(small - large) < 0.02


def test_the_outlines_are_thick_at_the_default_size(qtbot: QtBot) -> None:
    assert OUTLINE >= 6
    widget = picture(qtbot, ReadingKind.PULSE_OXIMETRY, CALM, animated=False)
    assert widget.sizeHint() == QSize(480, 300)
    image = grab(widget, widget.sizeHint())
    # down the middle of the clip: its top outline, then its bottom one, each >= 6 px of ink
    ink = QColor(CALM.text)
    column = [
        max(abs(c.red() - ink.red()), abs(c.green() - ink.green()), abs(c.blue() - ink.blue())) < 40
        for c in (QColor(image.pixel(380, y)) for y in range(60, 200))
    ]
    runs, run = [], 0
    for dark in [*column, False]:
        if dark:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    assert sum(1 for r in runs if r >= 6) >= 2, runs


@pytest.mark.parametrize("theme", THEMES, ids=lambda t: t.name)
def test_each_instrument_has_its_own_picture(qtbot: QtBot, theme: Theme) -> None:
    images = {
        kind: grab(picture(qtbot, kind, theme, animated=False), SIZES[0]) for kind in ReadingKind
    }
    kinds = list(ReadingKind)
    for index, first in enumerate(kinds):
        for second in kinds[index + 1 :]:
            assert difference(images[first], images[second]) > 0.1, (first, second)


@pytest.mark.parametrize("theme", THEMES, ids=lambda t: t.name)
@pytest.mark.parametrize("kind", list(ReadingKind), ids=lambda k: k.value)
def test_the_picture_moves_while_shown_and_stops_when_hidden(
    qtbot: QtBot, kind: ReadingKind, theme: Theme
) -> None:
    widget = picture(qtbot, kind, theme)
    widget.resize(SIZES[0])
    widget.show()
    qtbot.waitExposed(widget)
    assert widget.is_animating()
    timers = widget.findChildren(QTimer)
    assert timers and all(t.interval() >= 33 for t in timers if t.isActive())  # <= ~30 fps
    before = widget.grab().toImage()
    qtbot.wait(200)
    after = widget.grab().toImage()
    assert difference(before, after) > 0.0005

    widget.hide()
    assert not widget.is_animating()
    assert not any(t.isActive() for t in widget.findChildren(QTimer))
    widget.show()
    assert widget.is_animating()


def test_the_picture_stops_when_its_page_is_hidden(qtbot: QtBot) -> None:
    page = QWidget()
    qtbot.addWidget(page)
    widget = InstrumentPicture(ReadingKind.PULSE_OXIMETRY, CALM)
    QVBoxLayout(page).addWidget(widget)
    page.show()
    qtbot.waitExposed(page)
    assert widget.is_animating()
    page.hide()
    assert not widget.is_animating()


def test_a_still_picture_does_not_move(qtbot: QtBot) -> None:
    widget = picture(qtbot, ReadingKind.BLOOD_PRESSURE, CALM, animated=False)
    widget.show()
    qtbot.waitExposed(widget)
    assert not widget.is_animating()
    before = widget.grab().toImage()
    qtbot.wait(100)
    assert difference(before, widget.grab().toImage()) == 0


def test_a_new_theme_repaints_the_picture(qtbot: QtBot) -> None:
    widget = picture(qtbot, ReadingKind.TEMPERATURE, CALM, animated=False)
    calm = grab(widget, SIZES[0])
    widget.set_theme(HIGH_CONTRAST)
    assert widget.theme is HIGH_CONTRAST
    contrast = grab(widget, SIZES[0])
    assert difference(calm, contrast) > 0.5
    assert share(contrast, HIGH_CONTRAST.primary) > 0.02
    assert share(contrast, CALM.primary) == 0


def test_the_picture_keeps_its_shape_in_a_layout(qtbot: QtBot) -> None:
    widget = picture(qtbot, ReadingKind.PULSE_OXIMETRY, CALM)
    assert widget.hasHeightForWidth()
    assert widget.heightForWidth(960) == 600
    assert widget.sizeHint() == QSize(480, 300)


def test_each_picture_is_described_for_a_screen_reader(qtbot: QtBot) -> None:
    names = {picture(qtbot, kind, CALM).accessibleName() for kind in ReadingKind}
    assert len(names) == len(ReadingKind)
    assert all(len(name) > 20 for name in names)
    cuff = picture(qtbot, ReadingKind.BLOOD_PRESSURE, CALM).accessibleName()
    assert "two fingers above the elbow" in cuff
