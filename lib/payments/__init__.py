"""Payments: did the customer pay? Transactions, webhooks, reconciliation, money operations."""
