"""What an edition holds: its window of articles, each segment's sections, the archive."""
