"""``python -m demo``: the demo cabin (see ``demo.main``)."""

from demo.main import main

main()
