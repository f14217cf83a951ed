"""The enrollment service: who may take which course; publishes enrollment.created."""
