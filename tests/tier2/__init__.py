"""Tests of ST-2, the cloudlet agent."""
