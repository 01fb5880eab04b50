"""Receivers: one module or package per type; each pushes into one consumer per signal."""
