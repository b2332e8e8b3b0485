"""The hub as a fleet runs it: real PostgreSQL, Redis and a proxy on loopback (`./cabin fleet`)."""
