"""Streamlit pieces shared by the pages (the frame, the field-driven form). The engine is lib/."""
