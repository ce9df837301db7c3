"""``digest schedule``: when each edition runs, the heartbeat, and the service's log."""
