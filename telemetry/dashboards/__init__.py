"""Dashboards: the versioned model, Grafana import/export, templates, the data call, share links."""
