"""Both themes are readable by someone with poor sight: every text at 7:1 contrast or more."""

from __future__ import annotations

import pytest

from ui.theme import CALM, HIGH_CONTRAST, THEMES, Theme, contrast


def test_the_contrast_formula_on_known_pairs() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("theme", THEMES, ids=lambda t: t.name)
def test_every_text_is_at_least_7_to_1(theme: Theme) -> None:
    for name, (foreground, background) in theme.text_pairs().items():
        assert contrast(foreground, background) >= 7.0, (theme.name, name)


def test_the_high_contrast_theme_is_higher_everywhere() -> None:
    calm, high = CALM.text_pairs(), HIGH_CONTRAST.text_pairs()
    for name in calm:
        assert contrast(*high[name]) >= contrast(*calm[name]), name
