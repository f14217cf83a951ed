"""The content service: lesson content, delivered to enrolled users through signed, expiring links."""
