"""The one description of the request fields, its validation and the amounts it carries."""
