"""Pictures that show how to put each instrument on, drawn with QPainter: no image files.

One pictogram per kind of instrument, for an elderly person with poor sight: thick outlines in
the theme's text colour, the instrument in its primary colour, on the page's background, and no
words (the page has them). Each scene is drawn in a logical 480x300 box that the painter scales
to the widget's size. When animated, a gentle loop (~30 frames a second, only while the widget is
shown) shows the gesture: the cuff inflating, the thermometer coming to the forehead, the finger
sliding all the way into the clip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QElapsedTimer, QEvent, QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import (
    QColor,
    QHideEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPolygonF,
    QShowEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from devices.reading import ReadingKind
from ui.theme import Theme

WIDTH = 480.0  # the logical drawing box, scaled to the widget
HEIGHT = 300.0
OUTLINE = 7.0  # logical pixels: 7 px thick at the default size
FRAME_MS = 33  # at most ~30 frames a second
PERIOD_MS = {
    ReadingKind.BLOOD_PRESSURE: 3200,
    ReadingKind.TEMPERATURE: 2800,
    ReadingKind.PULSE_OXIMETRY: 3000,
}
STILL_PHASE = {  # the moment a still picture shows: the instrument in place
    ReadingKind.BLOOD_PRESSURE: 0.58,
    ReadingKind.TEMPERATURE: 0.55,
    ReadingKind.PULSE_OXIMETRY: 0.55,
}


@dataclass(frozen=True, slots=True)
class _Ink:
    page: QColor
    line: QColor
    instrument: QColor


def _smooth(x: float) -> float:
    """Ease in and out over 0..1 (clamped)."""
    x = min(1.0, max(0.0, x))
    return x * x * (3 - 2 * x)


def _in_hold_out(phase: float, arrive: float, leave: float) -> float:
    """0 -> 1 while arriving (0..arrive), 1 while holding, 1 -> 0 while leaving (leave..1)."""
    if phase < arrive:
        return _smooth(phase / arrive)
    if phase < leave:
        return 1.0
    return 1.0 - _smooth((phase - leave) / (1.0 - leave))


def _arrow_fade(phase: float, end: float) -> float:
    """The arrow's opacity: it shows while the gesture is made (0..end), then rests hidden."""
    if phase >= end:
        return 0.0
    return min(1.0, phase / 0.12, (end - phase) / 0.12)


def _pen(colour: QColor, width: float = OUTLINE) -> QPen:
    pen = QPen(colour, width)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def _shape(p: QPainter, path: QPainterPath, fill: QColor, line: QColor) -> None:
    p.setPen(_pen(line))
    p.setBrush(fill)
    p.drawPath(path)


def _rounded(rect: QRectF, radius: float) -> QPainterPath:
    path = QPainterPath()
    path.addRoundedRect(rect, radius, radius)
    return path


def _circle(centre: QPointF, radius: float) -> QPainterPath:
    path = QPainterPath()
    path.addEllipse(centre, radius, radius)
    return path


def _arrow(p: QPainter, start: QPointF, end: QPointF, colour: QColor, opacity: float = 1.0) -> None:
    """A thick arrow from start to end, its head a filled triangle."""
    if opacity <= 0:
        return
    p.save()
    p.setOpacity(opacity)
    dx, dy = end.x() - start.x(), end.y() - start.y()
    length = math.hypot(dx, dy)
    ux, uy = dx / length, dy / length
    head, half = 30.0, 21.0
    neck = QPointF(end.x() - ux * head, end.y() - uy * head)
    p.setPen(_pen(colour, 11.0))
    p.drawLine(start, neck)
    p.setPen(_pen(colour, 4.0))
    p.setBrush(colour)
    p.drawPolygon(
        QPolygonF(
            [
                end,
                QPointF(neck.x() - uy * half, neck.y() + ux * half),
                QPointF(neck.x() + uy * half, neck.y() - ux * half),
            ]
        )
    )
    p.restore()


# --- blood pressure -------------------------------------------------------------------------
def _paint_blood_pressure(p: QPainter, ink: _Ink, phase: float) -> None:
    inflate = _smooth(phase / 0.55) if phase < 0.55 else 1.0 - _smooth((phase - 0.55) / 0.45)
    _paint_person_at_table(p, ink)
    _paint_monitor(p, ink, inflate)
    _paint_arm(p, ink)
    _paint_cuff(p, ink, inflate, air=phase if phase < 0.55 else None)


def _paint_person_at_table(p: QPainter, ink: _Ink) -> None:
    # the table, at the height of the heart
    p.setPen(_pen(ink.line, 8.0))
    p.drawLine(QPointF(90, 244), QPointF(476, 244))
    p.drawLine(QPointF(456, 244), QPointF(456, 300))

    # the person, seen from the side, sitting at the table (clothes solid, skin open)
    _shape(p, _circle(QPointF(50, 54), 38), ink.page, ink.line)
    torso = QPainterPath(QPointF(4, 304))
    torso.lineTo(4, 144)
    torso.quadTo(6, 106, 42, 104)
    torso.lineTo(58, 104)
    torso.quadTo(94, 106, 96, 144)
    torso.lineTo(96, 304)
    _shape(p, torso, ink.line, ink.line)


def _paint_monitor(p: QPainter, ink: _Ink, inflate: float) -> None:
    # the monitor on the table, its screen showing the pressure rising
    _shape(p, _rounded(QRectF(374, 142, 100, 98), 18), ink.instrument, ink.line)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(ink.page)
    p.drawRoundedRect(QRectF(387, 156, 74, 42), 6, 6)
    p.setBrush(ink.line)
    p.drawRoundedRect(QRectF(394, 171, 12 + 46 * inflate, 12), 3, 3)
    p.setBrush(ink.page)
    p.drawEllipse(QPointF(424, 220), 9, 9)


def _paint_arm(p: QPainter, ink: _Ink) -> None:
    # the bare arm lying on the table, palm up: shoulder, elbow crease, wrist, hand
    arm = QPainterPath(QPointF(60, 236))
    arm.lineTo(60, 152)
    arm.cubicTo(110, 148, 170, 156, 222, 164)
    arm.cubicTo(250, 170, 284, 180, 306, 186)
    arm.cubicTo(326, 182, 352, 184, 364, 198)  # the hand, palm up
    arm.cubicTo(374, 212, 368, 236, 346, 236)
    arm.lineTo(60, 236)
    _shape(p, arm, ink.page, ink.line)
    thumb = QPainterPath(QPointF(310, 220))
    thumb.cubicTo(322, 206, 338, 198, 350, 200)
    thumb.cubicTo(362, 202, 360, 216, 348, 218)
    thumb.cubicTo(336, 220, 326, 224, 318, 230)
    _shape(p, thumb, ink.page, ink.line)
    p.setPen(_pen(ink.line, 6.0))
    p.setBrush(Qt.BrushStyle.NoBrush)
    crease = QPainterPath(QPointF(222, 166))
    crease.cubicTo(232, 176, 234, 188, 228, 200)
    p.drawPath(crease)
    sleeve = QPainterPath(QPointF(50, 240))
    sleeve.lineTo(50, 144)
    sleeve.quadTo(80, 136, 100, 142)
    sleeve.lineTo(100, 240)
    _shape(p, sleeve, ink.line, ink.line)


def _paint_cuff(p: QPainter, ink: _Ink, inflate: float, air: float | None) -> None:
    # the cuff around the upper arm, two fingers above the elbow crease
    grow = 8.0 * inflate
    cuff = QRectF(114 - grow / 2, 142 - grow, 76 + grow, 98 + grow)
    tube = QPainterPath(QPointF(cuff.center().x(), cuff.top() + 4))
    tube.cubicTo(cuff.center().x(), 40, 410, 30, 410, 142)
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.setPen(_pen(ink.line, 20.0))
    p.drawPath(tube)
    p.setPen(_pen(ink.instrument, 8.0))
    p.drawPath(tube)
    if air is not None:  # air going in while the cuff inflates
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(ink.page)
        for k in range(3):
            along = 1.0 - ((air * 2.2 + k / 3) % 1.0)
            p.drawEllipse(tube.pointAtPercent(0.08 + 0.86 * along), 3.2, 3.2)
    _shape(p, _rounded(cuff, 16), ink.instrument, ink.line)
    p.setPen(_pen(ink.page, 4.0))
    for x in (cuff.left() + 16, cuff.right() - 16):
        p.drawLine(QPointF(x, cuff.top() + 16), QPointF(x, cuff.bottom() - 16))


# --- temperature ----------------------------------------------------------------------------
def _paint_temperature(p: QPainter, ink: _Ink, phase: float) -> None:
    near = _in_hold_out(phase, 0.4, 0.75)

    # a head in profile, looking right: hair, ear, eye
    head = QPainterPath(QPointF(140, 304))
    head.lineTo(146, 252)
    head.cubicTo(108, 224, 86, 160, 100, 110)
    head.cubicTo(114, 56, 170, 26, 220, 36)
    head.cubicTo(256, 44, 276, 74, 276, 108)
    head.lineTo(278, 124)
    head.cubicTo(284, 138, 298, 156, 304, 168)
    head.cubicTo(302, 178, 292, 180, 280, 180)
    head.cubicTo(288, 186, 286, 192, 280, 196)
    head.cubicTo(286, 200, 286, 208, 280, 212)
    head.cubicTo(286, 224, 284, 238, 272, 244)
    head.cubicTo(258, 252, 240, 252, 232, 252)
    head.lineTo(230, 304)
    _shape(p, head, ink.page, ink.line)
    hair = QPainterPath(QPointF(102, 104))
    hair.cubicTo(114, 56, 170, 26, 220, 36)
    hair.cubicTo(240, 40, 256, 52, 264, 66)
    hair.cubicTo(222, 62, 190, 78, 176, 100)
    hair.cubicTo(150, 110, 130, 140, 124, 184)
    hair.cubicTo(104, 164, 96, 130, 102, 104)
    _shape(p, hair, ink.line, ink.line)
    ear = QPainterPath(QPointF(166, 130))
    ear.cubicTo(188, 114, 206, 136, 200, 158)
    ear.cubicTo(196, 174, 186, 178, 182, 190)
    ear.cubicTo(176, 202, 158, 198, 158, 186)
    _shape(p, ear, ink.page, ink.line)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(ink.line)
    p.drawEllipse(QPointF(254, 126), 6, 6)

    # the thermometer, a short wand, coming to the forehead
    p.save()
    p.translate(QPointF(286 + 28 * (1.0 - near), 92 + 12 * (1.0 - near)))
    p.rotate(24)
    tip = QPainterPath(QPointF(0, -8))
    tip.lineTo(26, -18)
    tip.lineTo(26, 18)
    tip.lineTo(0, 8)
    tip.closeSubpath()
    wand = tip.united(_rounded(QRectF(20, -26, 150, 52), 26))
    _shape(p, wand, ink.instrument, ink.line)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(ink.page)
    p.drawRoundedRect(QRectF(54, -12, 60, 24), 5, 5)
    p.drawEllipse(QPointF(136, 0), 9, 9)
    p.restore()

    # the arrow: toward the forehead
    slide = 26 * min(1.0, phase / 0.7)
    _arrow(
        p,
        QPointF(468 - slide, 90 + slide * 0.45),
        QPointF(378 - slide, 50 + slide * 0.45),
        ink.line,
        _arrow_fade(phase, 0.72),
    )


# --- pulse oximetry -------------------------------------------------------------------------
def _paint_pulse_oximetry(p: QPainter, ink: _Ink, phase: float) -> None:
    inside = _in_hold_out(phase, 0.45, 0.78)
    p.save()
    p.translate(-130 * (1.0 - inside), 0)  # the hand: at 0 the finger is all the way in

    # the right hand seen from above, palm down, the index finger pointing into the clip
    thumb = QPainterPath(QPointF(146, 132))
    thumb.cubicTo(176, 104, 214, 86, 248, 82)
    thumb.cubicTo(272, 80, 276, 106, 254, 112)
    thumb.cubicTo(236, 118, 222, 126, 210, 136)
    _shape(p, thumb, ink.page, ink.line)
    hand = QPainterPath(QPointF(-240, 136))
    hand.lineTo(110, 134)
    hand.cubicTo(170, 126, 240, 112, 292, 112)
    hand.lineTo(424, 112)  # the index finger
    hand.cubicTo(454, 112, 454, 154, 424, 154)
    hand.lineTo(282, 154)
    hand.cubicTo(304, 156, 304, 192, 280, 194)  # the three curled fingers
    hand.cubicTo(302, 198, 300, 230, 276, 232)
    hand.cubicTo(294, 238, 290, 264, 266, 264)
    hand.cubicTo(230, 268, 170, 266, 110, 252)
    hand.lineTo(-240, 252)
    _shape(p, hand, ink.page, ink.line)
    p.setPen(_pen(ink.line, 6.0))
    p.setBrush(Qt.BrushStyle.NoBrush)
    for y in (194.0, 232.0):
        p.drawLine(QPointF(262, y), QPointF(276, y))
    nail = QRectF(402, 120, 34, 26)
    p.drawRoundedRect(nail, 10, 10)
    finger = QPainterPath(QPointF(270, 112))
    finger.lineTo(424, 112)
    finger.cubicTo(454, 112, 454, 154, 424, 154)
    finger.lineTo(270, 154)
    p.restore()

    # the clip over the finger; the finger inside drawn dashed, its nail up
    clip = QRectF(306, 92, 160, 82)
    _shape(p, _rounded(clip, 34), ink.instrument, ink.line)
    p.save()
    p.setClipRect(clip.adjusted(5, 5, -5, -5), Qt.ClipOperation.IntersectClip)
    p.translate(-130 * (1.0 - inside), 0)
    dashed = _pen(ink.page, 5.0)
    dashed.setDashPattern([2.0, 1.6])
    p.setPen(dashed)
    p.drawPath(finger)
    p.drawRoundedRect(nail, 10, 10)
    p.restore()
    p.setPen(_pen(ink.line))
    p.drawLine(QPointF(clip.left() + 8, clip.top() + 8), QPointF(clip.left() + 8, 106))
    p.drawLine(QPointF(clip.left() + 8, clip.bottom() - 8), QPointF(clip.left() + 8, 160))

    # the arrow: all the way in
    slide = 30 * min(1.0, phase / 0.7)
    _arrow(
        p,
        QPointF(226 + slide, 38),
        QPointF(346 + slide, 38),
        ink.line,
        _arrow_fade(phase, 0.74),
    )


_PAINTERS = {
    ReadingKind.BLOOD_PRESSURE: _paint_blood_pressure,
    ReadingKind.TEMPERATURE: _paint_temperature,
    ReadingKind.PULSE_OXIMETRY: _paint_pulse_oximetry,
}


class InstrumentPicture(QWidget):
    """How to put one instrument on, as a picture that scales with the widget."""

    def __init__(self, kind: ReadingKind, theme: Theme, *, animated: bool = True) -> None:
        super().__init__()
        self._kind = kind
        self._theme = theme
        self._animated = animated
        self._clock = QElapsedTimer()
        self._clock.start()
        self._timer = QTimer(self)
        self._timer.setInterval(FRAME_MS)
        self._timer.timeout.connect(self.update)  # repaints this widget's rect only
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # it fills its whole rect
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self._describe()

    # --- what it shows ----------------------------------------------------------------------
    @property
    def kind(self) -> ReadingKind:
        return self._kind

    @property
    def theme(self) -> Theme:
        return self._theme

    def set_theme(self, theme: Theme) -> None:
        self._theme = theme
        self.update()

    def is_animating(self) -> bool:
        return self._timer.isActive()

    def phase(self) -> float:
        """Where the loop is, 0..1 (a still picture stays at the instrument in place)."""
        if not self._animated:
            return STILL_PHASE[self._kind]
        period = PERIOD_MS[self._kind]
        return (self._clock.elapsed() % period) / period

    def _describe(self) -> None:
        self.setAccessibleName(
            {
                ReadingKind.BLOOD_PRESSURE: self.tr(
                    "The cuff on the bare upper arm, two fingers above the elbow, the arm"
                    " resting on the table"
                ),
                ReadingKind.TEMPERATURE: self.tr(
                    "The tip of the thermometer brought to the middle of the forehead"
                ),
                ReadingKind.PULSE_OXIMETRY: self.tr(
                    "The index finger all the way into the clip, nail up"
                ),
            }[self._kind]
        )

    # --- size -------------------------------------------------------------------------------
    def sizeHint(self) -> QSize:
        return QSize(int(WIDTH), int(HEIGHT))

    def minimumSizeHint(self) -> QSize:
        return QSize(int(WIDTH / 3), int(HEIGHT / 3))

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return round(width * HEIGHT / WIDTH)

    # --- Qt events ---------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._animated:
            self._timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        self._timer.stop()  # off screen: no frames, no CPU
        super().hideEvent(event)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.LanguageChange:
            self._describe()
        super().changeEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        theme = self._theme
        ink = _Ink(QColor(theme.page), QColor(theme.text), QColor(theme.primary))
        p = QPainter(self)
        try:
            p.fillRect(self.rect(), ink.page)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            scale = min(self.width() / WIDTH, self.height() / HEIGHT)
            p.translate((self.width() - WIDTH * scale) / 2, (self.height() - HEIGHT * scale) / 2)
            p.scale(scale, scale)
            p.setClipRect(QRectF(0, 0, WIDTH, HEIGHT))
            _PAINTERS[self._kind](p, ink, self.phase())
        finally:
            p.end()
