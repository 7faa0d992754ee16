"""Real-browser end-to-end test (scripts/e2e); not collected by pytest."""
