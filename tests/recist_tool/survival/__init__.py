"""Tests of recist_tool.survival."""
