"""What auditors ask of the call log: filters, queries, exports."""
