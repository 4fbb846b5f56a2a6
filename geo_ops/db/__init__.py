"""Database plumbing shared by the apps; imports no app."""
