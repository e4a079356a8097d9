"""The Acquired API client: every call logged before it is sent."""
