"""Hearth: the platform model (settings and service specs), free of any target."""
