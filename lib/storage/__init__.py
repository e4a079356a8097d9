"""SQLite connections shared by every area, and the schema's migrations."""
