"""The web pages: the public policy, the privacy center and the admin console."""
