"""The workflow's planning side: what the Snakefile (and the docs generator and tests) use to turn
``config.yaml`` into jobs, and that no job imports.

Study resolution and validation (``study``, ``checks``, ``strategies``, ``schedules``), the catalogs of
every declared extension (``catalog``), each job's params (``params``), captions (``captions``), the
configuration schema's generated blocks and one-line messages (``schema``) and the generated docs
(``docs``). A job's code hash never covers these modules (tests/workflow/test_job_code.py), so editing
them reruns nothing: what they decide reaches a job only through its params.
"""
