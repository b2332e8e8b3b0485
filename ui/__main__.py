"""``python -m ui``: the cabin process (see ``ui.main``)."""

from ui.main import main

main()
