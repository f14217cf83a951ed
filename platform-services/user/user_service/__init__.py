"""The user service: accounts, login (JWT) and roles."""
