"""Kernel sources: ``cuda/`` holds the CUDA C++ sources, shipped as package data."""
