"""Targeting: customer value, uplift, action choice, list selection and the marketers' report."""
