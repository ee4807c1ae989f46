"""Fuzzing: schemathesis against each service's own OpenAPI document."""
