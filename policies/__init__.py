"""Hearth's CrossGuard policy pack (PulumiPolicy.yaml); the checks live in `baseline`."""
