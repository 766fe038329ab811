"""Serving: the gRPC client and a development stand-in for TF Serving."""
