"""Spark jobs that run on AWS Glue, on EMR Serverless and locally (pyspark ``local[*]``).

Shipped to AWS as one zip (``make glue-package`` → ``dist/glue_jobs.zip``). Nothing here imports
another unit's code: the jobs agree with the other units on the lake (docs/lake.md).
"""
