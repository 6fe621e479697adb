"""Hardening: faults, hostile input and privacy, each guarantee of RELIABILITY.md proved by a test."""
