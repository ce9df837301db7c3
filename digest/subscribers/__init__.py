"""Subscribers from outside: CSV files, one person added by hand, the export."""
