"""The operations loop: what batch scoring predicted (log), and how it fared once labels matured (live)."""
