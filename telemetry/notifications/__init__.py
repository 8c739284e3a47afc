"""Alert notifications: channels, escalation policies, silences and the delivery log."""
