"""Alerting: rules on metrics and logs, their evaluation, incidents and notifications."""
