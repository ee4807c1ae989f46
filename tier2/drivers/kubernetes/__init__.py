"""The Kubernetes cluster driver, through the `kubernetes` client only (no kubectl, no helm)."""
