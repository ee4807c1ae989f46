"""The in-tree selection plugins; each module holds one plugin, named by its `NAME`."""
