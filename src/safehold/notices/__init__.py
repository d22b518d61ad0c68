"""Policy updates: immutable published versions, posted pages, change notices and acceptance
records (seed section 5)."""
