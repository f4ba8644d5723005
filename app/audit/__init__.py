"""The append-only audit log of every staff action, chained by hashes so a change is detectable."""
