"""``lakedrop``: the local runtime — generate sample data, drop files, watch the landing zone."""

from __future__ import annotations

import ctypes
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import webbrowser
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from lakedrop.config import LocalLake
from lakedrop.generate import ENCODINGS, GenerateSpec, generate
from lakedrop.local import drop as drop_key
from lakedrop.local import landing_key, pending_keys, put_in_landing
from lakedrop.pipeline import STEPS

if TYPE_CHECKING:
    from lakedrop.training import TrainedRun

app = typer.Typer(
    help="lakedrop on a laptop: the same ingest the Lambda runs, on a folder lake.",
    no_args_is_help=True,
    add_completion=False,
)
# Piped or captured output (CI logs, tests) is not wrapped at 80 columns: paths stay whole.
console = Console(width=None if sys.stdout.isatty() else 160)


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _generate(path: Path, spec: GenerateSpec) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with Progress(
        TextColumn("generating [bold]{task.fields[name]}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("generate", total=spec.rows, name=path.name)
        report = generate(path, spec, progress=lambda rows: progress.update(task, completed=rows))
    console.print(
        f"generated [bold]{report.rows:,}[/] rows, {report.customers:,} customers, "
        f"{report.first_event} – {report.last_event}: {path} ({_size(report.bytes_written)})"
    )
    return path


@app.command("generate")
def generate_command(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="where to write the CSV (default: the lake's samples folder, "
            ".lakedrop/samples/transactions-<seed>.csv)"
        ),
    ] = None,
    rows: Annotated[int, typer.Option(help="number of rows")] = 100_000,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same file)")] = 42,
    customers: Annotated[int | None, typer.Option(help="default: rows / 80")] = None,
    encoding: Annotated[str, typer.Option(help=" or ".join(ENCODINGS))] = "utf-8",
    korean_headers: Annotated[
        bool, typer.Option(help="Korean column names (Excel export)")
    ] = False,
    gzip: Annotated[bool, typer.Option(help="gzip the file")] = False,
    messy: Annotated[
        bool, typer.Option(help="spaces, blanks, thousands separators, other time formats")
    ] = False,
) -> None:
    """Write a realistic transactions CSV (deterministic for a seed; transaction ids carry
    the seed, so files of different seeds never repeat one)."""
    if path is None:
        suffix = ".csv.gz" if gzip else ".csv"
        path = LocalLake.from_env().samples / f"transactions-{seed}{suffix}"
    if encoding not in ENCODINGS:
        raise typer.BadParameter(f"choose {' or '.join(ENCODINGS)}", param_hint="--encoding")
    spec = GenerateSpec(
        rows=rows,
        seed=seed,
        customers=customers,
        encoding=encoding,  # narrowed to Encoding by the check above
        korean_headers=korean_headers,
        gzip=gzip,
        messy=messy,
    )
    _generate(path, spec)


def _ingest_with_spinner(lake: LocalLake, key: str, verbose: bool) -> dict[str, Any]:
    with Progress(
        SpinnerColumn(),
        TextColumn("ingesting [bold]{task.fields[key]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        progress.add_task("ingest", key=key, total=None)
        from ingest.service import SourceBusy  # noqa: PLC0415 (the ingest's own error)

        try:
            return drop_key(lake, key, verbose)
        except SourceBusy as exc:
            console.print(f"[red]busy[/] {exc}")
            raise typer.Exit(code=3) from None


def _report(results: list[dict[str, Any]], lake: LocalLake) -> None:
    table = Table(title="ingest summary", title_justify="left")
    columns = (
        "file",
        "status",
        "rows read",
        "written",
        "rejected",
        "duplicates",
        "quarantined",
        "in → out",
        "time",
    )
    for column in columns:
        table.add_column(
            column,
            justify="left" if column in ("file", "status") else "right",
            overflow="fold",
        )
    for r in results:
        rows = r.get("rows") or {}
        size = r.get("bytes") or {}
        status = {
            "curated": "[green]curated",
            "quarantined": "[red]quarantined",
            "duplicate": "[yellow]duplicate",
            "skipped": f"[dim]skipped ({r.get('code')})",
        }.get(r["status"], r["status"])
        ratio = (
            f"{_size(size.get('in'))} → {_size(size.get('out'))}"
            if size.get("out")
            else _size(size.get("in"))
        )
        table.add_row(
            r["key"],
            status,
            f"{rows.get('read', 0):,}" if rows else "-",
            f"{rows.get('written', 0):,}" if rows else "-",
            f"{rows.get('rejected', 0):,}" if rows else "-",
            f"{rows.get('duplicates', 0):,}" if rows else "-",
            f"{rows.get('quarantined', 0):,}" if rows else "-",
            ratio,
            f"{(r.get('timings_s') or {}).get('total', 0):.1f} s",
        )
    console.print(table)
    for r in results:
        held = (r.get("rows") or {}).get("quarantined")
        if r["status"] == "quarantined" and held:
            console.print(
                f"[red]quarantined[/] {r['key']}: {r['reason']}; none of its rows were "
                f"written ({held:,} good ones stay in the quarantined copy)"
            )
        elif r["status"] == "quarantined":
            console.print(f"[red]quarantined[/] {r['key']}: {r['reason']}")
        elif r["status"] == "duplicate":
            console.print(f"[yellow]duplicate[/] {r['key']}: {r['reason']}; nothing written")
        elif (r.get("rows") or {}).get("duplicates"):
            console.print(
                f"[yellow]{r['rows']['duplicates']:,} rows[/] of {r['key']} were already "
                "curated (same transaction_id): not written again"
            )
    for r in results:
        rejects = (r.get("quarantine") or {}).get("rejected_rows")
        if rejects:
            from ingest.transform import REJECTED_ROWS_CAP  # noqa: PLC0415

            rejected = int((r.get("rows") or {}).get("rejected") or 0)
            which = f"the first {REJECTED_ROWS_CAP:,} of " if rejected > REJECTED_ROWS_CAP else ""
            console.print(
                f"rejected rows of {r['key']} ({which}{rejected:,}, each with its line and "
                f"why): [bold]{lake.quarantine / rejects}[/]",
                soft_wrap=True,
            )
    console.print(f"curated Parquet: [bold]{lake.curated}[/]")
    console.print(f"manifests:       [bold]{lake.curated / '_manifests'}[/]")
    if any(r["status"] == "quarantined" or r.get("quarantine") for r in results):
        console.print(f"quarantine:      [bold]{lake.quarantine}[/]")


def _drop_files(files: list[Path], dataset: str, verbose: bool) -> list[dict[str, Any]]:
    lake = LocalLake.from_env()
    lake.ensure()
    results = []
    for file in files:
        key = landing_key(file, dataset)
        with Progress(
            TextColumn("landing [bold]{task.fields[name]}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("copy", total=file.stat().st_size, name=key)
            put_in_landing(lake, file, key, partial(progress.advance, task))
        results.append(_ingest_with_spinner(lake, key, verbose))
    _report(results, lake)
    return results


@app.command()
def drop(
    files: Annotated[
        list[Path],
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="CSV files (.csv, .tsv, optionally .gz) to land under <dataset>/ and ingest",
        ),
    ],
    dataset: Annotated[str, typer.Option(help="dataset folder in landing")] = "transactions",
    verbose: Annotated[bool, typer.Option(help="show the handler's log lines")] = False,
) -> None:
    """Put files into the local landing zone and ingest them exactly as the Lambda would."""
    results = _drop_files(files, dataset, verbose)
    if any(r["status"] == "quarantined" for r in results):
        raise typer.Exit(code=2)


@app.command()
def watch(
    interval: Annotated[float, typer.Option(help="seconds between looks")] = 1.0,
    once: Annotated[bool, typer.Option(help="process what is there, then stop")] = False,
    verbose: Annotated[bool, typer.Option(help="show the handler's log lines")] = False,
    settle: Annotated[
        float,
        typer.Option(help="a file is ingested once its size and mtime stay the same this long"),
    ] = 2.0,
) -> None:
    """Ingest every file that appears (or changes) in the local landing folder, once it has
    stopped changing (a copy still being written, even one that pauses, waits)."""
    lake = LocalLake.from_env()
    lake.ensure()
    if once:
        console.print(f"ingesting what waits in [bold]{lake.landing}[/]")
    else:
        console.print(f"watching [bold]{lake.landing}[/] (Ctrl-C to stop)")
    # key → (size, mtime) last seen, and since when it has been so
    seen: dict[str, tuple[tuple[int, int], float]] = {}
    try:
        while True:
            ready = []
            now = time.monotonic()
            for key in pending_keys(lake):
                try:
                    stat = (lake.landing / key).stat()
                except FileNotFoundError:  # removed since the listing
                    continue
                state = (stat.st_size, stat.st_mtime_ns)
                last = seen.get(key)
                if last is None or last[0] != state:
                    seen[key] = (state, now)  # new or still changing: look again later
                if once or (last is not None and last[0] == state and now - last[1] >= settle):
                    ready.append(key)
                    seen.pop(key, None)
            if ready:
                _report([_ingest_with_spinner(lake, key, verbose) for key in ready], lake)
            if once:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        console.print("stopped")


@app.command()
def demo(
    rows: Annotated[int, typer.Option(help="rows in the main sample file")] = 200_000,
    verbose: Annotated[bool, typer.Option(help="show the handler's log lines")] = False,
    ingest_only: Annotated[
        bool, typer.Option(help="stop after the ingest (no features, no training)")
    ] = False,
) -> None:
    """The whole pipeline on the local lake: generate sample files (UTF-8; a CP949 Excel
    export with Korean headers, gzipped; a broken one), ingest them, compute the customer
    features (Spark), train and score the churn model; then `lakedrop report` shows it."""
    lake = LocalLake.from_env()
    lake.samples.mkdir(parents=True, exist_ok=True)
    files = [
        _generate(lake.samples / "transactions-sample.csv", GenerateSpec(rows=rows)),
        _generate(
            lake.samples / "거래내역-엑셀.csv.gz",
            GenerateSpec(
                rows=max(rows // 20, 1000),
                seed=7,
                encoding="cp949",
                korean_headers=True,
                gzip=True,
                messy=True,
            ),
        ),
    ]
    broken = lake.samples / "broken-export.csv"
    broken.write_text("this is,not the header\nof a transactions file,at all\n", encoding="utf-8")
    files.append(broken)
    _drop_files(files, "transactions", verbose)
    console.print(
        "\nthe broken file was quarantined on purpose: see its .error.json. "
        "Drop your own CSV with `lakedrop drop FILE`, or let `lakedrop watch` pick files up."
    )
    if ingest_only:
        return
    _downstream()


def _downstream() -> None:
    """The steps after the ingest: ``lakedrop.pipeline.STEPS`` (the state machine's states), in
    that order, each run by its local function in ``LOCAL_STEPS`` with its defaults. A step that
    fails ends the run (``typer.Exit``), so the run's model, metrics and predictions become
    current (Publish: ``models/_LATEST.json`` moves) only after every step before it succeeded.
    """
    done: dict[str, Any] = {}
    for step in STEPS:
        console.rule(step.lower())
        done[step] = LOCAL_STEPS[step](done)
    console.print(
        "\nthe report: [bold]lakedrop report[/] (or `make report`) → http://127.0.0.1:8501/"
    )


@app.command()
def run() -> None:
    """Run the pipeline once on the local lake: ingest what waits in landing, then features and
    training (what the scheduled steps do on AWS)."""
    if not pending_keys(LocalLake.from_env()):
        console.print("nothing new in landing: features and training run on what is curated")
    watch(once=True)
    _downstream()


JAVA_NEEDED = (
    "[red]Java 17 is needed[/] for the features job (Spark) and was not found (JAVA_HOME or "
    "`java` on PATH): install it, e.g. `sudo apt-get install openjdk-17-jre-headless` or "
    "`brew install openjdk@17`, then run again"
)


def _java() -> str | None:
    """The java Spark's launcher would start: $JAVA_HOME/bin/java when JAVA_HOME is set,
    else `java` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        return str(java) if os.access(java, os.X_OK) else None
    return shutil.which("java")


@app.command()
def features(
    horizon_days: Annotated[int, typer.Option(help="churned = no purchase within this")] = 90,
    timezone: Annotated[str, typer.Option(help="whose calendar days count")] = "Asia/Seoul",
    as_of: Annotated[
        str | None, typer.Option(help="last day to use, YYYY-MM-DD (default: all data)")
    ] = None,
    driver_memory: Annotated[str, typer.Option(help="Spark driver memory")] = "4g",
) -> None:
    """Compute the customer features (train + score snapshots) from the local curated zone,
    with the same Spark job Glue and EMR Serverless run."""
    from pyspark.errors import PySparkRuntimeError  # noqa: PLC0415

    from glue_jobs.features import job, layout  # noqa: PLC0415 (pyspark: only for this command)
    from glue_jobs.features.settings import FeaturesArgs, new_run_id  # noqa: PLC0415

    if _java() is None:
        console.print(JAVA_NEEDED, soft_wrap=True)
        raise typer.Exit(code=1)
    lake = LocalLake.from_env()
    lake.ensure()
    if not any((lake.curated / layout.CURATED_DATASET).glob("*=*/*.parquet")):
        console.print(
            f"[red]nothing curated yet[/] in {lake.curated / layout.CURATED_DATASET}: "
            "drop a transactions file first (`lakedrop drop FILE` or `lakedrop demo`)"
        )
        raise typer.Exit(code=1)
    try:
        args = FeaturesArgs(
            curated_uri=str(lake.curated),
            analytics_uri=str(lake.analytics),
            run_id=new_run_id(),
            horizon_days=horizon_days,
            timezone=timezone,
            as_of=dt.date.fromisoformat(as_of) if as_of else None,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    with console.status("computing features with Spark (local)…"):
        try:
            spark = job.start_spark(job.APP_NAME, "local[*]", driver_memory=driver_memory)
        except PySparkRuntimeError as error:  # Java there, but the JVM did not start
            if error.getErrorClass() != "JAVA_GATEWAY_EXITED":
                raise
            console.print(JAVA_NEEDED, soft_wrap=True)
            raise typer.Exit(code=1) from None
        spark.sparkContext.setLogLevel("ERROR")
        try:
            report = job.run(spark, args)
        except (job.NoTransactionsError, job.NotEnoughHistoryError) as error:
            console.print(f"[red]no features computed[/]: {error}")
            raise typer.Exit(code=1) from error
    train, score = report["snapshots"]["train"], report["snapshots"]["score"]
    table = Table(title="features run " + report["run_id"], title_justify="left")
    for column in ("snapshot", "cutoff", "customers", "churn rate", "path"):
        table.add_column(column, justify="left" if column != "customers" else "right")
    table.add_row(
        "train",
        ", ".join(c["cutoff"] for c in train.get("cutoffs", [])) or train["cutoff"],
        f"{train['rows']:,}",
        f"{train['positive_rate']:.1%}",
        train["path"],
    )
    table.add_row("score", score["cutoff"], f"{score['rows']:,}", "-", score["path"])
    console.print(table)
    source = report["input"]
    console.print(
        f"{source['rows']:,} curated rows ({source['purchase_rows']:,} purchases, "
        f"{source['refund_rows']:,} refunds, {source['zero_amount_rows']:,} zero amounts), "
        f"{source['customers']:,} customers, {source['first_day']} – {source['last_day']}; "
        f"{report['duration_s']:.1f} s"
    )
    console.print(f"run report: [bold]{lake.analytics / layout.report_key(report['run_id'])}[/]")


@app.command()
def train(
    seed: Annotated[int, typer.Option(help="random seed (same seed, same model and metrics)")] = 42,
    n_jobs: Annotated[int, typer.Option(help="cores for the forest; -1: all")] = -1,
    n_estimators: Annotated[int, typer.Option(help="trees in the forest")] = 300,
    run_id: Annotated[str | None, typer.Option(help="default: UTC time + random")] = None,
) -> None:
    """Train, validate (out of time) and score the churn model on the local features, with
    the SageMaker script (training/train.py) run as a container would run it; publish model,
    metrics and predictions to the analytics zone."""
    _publish_step(
        _training_step(seed=seed, n_jobs=n_jobs, n_estimators=n_estimators, run_id=run_id)
    )


def _training_step(
    *, seed: int = 42, n_jobs: int = -1, n_estimators: int = 300, run_id: str | None = None
) -> TrainedRun:
    """The Training step: train.py's outputs in the lake's work folder, nothing published."""
    from lakedrop import training  # noqa: PLC0415 (only training needs it)

    lake = LocalLake.from_env()
    lake.ensure()
    try:
        label = "training the churn model (training/train.py, local)"
        with console.status(f"{label}…") as status:
            return training.train_local(
                lake,
                run_id=run_id,
                seed=seed,
                n_jobs=n_jobs,
                extra={"n-estimators": n_estimators},
                progress=lambda step: status.update(f"{label}: {step}…"),
            )
    except training.NoFeaturesError as error:
        console.print(f"[red]no features yet[/]: {error}")
        raise typer.Exit(code=1) from error
    except (training.TrainingError, ValueError) as error:
        console.print(f"[red]training failed[/]: {error}")
        raise typer.Exit(code=1) from error


def _publish_step(trained: TrainedRun) -> None:
    """The Publish step: the run's outputs to the analytics zone, ``models/_LATEST.json`` last."""
    from lakedrop import training  # noqa: PLC0415

    lake = LocalLake.from_env()
    try:
        result = training.publish_local(lake, trained)
    except (training.TrainingError, OSError, ValueError) as error:
        console.print(f"[red]publish failed[/] (the previous model stays current): {error}")
        raise typer.Exit(code=1) from error
    metrics, summary = result["metrics"], result["summary"]
    cutoffs = metrics["cutoffs"]
    table = Table(
        title=f"churn model {metrics['run_id']}: fitted on {', '.join(cutoffs['train'])}, "
        f"validated on {cutoffs['validation']} ({metrics['data']['n_validation']:,} customers)",
        title_justify="left",
    )
    for column in ("", "ROC AUC", "PR AUC", "Brier", "threshold", "precision", "recall"):
        table.add_column(column, justify="left" if not column else "right")
    for name in ("model", "baseline"):
        m = metrics[name]
        table.add_row(
            f"{name} ({m['name']})",
            f"{m['roc_auc']:.3f}",
            f"{m['pr_auc']:.3f}",
            f"{m['brier']:.3f}",
            f"{m['threshold']:.3f}",
            f"{m['precision']:.1%}",
            f"{m['recall']:.1%}",
        )
    console.print(table)
    high = summary["by_band"]["high"]
    console.print(
        f"scored {summary['customers']:,} customers at {summary['score_cutoff']}: "
        f"[bold]{high['customers']:,} at high risk[/] (p ≥ {metrics['threshold']:.3f}), "
        f"{high['revenue_365d']:,.0f} of {summary['revenue_365d']:,.0f} revenue in the last 365 "
        f"days; fit {metrics['fit_seconds']:.1f} s"
    )
    pointer = result["pointer"]
    console.print(f"metrics:     [bold]{lake.analytics / pointer['metrics']}[/]")
    console.print(f"predictions: [bold]{lake.analytics / pointer['predictions']}[/]")
    console.print(f"model:       [bold]{lake.analytics / pointer['model']}[/]")


# What `lakedrop run` runs for each of the pipeline's steps (lakedrop.pipeline.STEPS, the state
# machine's states): the same order, one local function each; a test checks none is missing.
LOCAL_STEPS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "Features": lambda done: features(),
    "Training": lambda done: _training_step(),
    "Publish": lambda done: _publish_step(done["Training"]),
}


def _report_command(port: int) -> list[str]:
    # `streamlit run frontend/app.py` with the pages' libraries imported before the server
    # listens (frontend/serve.py): the first visitor does not wait for them. Always headless:
    # otherwise Streamlit's first run asks for an e-mail address on the terminal (and exits
    # 255 when there is none); `lakedrop report` opens the browser itself.
    return [
        sys.executable, "-m", "frontend.serve",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",
    ]  # fmt: skip


# How long the report may take to answer its health check before we say so (it keeps starting)
REPORT_READY_SECONDS = 60.0


def _ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait until the server answers its health check; False if it exited or took too long."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "_stcore/health", timeout=2) as response:  # noqa: S310 (our own http://127.0.0.1 URL)
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _death_signal() -> Callable[[], None] | None:
    """For the child, before it runs: on Linux, have it SIGTERMed when this process dies, even
    by SIGKILL (the OOM killer, ``kill -9``), which no handler here can forward. The C
    library is looked up here, in the parent: the child only makes the call."""
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def set_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_death_signal


def _serve(
    command: list[str], env: dict[str, str], cwd: Path, url: str, *, open_browser: bool
) -> int:
    """Run the Streamlit server as a child, say when it answers, stop it with us.

    SIGTERM and SIGHUP sent to ``lakedrop report`` (``kill PID``, a closed terminal, a service
    manager) are forwarded to the server, and the server is stopped whatever way this process
    leaves (on Linux even when it is killed with SIGKILL: ``_death_signal``): a later start
    finds the port free. Ctrl-C reaches both (one process group).
    """
    # (preexec_fn: this command starts no threads before it; the function only calls prctl)
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        command,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        preexec_fn=_death_signal(),  # noqa: PLW1509
    )

    def forward(signum: int, _frame: object) -> None:
        if process.poll() is None:
            process.send_signal(signum)

    forwarded = (signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, forward) for s in forwarded}
    try:
        if _ready(url, process, REPORT_READY_SECONDS):
            console.print(f"report on [bold]{url}[/] (Ctrl-C to stop)")
            if open_browser and sys.stdout.isatty():
                webbrowser.open(url)
        elif process.poll() is None:
            console.print(f"[yellow]the report does not answer on {url} yet[/]; still waiting")
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        return process.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@app.command()
def report(
    port: Annotated[int, typer.Option(help="port to serve on (127.0.0.1 only)")] = 8501,
    headless: Annotated[
        bool, typer.Option(help="do not open a browser (servers, CI, remote shells)")
    ] = False,
) -> None:
    """Serve the stakeholders' report (Streamlit) on the local lake: churn risk, model quality
    and pipeline health, read from the analytics zone and the ingest manifests."""
    lake = LocalLake.from_env()
    produced = {
        "ingest manifests": any((lake.curated / "_manifests").glob("*/*.json")),
        "features": (lake.analytics / "features" / "_runs").is_dir(),
        "a trained model": (lake.analytics / "models" / "_LATEST.json").is_file(),
    }
    missing = [name for name, there in produced.items() if not there]
    if len(missing) == len(produced):
        console.print(
            f"[yellow]nothing has been produced yet[/] in {lake.root}: the report will show "
            "empty pages. Fill the lake with `lakedrop demo`, `lakedrop features`, "
            "`lakedrop train`."
        )
    elif missing:
        console.print(f"[yellow]not produced yet[/]: {', '.join(missing)} (those pages stay empty)")
    url = f"http://127.0.0.1:{port}/"
    console.print(f"starting the report on {url}, lake {lake.root}")
    environment = {**os.environ, **lake.report_environment()}
    command = _report_command(port)
    # Streamlit reads .streamlit/config.toml (theme, toolbar) from its working directory: the
    # project's root, where frontend/ is; the lake's URIs above are absolute.
    project = Path(__file__).resolve().parent.parent
    returncode = _serve(command, environment, project, url, open_browser=not headless)
    if returncode not in (0, -2, -15, 130, 143):  # stopped with Ctrl-C or a forwarded SIGTERM
        raise typer.Exit(code=returncode)


if __name__ == "__main__":  # pragma: no cover
    app()
