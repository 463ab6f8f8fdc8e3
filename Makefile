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

## Build the Lambda artefacts into .aws-sam/ without Docker (needs python3.12, see above).
sam-build: $(SAM_STAMP)
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
