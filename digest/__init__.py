"""digest: a daily newsletter digest emailer.

The pipeline, one module each: ``sources`` → ``store`` → ``grouping`` →
``render`` → ``delivery`` → ``dispatch``; ``cli`` only parses arguments.
"""

__version__ = "0.1.0"
# Where digest lives: named in the User-Agent of every feed download, so a feed's
# owner can see what is fetching it (``user_agent`` in digest.toml overrides it).
PROJECT_URL = "https://github.com/digest-newsletter/digest"
