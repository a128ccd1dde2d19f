"""From face vectors to people: clustering, stable identities, the user's edits, search."""
