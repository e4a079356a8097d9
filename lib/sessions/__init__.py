"""Payment sessions: create, update, recreate, and what the pages show of them."""
