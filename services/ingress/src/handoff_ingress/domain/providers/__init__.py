"""One module per provider: how its requests are verified and how its body reads as events."""
