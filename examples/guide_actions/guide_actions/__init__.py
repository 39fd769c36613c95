"""Examples for docs/user-guide.md; a test runs every one of them."""
