"""Accounts, sign-in sessions, roles and permissions."""
