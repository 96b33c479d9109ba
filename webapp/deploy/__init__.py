"""Deployment files shipped inside the wheel (see `taskmanager-webapp deploy-dir`)."""
