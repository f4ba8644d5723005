"""Compliance portal for Peru's Code of Conduct against the sexual exploitation of children and adolescents in tourism."""
