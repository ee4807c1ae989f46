"""The web plumbing the three Sinfonia services share: problem responses, health, metrics, serving.

Kept apart from the wire schema so that `common`'s models import no web
framework; an import-linter contract holds that line.
"""
