"""The front door: people sign themselves up on ``digest serve``'s pages, confirm
by a mailed link, and ask for a link to manage their subscription. The pages
call ``front`` only, one function per route."""
