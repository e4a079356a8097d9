"""QA explorer: test models, generated suites, runs against an environment and saved results."""
