"""Query strategies; see registry.py for the method list and how to add one."""
