"""``ttsearch submit / jobs / logs / stop``: run a search as a Ray job on an existing cluster.

Thin click wrappers over ``cluster.jobs``; importing this module registers the commands on
``ttsearch.app.app``. Every command takes ``--address`` (the dashboard URL, or the
``RAY_API_SERVER_ADDRESS`` variable, as Ray's own ``ray job`` CLI) and ``--token-file``
(see ``cluster.auth`` for where else the token is looked for).
"""
from __future__ import annotations

import sys

import click

from cluster import jobs
from ttsearch.app import app

ADDRESS_ENV_VAR = "RAY_API_SERVER_ADDRESS"

address_option = click.option(
    "--address", envvar=ADDRESS_ENV_VAR, required=True, metavar="URL",
    help=f"Ray dashboard URL of the cluster, e.g. http://HEAD:8265 (env {ADDRESS_ENV_VAR}).")
token_option = click.option(
    "--token-file", type=click.Path(dir_okay=False), default=None,
    help="File with the cluster's auth token. Otherwise RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, "
         "then ~/.ray/auth_token are tried.")


def _follow(client: object, job_id: str) -> str:
    """Print the job's log as it comes; return its final status."""
    for chunk in jobs.iter_log_chunks(client, job_id):
        click.echo(chunk, nl=False)
    return jobs.wait_for_terminal_status(client, job_id)


@app.command("submit")
@click.argument("space", type=click.Path(dir_okay=False))
@address_option
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a space field (repeatable), passed on to `ttsearch run`.")
@click.option("--storage", default=None, metavar="PATH_OR_URI",
              help="Experiment storage: an absolute path every node sees, or s3:// / gs:// URI.")
@click.option("--name", default=None, help="Experiment name (folder under the storage path).")
@click.option("--resume", is_flag=True, help="Resume the experiment NAME instead of starting anew.")
@click.option("--working-dir", default=None, type=click.Path(file_okay=False),
              help="Upload this project checkout and run its code (the space must be inside it). "
                   "Default: upload only the space file and run the ttsearch installed on the cluster.")
@click.option("--pip", "pip_packages", multiple=True, metavar="REQ",
              help="Extra pip requirement installed for the job (repeatable), e.g. a ttsearch wheel.")
@click.option("--env", "env_pairs", multiple=True, metavar="KEY=VALUE",
              help="Environment variable for the job (repeatable), e.g. TTSEARCH_DATA_DIR=/shared/glue.")
@click.option("--wait", is_flag=True, help="Follow the job's log to its end; exit 1 unless it succeeded.")
@token_option
def submit_command(space: str, address: str, overrides: tuple[str, ...], storage: str | None,
                   name: str | None, resume: bool, working_dir: str | None,
                   pip_packages: tuple[str, ...], env_pairs: tuple[str, ...], wait: bool,
                   token_file: str | None) -> None:
    """Submit the search in SPACE as a Ray job; prints the job id.

    The job runs `ttsearch run SPACE --address auto ...` on the cluster's head node. Paths in the
    space (data, models) are read there; the storage must be an absolute shared path or a URI.
    """
    from search.space.schema import resolve_space_file

    text, storage_path = resolve_space_file(space, overrides, storage=storage, name=name)  # exit 2 on bad input
    request = jobs.build_job_request(space, overrides, storage=storage, name=name, resume=resume,
                                     working_dir=working_dir, pip=pip_packages,
                                     env_vars=jobs.parse_env_pairs(env_pairs),
                                     resolved=jobs.ResolvedSpaceFile(text, storage_path))
    try:
        client = jobs.connect(address, token_file)
        job_id = jobs.submit(client, request)
    finally:
        request.cleanup()
    click.echo(job_id)
    if not wait:
        click.echo(f"follow it with: ttsearch logs {job_id} --follow --address {address}", err=True)
        return
    try:
        status = _follow(client, job_id)
    except KeyboardInterrupt:
        click.echo(f"\nstopped following; the job keeps running (ttsearch stop {job_id})", err=True)
        sys.exit(130)
    click.echo(f"job {job_id} {status}", err=True)
    if status != "SUCCEEDED":
        sys.exit(1)


@app.command("jobs")
@address_option
@click.option("--all", "show_all", is_flag=True, help="Also list jobs not made by `ttsearch submit`.")
@token_option
def jobs_command(address: str, show_all: bool, token_file: str | None) -> None:
    """List the cluster's jobs, newest first."""
    client = jobs.connect(address, token_file)
    rows = jobs.list_jobs(client, only_ttsearch=not show_all)
    if not rows:
        click.echo("no jobs" if show_all else "no ttsearch jobs (--all lists every job)")
        return
    widths = (max(len(r.submission_id) for r in rows), 9, 19, max(4, *(len(r.name) for r in rows)))
    header = ("SUBMISSION ID", "STATUS", "STARTED", "NAME")
    click.echo("  ".join(h.ljust(w) for h, w in zip(header, widths)) + "  ENTRYPOINT")
    for r in rows:
        cells = (r.submission_id, r.status, r.start_time, r.name)
        click.echo("  ".join(c.ljust(w) for c, w in zip(cells, widths)) + "  " + r.entrypoint)


@app.command("logs")
@click.argument("job_id")
@address_option
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the job ends.")
@token_option
def logs_command(job_id: str, address: str, follow: bool, token_file: str | None) -> None:
    """Print the log of job JOB_ID."""
    client = jobs.connect(address, token_file)
    if not follow:
        click.echo(jobs.logs(client, job_id), nl=False)
        return
    try:
        status = _follow(client, job_id)
    except KeyboardInterrupt:
        sys.exit(130)
    click.echo(f"job {job_id} {status}", err=True)


@app.command("stop")
@click.argument("job_id")
@address_option
@click.option("--no-wait", is_flag=True, help="Return at once instead of waiting for the job to end.")
@token_option
def stop_command(job_id: str, address: str, no_wait: bool, token_file: str | None) -> None:
    """Stop job JOB_ID. The experiment can be continued later with `ttsearch run SPACE --resume`."""
    client = jobs.connect(address, token_file)
    was_running = jobs.stop(client, job_id)
    if not was_running:
        click.echo(f"job {job_id} was not running ({jobs.job_status(client, job_id)})")
        return
    if no_wait:
        click.echo(f"stop requested for job {job_id}")
        return
    try:
        status = jobs.wait_for_terminal_status(client, job_id, timeout_s=120)
    except TimeoutError as exc:
        click.echo(f"{exc}; check again with `ttsearch jobs`", err=True)
        sys.exit(1)
    click.echo(f"job {job_id} {status}")
