"""The CloudletTable: one interface, an in-memory and a Redis backend."""
