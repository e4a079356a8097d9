"""The tamper-evident log of every API call, webhook and access event."""
