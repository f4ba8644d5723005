"""The staff dashboard: who must file for a period, who filed, and how it stands, by region and category."""
