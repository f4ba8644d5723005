"""The JSON API (/api/v1): thin, calling the same services as the HTML pages."""
