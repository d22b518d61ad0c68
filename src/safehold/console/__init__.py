"""The admin console: the staff's pages under /admin (docs/admin-console.md)."""
