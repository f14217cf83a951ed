"""Notifications: which events go where (routing), what they say (messages), rollout watching, delivery."""
