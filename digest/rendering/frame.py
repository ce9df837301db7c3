"""``digest preview --width``: the email inside a frame as wide as a phone.

A frame rather than a narrower page: the email sees a viewport of that width
(its narrow-screen rules apply, as on the phone), while the page around it
stays a normal page. The email goes into the frame's ``srcdoc``, escaped, so
the file is still one file with no scripts.
"""

from __future__ import annotations

from html import escape

FRAME = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{width} px: {subject}</title>
<style>
body {{ margin: 0; background: #d9d9d4; color: #333;
  font: 14px/20px -apple-system, 'Segoe UI', Roboto, Arial, sans-serif; }}
p {{ margin: 16px auto 8px; width: {width}px; text-align: center; }}
iframe {{ display: block; width: {width}px; height: calc(100vh - 80px); min-height: 480px;
  margin: 0 auto 24px; border: 1px solid #999; border-radius: 12px; background: #fff; }}
</style>
</head>
<body>
<p>{width} px wide, as on a phone: {subject}</p>
<iframe title="The email at {width} px" width="{width}" srcdoc="{email}"></iframe>
</body>
</html>
"""


def framed(html: str, width: int, subject: str) -> str:
    """``html`` (a whole email) shown in a frame ``width`` CSS pixels wide."""
    return FRAME.format(width=width, subject=escape(subject), email=escape(html, quote=True))
