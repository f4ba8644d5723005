"""Certificates of compliance: issued when a report is approved, verifiable by anyone."""
