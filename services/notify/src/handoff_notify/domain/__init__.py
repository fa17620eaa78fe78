"""notify's pure rules: which subscriptions an event reaches, when to try again, when to stop."""
