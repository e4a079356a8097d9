"""Who may do what: roles, sign-in, local mode, masking of personal data."""
