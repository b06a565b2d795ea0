"""Helpers for the browser tests (tests/test_browser.py): a throwaway JupyterLab server,
a Playwright-driven Chromium, and the checks run on each notebook page. See README.md."""
