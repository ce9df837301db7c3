"""Which articles go together: the tagging vocabulary, duplicate stories, sections."""
