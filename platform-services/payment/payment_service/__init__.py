"""The payment service: course purchases, idempotent, through a simulated card provider."""
