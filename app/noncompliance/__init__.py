"""The non-compliance list of a reporting period: page, PDF and CSV."""
