"""The data plane under /p/{project_id}: ingestion and the PromQL proxy."""
