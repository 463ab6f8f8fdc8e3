"""The stakeholders' report (Streamlit): reads the analytics zone and the ingest manifests.

``app.py`` is the entry point (``streamlit run frontend/app.py``, ``lakedrop report``);
``data`` is the one module that reads the lake; ``logic``, ``charts`` and ``i18n`` are pure.
"""
