"""French public holidays (jours fériés, Code du travail L3133-1), so that an operator can close
every cabin on them in one action (`hub.bookings.BookingDesk.close_on_public_holidays`).

Easter comes from the Gregorian computus (the "anonymous" algorithm of Meeus, Jones and
Butcher); Easter Monday, Ascension (Easter + 39 days) and Whit Monday (Easter + 50) follow it.
Alsace and Moselle add Good Friday and Saint Stephen's day (26 December).
"""

from __future__ import annotations

from datetime import date, timedelta


def easter_sunday(year: int) -> date:
    """Easter Sunday of `year` in the Gregorian calendar (1583 onwards)."""
    if year < 1583:
        raise ValueError("the Gregorian computus starts in 1583")
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday_shift = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday_shift) // 451
    month, day = divmod(h + weekday_shift - 7 * m + 114, 31)
    return date(year, month, day + 1)


def french_public_holidays(year: int, *, alsace_moselle: bool = False) -> list[tuple[date, str]]:
    """The public holidays of `year` in France, by date, with their French names."""
    easter = easter_sunday(year)
    days = [
        (date(year, 1, 1), "Jour de l'an"),
        (easter + timedelta(days=1), "Lundi de Pâques"),
        (date(year, 5, 1), "Fête du Travail"),
        (date(year, 5, 8), "Victoire 1945"),
        (easter + timedelta(days=39), "Ascension"),
        (easter + timedelta(days=50), "Lundi de Pentecôte"),
        (date(year, 7, 14), "Fête nationale"),
        (date(year, 8, 15), "Assomption"),
        (date(year, 11, 1), "Toussaint"),
        (date(year, 11, 11), "Armistice 1918"),
        (date(year, 12, 25), "Noël"),
    ]
    if alsace_moselle:
        days += [
            (easter - timedelta(days=2), "Vendredi saint"),
            (date(year, 12, 26), "Saint-Étienne"),
        ]
    return sorted(days)
