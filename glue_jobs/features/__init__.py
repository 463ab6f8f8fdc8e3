"""Customer features for the churn model: curated transactions → train and score snapshots.

``transform`` (pure DataFrame → DataFrame), ``io`` (read curated, write analytics), ``layout``
(the keys), ``settings`` (argv), ``job`` (``run(spark, args)``, ``main(argv)``). docs/features.md
defines the features and how to run the job on Glue, EMR Serverless and locally.
"""
