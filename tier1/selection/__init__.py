"""The selection upcall: filter and score plugins over table snapshots, as kube-scheduler does."""
