"""The marketers' HTML report."""
