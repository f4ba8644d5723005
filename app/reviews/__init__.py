"""Regulators' review of filed reports: the queue, assignment, decisions, and signature status changes."""
