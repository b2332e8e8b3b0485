"""The screen's two themes: calm (the default) and high contrast, both readable at 7:1 or more.

Every text colour is paired with the background it is drawn on, so a test can compute each
pair's contrast ratio (WCAG 2 relative luminance) and refuse one below 7:1 (level AAA).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Theme:
    name: str
    page: str  # page background
    text: str  # body and title text on the page
    muted_text: str  # secondary text (the cabin's name) on the page
    button: str  # ordinary button background
    button_text: str
    button_border: str
    primary: str  # the one action that moves on
    primary_text: str
    overlay: str  # background of the overlays (still there?, help is coming, assistant)
    overlay_text: str
    banner: str  # a problem to act on
    banner_text: str
    field: str  # text fields
    field_text: str
    help: str = "#8b0000"  # the panic button ("call for help"), on every screen
    help_text: str = "#ffffff"

    def text_pairs(self) -> dict[str, tuple[str, str]]:
        """Every (text colour, background) pair the screen draws."""
        return {
            "text on page": (self.text, self.page),
            "muted text on page": (self.muted_text, self.page),
            "button": (self.button_text, self.button),
            "primary button": (self.primary_text, self.primary),
            "overlay": (self.overlay_text, self.overlay),
            "banner": (self.banner_text, self.banner),
            "field": (self.field_text, self.field),
            "help button": (self.help_text, self.help),
        }

    def stylesheet(self) -> str:
        return f"""
QWidget#kiosk {{ background: {self.page}; }}
QLabel {{ color: {self.text}; font-size: 36px; }}
QLabel#title {{ font-size: 56px; font-weight: 600; }}
QLabel#banner {{ color: {self.banner_text}; background: {self.banner}; padding: 16px; }}
QLabel#cabin {{ font-size: 32px; color: {self.muted_text}; }}
QLabel#doctor_name {{ font-size: 52px; font-weight: 600; }}
QLabel#doctor_specialty {{ font-size: 36px; color: {self.muted_text}; }}
QLabel#link_state {{ color: {self.banner_text}; background: {self.banner}; padding: 16px; }}
QLabel#remote_video, QLabel#local_video {{ color: {self.muted_text}; }}
QPushButton {{
    min-height: 120px; min-width: 160px; font-size: 40px; border-radius: 16px;
    padding: 0 24px; color: {self.button_text}; background: {self.button};
    border: 3px solid {self.button_border};
}}
QPushButton:disabled {{ border-style: dashed; }}
QPushButton#primary, QPushButton[emphasis="true"] {{
    color: {self.primary_text}; background: {self.primary}; border-color: {self.primary};
}}
QPushButton#key {{ min-width: 106px; font-size: 44px; padding: 0 4px; }}
QPushButton#toolbar {{ min-width: 120px; font-size: 32px; }}
QPushButton#help {{
    min-width: 420px; font-size: 40px; font-weight: 600; color: {self.help_text};
    background: {self.help}; border-color: {self.help};
}}
QPushButton[compact="true"] {{ font-size: 34px; padding: 0 8px; }}
QLineEdit {{
    font-size: 44px; min-height: 110px; padding: 0 16px; color: {self.field_text};
    background: {self.field}; border: 3px solid {self.button_border};
}}
QLabel#service_notice {{ color: {self.banner_text}; background: {self.banner}; padding: 24px; }}
QLabel#privacy {{ font-size: 32px; color: {self.muted_text}; }}
QLabel#media_on {{ font-size: 28px; font-weight: 600; color: {self.muted_text}; }}
QPushButton#end_call {{
    min-width: 360px; font-weight: 600; color: {self.help_text}; background: {self.help};
    border-color: {self.help};
}}
QWidget#end_call_confirm {{ background: {self.overlay}; border: 3px solid {self.button_border}; }}
QWidget#end_call_confirm QLabel {{ color: {self.overlay_text}; }}
QLabel#end_call_question {{ font-size: 48px; font-weight: 600; }}
QPushButton#end_call_yes, QPushButton#end_call_no {{ min-width: 300px; min-height: 140px; }}
QWidget#overlay {{ background: {self.overlay}; }}
QWidget#overlay QLabel {{ color: {self.overlay_text}; }}
"""


CALM = Theme(
    name="calm",
    page="#ffffff",
    text="#111111",
    muted_text="#333333",
    button="#e9edf3",
    button_text="#111111",
    button_border="#3d4a5c",
    primary="#0b3d91",
    primary_text="#ffffff",
    overlay="#fff8e1",
    overlay_text="#111111",
    banner="#fff1f1",
    banner_text="#7a0000",
    field="#ffffff",
    field_text="#111111",
)

HIGH_CONTRAST = Theme(
    name="high-contrast",
    page="#000000",
    text="#ffffff",
    muted_text="#ffff00",
    button="#000000",
    button_text="#ffff00",
    button_border="#ffff00",
    primary="#ffff00",
    primary_text="#000000",
    overlay="#000000",
    overlay_text="#ffffff",
    banner="#000000",
    banner_text="#ffff00",
    field="#000000",
    field_text="#ffffff",
)

THEMES = (CALM, HIGH_CONTRAST)


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(red) + 0.7152 * _channel(green) + 0.0722 * _channel(blue)


def contrast(foreground: str, background: str) -> float:
    """The WCAG 2 contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
