"""The security baseline policy pack (policies/)."""
