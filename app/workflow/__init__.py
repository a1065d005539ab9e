"""The only package that imports SpiffWorkflow.

``specs`` parses ``bpmn/`` once and stores each version by content hash, ``engine`` is the
restricted script environment, ``runtime`` loads, runs, syncs and saves instances.
"""
