"""Access: reviewers, roles, policy grants, pseudonyms and the `authorize` rule."""
