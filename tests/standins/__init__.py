"""Real local servers that stand in for the outside world (SendGrid, an SMTP relay)."""
