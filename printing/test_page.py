"""The test page the agent prints from the assistant mode: no patient data, just enough to see
that the printer prints, aligns and has ink: the cabin, the time, a frame and a grey scale."""

from __future__ import annotations

import io
from datetime import datetime


def render_test_page(cabin_id: str, cabin_name: str, printed_at: datetime) -> bytes:
    # reportlab loads here, on the worker thread that renders, never with the cabin's screen.
    from reportlab.lib.pagesizes import A4  # noqa: PLC0415
    from reportlab.lib.units import mm  # noqa: PLC0415
    from reportlab.pdfgen import canvas  # noqa: PLC0415

    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4, pageCompression=0)
    width, height = A4
    page.setTitle("Cabin test page")
    page.setLineWidth(2)
    page.rect(10 * mm, 10 * mm, width - 20 * mm, height - 20 * mm)  # the printable margins
    page.setFont("Helvetica-Bold", 28)
    page.drawString(25 * mm, height - 40 * mm, "Page de test / Test page")
    page.setFont("Helvetica", 14)
    page.drawString(25 * mm, height - 55 * mm, f"{cabin_name} ({cabin_id})")
    page.drawString(25 * mm, height - 65 * mm, printed_at.strftime("%Y-%m-%d %H:%M:%S %Z"))
    for step in range(11):  # a grey scale, to see the ink or toner
        page.setFillGray(step / 10)
        page.rect(25 * mm + step * 15 * mm, height - 100 * mm, 15 * mm, 20 * mm, fill=1)
    page.setFillGray(0)
    page.drawString(25 * mm, 25 * mm, "Aucune donnée de patient. No patient data.")
    page.showPage()
    page.save()
    return out.getvalue()
