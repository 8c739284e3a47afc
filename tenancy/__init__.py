"""Users, orgs, projects, keys, sessions, SSO, audit log and the tenant-scoping kernel."""
