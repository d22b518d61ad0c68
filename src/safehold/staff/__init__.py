"""Staff members: named people with a role, signing in to the admin console."""
