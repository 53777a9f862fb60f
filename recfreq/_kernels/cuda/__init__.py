"""CUDA C++ sources, shipped as package data and compiled at first use (NVRTC through CuPy)."""
