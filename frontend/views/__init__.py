"""The report's pages, each a script ``st.navigation`` runs (thin: data → logic → layout)."""
