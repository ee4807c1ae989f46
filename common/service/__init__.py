"""The web plumbing the three services share: problems, request limits, health, metrics, serving.

Kept apart from the wire schema so that `common`'s models import no web
framework; an import-linter contract holds that line.
"""
