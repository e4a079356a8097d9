"""Small helpers every area uses: exact JSON and time formats."""
