"""An edition as an email: HTML and text, the size guard, wording, signed links."""
