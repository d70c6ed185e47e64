"""The Monitor tab: live memory of targets, their states, trend and notifications."""
