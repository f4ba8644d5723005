"""The Code of Conduct: its versioned text and the signatures (adhesions) of establishments."""
