# Every target creates what it needs: on a fresh clone `make demo` and `make test` are enough.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The SageMaker SDK's own virtualenv (see the end of this file). Defined here, before any rule
# names it: make expands a rule's prerequisites when it reads the rule.
SM_VENV  := .venv-sagemaker
SM_BIN   := $(SM_VENV)/bin
SM_STAMP := $(SM_VENV)/.installed
SAGEMAKER_TRAIN ?= sagemaker-train==1.27.0

.PHONY: demo features report glue-package test lint typecheck check clean train

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Generate a sample transactions file, ingest it into the local lake (.lakedrop/) and say where it went.
demo: $(STAMP)
	$(BIN)/lakedrop demo

## Compute customer features (train + score snapshots) from the local curated zone with Spark.
features: $(STAMP)
	$(BIN)/lakedrop features

## Train, validate and score the churn model on the local features (training/train.py, as SageMaker runs it).
train: $(STAMP)
	$(BIN)/lakedrop train

## Serve the stakeholders' report (Streamlit) on the local lake: http://127.0.0.1:8501/
report: $(STAMP)
	$(BIN)/lakedrop report

# The zip Glue (--extra-py-files) and EMR Serverless (spark.submit.pyFiles) put on sys.path:
# the glue_jobs package and nothing else (pyspark and boto3 are on those runtimes already).
GLUE_ZIP ?= dist/glue_jobs.zip

## Build dist/glue_jobs.zip for Glue and EMR Serverless (docs/features.md).
glue-package:
	@mkdir -p $(dir $(GLUE_ZIP))
	$(PYTHON) -c "import pathlib, sys, zipfile; \
	files = sorted(p for p in pathlib.Path('glue_jobs').rglob('*.py') if '__pycache__' not in p.parts); \
	z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED); \
	[z.write(p, p.as_posix()) for p in files]; z.close(); \
	print(sys.argv[1] + ': ' + str(len(files)) + ' modules')" $(GLUE_ZIP)

## Run the test suite (real DuckDB, real Parquet, AWS through moto).
test: $(STAMP) $(SM_STAMP)
	$(BIN)/pytest
	$(SM_BIN)/pytest -p no:cacheprovider tests/lakedrop/test_sagemaker_launch.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy training/train.py
# the features job on Glue 4's Python (mypy checks no older; ruff and test-runtimes do 3.9)
	$(BIN)/mypy --python-version 3.10 -p glue_jobs
# the training script on the SageMaker scikit-learn 1.9-0 container's Python
	$(BIN)/mypy --python-version 3.12 training/train.py

check: lint typecheck test

clean:
	rm -rf $(VENV) .lakedrop .aws-sam .pytest_cache .mypy_cache .ruff_cache

# ---------------------------------------------------------------------------------------------
# AWS SAM infrastructure (template.yaml). aws-sam-cli pins boto3 and click exactly, so it lives
# in its own virtualenv (.venv-sam), never in the project's .venv. None of these targets needs
# Docker or an AWS account; `sam validate` only needs a region name to be set.
SAM_VENV   := .venv-sam
SAM_BIN    := $(SAM_VENV)/bin
SAM_STAMP  := $(SAM_VENV)/.installed
SAM_CLI    ?= aws-sam-cli>=1.150,<2
SAM_REGION ?= ap-northeast-2

.PHONY: sam-venv template-lint sam-build

$(SAM_STAMP):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_BIN)/pip install --quiet --upgrade pip
	$(SAM_BIN)/pip install --quiet '$(SAM_CLI)'
	touch $(SAM_STAMP)

## Create .venv-sam with the AWS SAM CLI.
sam-venv: $(SAM_STAMP)

## Lint template.yaml with cfn-lint and `sam validate --lint` (both offline).
template-lint: $(STAMP) $(SAM_STAMP)
	$(BIN)/cfn-lint template.yaml
	AWS_DEFAULT_REGION=$(SAM_REGION) SAM_CLI_TELEMETRY=0 $(SAM_BIN)/sam validate --lint --template-file template.yaml

# Without Docker, `sam build` runs pip with the Python of the function's runtime, looked up on
# PATH as python3.12 (template.yaml: Runtime python3.12). Under pyenv, that version's bin/ is
# put first on PATH; elsewhere python3.12 must already be on PATH.
LAMBDA_PYTHON_VERSION ?= 3.12
LAMBDA_PYTHON_PREFIX   = $(shell pyenv prefix $(LAMBDA_PYTHON_VERSION) 2>/dev/null)

# The state machine's Publish step (PublishFunction, CodeUri dist/publish_function/): the
# standard-library-only modules lakedrop.training.publish needs, nothing else (boto3 is in the
# Lambda runtime). tests/statemachine runs the same handler in-process.
PUBLISH_DIR ?= dist/publish_function
PUBLISH_MODULES := lakedrop/__init__.py lakedrop/config.py lakedrop/training.py \
	lakedrop/sagemaker_launch.py lakedrop/publish_function.py glue_jobs/__init__.py \
	glue_jobs/features/__init__.py glue_jobs/features/layout.py
.PHONY: publish-package code-upload
publish-package:
	rm -rf $(PUBLISH_DIR) && mkdir -p $(PUBLISH_DIR)/ingest
	for f in $(PUBLISH_MODULES); do mkdir -p $(PUBLISH_DIR)/$$(dirname $$f) && cp $$f $(PUBLISH_DIR)/$$f; done
	cp functions/ingest/__init__.py functions/ingest/storage.py $(PUBLISH_DIR)/ingest/

## Upload the features job's code (Glue script, EMR entry point, glue_jobs.zip) and the training
## source to the stack's analytics bucket: make code-upload ANALYTICS_BUCKET=<AnalyticsBucketName>
code-upload: glue-package
	@test -n "$(ANALYTICS_BUCKET)" || (echo "set ANALYTICS_BUCKET (stack output AnalyticsBucketName)"; exit 2)
	aws s3 cp $(GLUE_ZIP) s3://$(ANALYTICS_BUCKET)/code/features/glue_jobs.zip
	aws s3 cp glue_jobs/glue_entry.py s3://$(ANALYTICS_BUCKET)/code/features/glue_entry.py
	aws s3 cp glue_jobs/features/job.py s3://$(ANALYTICS_BUCKET)/code/features/job.py
	tar -czf dist/sourcedir.tar.gz -C training --exclude __pycache__ train.py churn_model requirements.txt
	aws s3 cp dist/sourcedir.tar.gz s3://$(ANALYTICS_BUCKET)/sagemaker/code/sourcedir.tar.gz

## Build the Lambda artefacts into .aws-sam/ without Docker (needs python3.12, see above).
sam-build: $(SAM_STAMP) publish-package
	PATH="$(if $(LAMBDA_PYTHON_PREFIX),$(LAMBDA_PYTHON_PREFIX)/bin:)$$PATH" SAM_CLI_TELEMETRY=0 \
		$(SAM_BIN)/sam build --template-file template.yaml
	@du -sh .aws-sam/build/IngestFunction | sed 's/^/unzipped IngestFunction artefact: /'

# ---------------------------------------------------------------------------------------------
# SageMaker Python SDK v3 (sagemaker-train), to launch training on AWS (lakedrop/sagemaker_launch.py).
# It pulls in mlflow (which pins pyarrow < 26) and ~60 other packages, so it lives in its own
# virtualenv (.venv-sagemaker) with moto for its tests; the project is installed there without
# its dependencies (the launcher needs none of them). docs/training.md.

.PHONY: sagemaker-venv test-sagemaker

$(SM_STAMP): pyproject.toml
	$(PYTHON) -m venv $(SM_VENV)
	$(SM_BIN)/pip install --quiet --upgrade pip
	$(SM_BIN)/pip install --quiet '$(SAGEMAKER_TRAIN)' 'moto[s3,sts,iam,sagemaker]>=5.1' 'pytest>=8'
	$(SM_BIN)/pip install --quiet --no-deps -e .
	touch $(SM_STAMP)

## Create .venv-sagemaker with the SageMaker SDK (launching training on AWS).
sagemaker-venv: $(SM_STAMP)

## The SageMaker launch tests (moto), in .venv-sagemaker.
test-sagemaker: $(SM_STAMP)
	$(SM_BIN)/pytest -p no:cacheprovider tests/lakedrop/test_sagemaker_launch.py

# ---------------------------------------------------------------------------------------------
# The Pythons the units' AWS runtimes ship. The features job runs on EMR Serverless 7 (Python
# 3.9 unless a custom image is given), Glue 4 (3.10) and Glue 5 (3.11, the project's .venv); the
# training script in SageMaker's scikit-learn 1.9-0 container (AL2023, Python 3.12). Each of the
# other Pythons gets a small virtualenv with only what that runtime provides and the unit's tests
# need, and `make test-runtimes` (run by .ci/run) runs those tests there. The interpreters come
# from pyenv (the machine image has 3.9, 3.10 and 3.12 under pyenv; Debian 12 packages none of
# them), else pythonX.Y on PATH; each venv checks that it got the version it was asked for.
FEATURES_RUNTIME_PYTHONS ?= 3.9 3.10
TRAINING_RUNTIME_PYTHON  ?= 3.12
runtime_python = $(or $(wildcard $(shell pyenv prefix $(1) 2>/dev/null)/bin/python$(1)),python$(1))
# pyspark pinned as pyproject.toml pins it; boto3 is on Glue and EMR; pyarrow and moto for tests.
FEATURES_RUNTIME_DEPS := 'pyspark>=3.5.5,<3.6' boto3 pyarrow 'pytest>=8' 'moto[s3]>=5.1'
# numpy and scipy as the container has them (aws/deep-learning-containers,
# docker/sklearn/1.9-0/pyproject.toml), then what the container installs from requirements.txt.
TRAINING_RUNTIME_DEPS := numpy==2.5.1 scipy==1.18.0 -r training/requirements.txt 'pytest>=8'
# The unit's tests that need nothing but the unit and its runtime (no ingest, no lakedrop CLI).
FEATURES_RUNTIME_TESTS := tests/glue_jobs/test_settings.py tests/glue_jobs/test_layout.py \
	tests/glue_jobs/test_glue_entry.py tests/glue_jobs/test_transform.py \
	tests/glue_jobs/test_job.py tests/glue_jobs/test_io.py
TRAINING_RUNTIME_TESTS := tests/training/churn_model tests/training/test_script.py
FEATURES_RUNTIME_STAMPS := $(foreach v,$(FEATURES_RUNTIME_PYTHONS),.venv-features-py$(v)/.installed)
TRAINING_RUNTIME_STAMP  := .venv-training-py$(TRAINING_RUNTIME_PYTHON)/.installed

.PHONY: runtime-venvs test-runtimes

.venv-features-py%/.installed: pyproject.toml
	$(call runtime_python,$*) -m venv $(@D)
	$(@D)/bin/python -c "import sys; v = '%d.%d' % sys.version_info[:2]; \
	sys.exit(None if v == '$*' else 'asked for Python $*, got ' + v)"
	$(@D)/bin/pip install --quiet --upgrade pip
	$(@D)/bin/pip install --quiet $(FEATURES_RUNTIME_DEPS)
	touch $@

.venv-training-py%/.installed: training/requirements.txt
	$(call runtime_python,$*) -m venv $(@D)
	$(@D)/bin/python -c "import sys; v = '%d.%d' % sys.version_info[:2]; \
	sys.exit(None if v == '$*' else 'asked for Python $*, got ' + v)"
	$(@D)/bin/pip install --quiet --upgrade pip
	$(@D)/bin/pip install --quiet $(TRAINING_RUNTIME_DEPS)
	touch $@

## Create the runtimes' virtualenvs (.venv-features-py3.9, -py3.10, .venv-training-py3.12).
runtime-venvs: $(FEATURES_RUNTIME_STAMPS) $(TRAINING_RUNTIME_STAMP)

## Run each unit's own tests on the Pythons its AWS runtimes ship (Spark workers too).
test-runtimes: runtime-venvs
	@set -e; for v in $(FEATURES_RUNTIME_PYTHONS); do \
		echo "== features job on Python $$v"; \
		PYSPARK_PYTHON=$(CURDIR)/.venv-features-py$$v/bin/python PYTHONPATH=$(CURDIR) \
		.venv-features-py$$v/bin/python -m pytest -q -p no:cacheprovider \
			$(FEATURES_RUNTIME_TESTS); \
	done
	@echo "== training script on Python $(TRAINING_RUNTIME_PYTHON)"
	PYTHONPATH=$(CURDIR)/training .venv-training-py$(TRAINING_RUNTIME_PYTHON)/bin/python -m pytest \
		-q -p no:cacheprovider $(TRAINING_RUNTIME_TESTS)

# ---------------------------------------------------------------------------------------------
# checkov (static security analysis of template.yaml). It pins dozens of packages exactly, so it
# lives in its own virtualenv (.venv-checkov). A finding is fixed in the template or skipped
# there with a comment saying why (Metadata: checkov: skip:), never here.
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CHECKOV       ?= checkov==3.3.30

.PHONY: checkov-venv template-security

$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet '$(CHECKOV)'
	touch $(CHECKOV_STAMP)

## Create .venv-checkov with checkov.
checkov-venv: $(CHECKOV_STAMP)

## checkov on template.yaml: no failed check (offline; skips are commented in the template).
template-security: $(CHECKOV_STAMP)
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download \
		--framework cloudformation -f template.yaml
