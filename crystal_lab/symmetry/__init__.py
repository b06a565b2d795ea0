"""Symmetry built into the diffusion (DiffCSP++): space-group templates (a group and its Wyckoff
orbits), their retrieval and sampling from the training split, and the projection of each
reverse step onto a template (coordinates on their Wyckoff sites, the lattice in its family).
"""
