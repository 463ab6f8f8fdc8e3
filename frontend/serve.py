"""Serve the report: ``python -m frontend.serve [streamlit options]``.

The same as ``streamlit run frontend/app.py [options]``, except that the libraries the pages
import (pandas and Altair for the charts, pyarrow for the tables, the report's own modules) are
imported before the server starts listening. Streamlit runs the app's script only when the
first browser connects, so otherwise the first stakeholder of a fresh server or container waits
for those imports: about 1 s of the first page's 3 s budget (docs/report.md, "Speed").
``lakedrop report``, the container (frontend/Dockerfile) and the browser tests start it so.
Nothing here reads the lake or the environment.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"


def main(argv: list[str] | None = None) -> int:
    import altair  # noqa: F401, PLC0415
    import pandas  # noqa: F401, PLC0415
    import pyarrow.parquet  # noqa: F401, PLC0415
    from streamlit.web import cli  # noqa: PLC0415

    from frontend import charts, data, i18n, logic, ui  # noqa: F401, PLC0415

    sys.argv = ["streamlit", "run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    cli.main(prog_name="streamlit")  # click: exits with the server's status
    return 0


if __name__ == "__main__":
    sys.exit(main())
