"""The notification service: e-mails users about their enrolments."""
