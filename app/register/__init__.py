"""The public register of signatories: business data only, never people's data."""
