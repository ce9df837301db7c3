"""digest: a daily newsletter digest emailer.

The pipeline, one module each: ``sources`` → ``store`` → ``grouping`` →
``render`` → ``delivery`` → ``dispatch``; ``cli`` only parses arguments.
"""

__version__ = "0.1.0"
