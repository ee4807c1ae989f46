"""HTTP routes of ST-2: the native v2 deploy API, the v1 compatibility API, cloudlet info."""
