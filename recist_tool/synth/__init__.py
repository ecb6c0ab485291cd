"""Synthetic data: CT phantoms and cohorts calibrated to the founding study."""
